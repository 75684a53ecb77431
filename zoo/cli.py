"""The ``zoo`` command.

``zoo fit|validate|test --config configs/<paper>/<dataset>.yaml`` trains and evaluates through
LightningCLI, with the model and data chosen by class path. The other subcommands are tools:
``zoo eval``, ``zoo reproduce``, ``zoo latent`` and ``zoo train-classifier``.
"""

from __future__ import annotations

import importlib
from argparse import ArgumentError
import os
import re
import sys
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar, RichProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from zoo.callbacks import RunSummary, SampleGrid
from zoo.callbacks.interrupts import GracefulStop
from zoo.core.strategy import gan_strategy
from zoo.errors import ZooConfigError, ZooError

TOOLS = {
    "eval": "zoo.eval.command",
    "reproduce": "zoo.reproduce.command",
    "latent": "zoo.latent.command",
    "train-classifier": "zoo.eval.classifier_command",
    "compare": "zoo.compare.command",
}
TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": "runs",
    "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "zoo"}},
}


class ZooCLI(LightningCLI):
    """LightningCLI with the zoo's callbacks always on and a DDP setup that suits two players."""

    def __init__(self, *args: Any, extra_callbacks: list[Any] | None = None, **kwargs: Any) -> None:
        self.extra_callbacks = list(extra_callbacks or [])
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(SampleGrid, "samples")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(RunSummary, "summary")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.filename": "{epoch:03d}-{step:07d}"})

    def before_instantiate_classes(self) -> None:
        trainer = self.config[self.subcommand]["trainer"] if self.subcommand else self.config["trainer"]
        trainer["strategy"] = gan_strategy(
            trainer.get("strategy", "auto"), trainer.get("devices", "auto"), trainer.get("num_nodes", 1), trainer.get("accelerator", "auto")
        )

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Show a rich progress bar unless the config turns bars off or brings its own."""
        config = self._get(self.config_init, "trainer", default={})
        callbacks = list(config.get("callbacks") or []) + self.extra_callbacks
        if not any(isinstance(c, GracefulStop) for c in callbacks):
            callbacks.append(GracefulStop())
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(RichProgressBar())
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)


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
    from pytorch_lightning import LightningDataModule, LightningModule

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
tools:
  eval                      score a checkpoint: --ckpt PATH --metrics parzen,fid,is,kid,modes,dfeat-svm
  reproduce                 reproduce a paper table: gan2014-table1, fgan-table4, fgan-table3, kde-real
  latent                    latent walks and arithmetic: walk, sheet, arithmetic
  train-classifier          train and cache the MNIST domain classifier
  compare                   runs or reproduced tables side by side: RUN_DIR… [--metric eval/parzen] | --results results/*.json
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(OVERVIEW)
        return 0
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
