"""The ``zoo`` command.

``zoo fit|validate|test --config configs/<paper>/<dataset>.yaml`` trains and evaluates through
LightningCLI (:mod:`zoo.lightning_cli`), with the model and data chosen by class path. The other
subcommands are tools: ``zoo eval``, ``zoo reproduce``, ``zoo latent``, ``zoo train-classifier``,
``zoo compare`` and ``zoo lapgan``. This module imports neither torch nor Lightning, so ``zoo --help`` answers at once.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from argparse import ArgumentError
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooConfigError, ZooError

if TYPE_CHECKING:  # torch-free at import time: `zoo --help` stays fast
    from zoo.lightning_cli import ZooCLI

TOOLS = {
    "eval": "zoo.eval.command",
    "reproduce": "zoo.reproduce.command",
    "latent": "zoo.latent.command",
    "train-classifier": "zoo.eval.classifier_command",
    "compare": "zoo.compare.command",
    "lapgan": "zoo.lapgan_command",
    "unroll-probe": "zoo.eval.unroll_probe",
    "game-probe": "zoo.eval.game_probe",
    "runs": "zoo.reproduce.transfer",
}
TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": "runs",
    "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "zoo"}},
}
_LAZY = {
    "ZooCLI": "zoo.lightning_cli",
    "ZooSaveConfig": "zoo.lightning_cli",
    "RUN_FOLDER_ENV": "zoo.run_folder",
    "give_unversioned_logger_its_own_folder": "zoo.run_folder",
}


def __getattr__(name: str) -> Any:
    """``from zoo.cli import ZooCLI`` (and the names that used to live here) still works; Lightning
    loads only when it is asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_NOISE = ("Parser key", "Does not validate", "Subtypes:", "Errors:", "Given value", "Expected a <class 'NoneType'>")


def _one_line(error: BaseException) -> str:
    """Reduce jsonargparse's multi-line parse errors to the key and the first real complaint."""
    text = str(error)
    key = re.search(r'Parser key "([^"]+)"', text)
    lines = [line.strip().lstrip("- ").strip() for line in text.splitlines()]
    details = [line for line in lines if line and not line.startswith(_NOISE)]
    message = " ".join(details[:2]) if details else (lines[0] if lines else type(error).__name__)
    return f"{key.group(1)}: {message}" if key else message


def _zoo_error_in_chain(error: BaseException | None) -> ZooError | None:
    """The ZooError that caused ``error``, if any (jsonargparse wraps errors raised in __init__)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ZooError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def run_lightning_cli(args: list[str] | None, extra_callbacks: list[Any] | None = None) -> ZooCLI:
    """Build and run the LightningCLI on ``args`` (with ``extra_callbacks`` added to the Trainer's);
    parse and config errors raise :class:`ZooError`."""
    from zoo.quiet import quiet_lightning

    quiet_lightning()
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.lightning_cli import ZooCLI, ZooSaveConfig

    try:
        return ZooCLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults=TRAINER_DEFAULTS,
            seed_everything_default=0,
            auto_configure_optimizers=False,
            parser_kwargs={"exit_on_error": False},
            save_config_callback=ZooSaveConfig,
            args=args,
            extra_callbacks=extra_callbacks,
        )
    except Exception as error:
        cause = _zoo_error_in_chain(error)
        if cause is not None:
            raise cause from None
        if isinstance(error, ArgumentError):
            raise ZooConfigError(f"bad configuration: {_one_line(error)}") from None
        raise


OVERVIEW = """usage: zoo <command> [options]

training (LightningCLI; `zoo fit --help` for every option):
  fit, validate, test       --config configs/<paper>/<dataset>.yaml [--ckpt_path last.ckpt]
                            add --config configs/loggers/wandb.yaml to log to W&B
tools:
  eval                      score a checkpoint: --ckpt PATH --metrics parzen,fid,is,kid,modes,dfeat-svm
  reproduce                 reproduce a paper table (`zoo reproduce --help` lists them all): gan2014-table1,
                            fgan-table4, improved-gan-mnist, unrolled-mixtures, lapgan-mnist, … [--resume --max-time]
  runs                      carry runs between run stores (a device and a CPU): pack FOLDER… --out DIR, unpack ARCHIVE…
  latent                    latent walks, arithmetic and inversion: walk, sheet, arithmetic, invert
  train-classifier          train and cache the MNIST domain classifier
  compare                   runs or reproduced tables side by side: RUN_DIR… [--metric eval/parzen] | --results results/*.json
  unroll-probe              G's gradient with D unrolled K steps against K = 0, at a checkpoint: --ckpt PATH…
  game-probe                D's outputs, both players' losses and gradient norms, G's spread and saturation: --ckpt PATH…
  lapgan                    join LAPGAN level runs into one model, draw its chains: assemble LEVEL_CKPT… --out, chain --ckpt
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(OVERVIEW)
        return 0
    from zoo.quiet import quiet_lightning

    quiet_lightning()
    try:
        if args and args[0] in TOOLS:
            return int(importlib.import_module(TOOLS[args[0]]).main(args[1:]) or 0)
        run_lightning_cli(None if argv is None else args)
    except ZooError as error:
        print(f"zoo: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
