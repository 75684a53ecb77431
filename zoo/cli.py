"""The ``zoo`` command.

``zoo fit|validate|test --config configs/<paper>/<dataset>.yaml`` trains and evaluates through
LightningCLI, with the model and data chosen by class path. The other subcommands are tools:
``zoo eval``, ``zoo reproduce``, ``zoo latent`` and ``zoo train-classifier``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from argparse import ArgumentError
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import ProgressBar, RichProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from zoo.callbacks import RunSummary, SampleGrid
from zoo.callbacks.checkpoint import AtomicCheckpointIO, ZooCheckpoint
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
        parser.add_lightning_class_args(ZooCheckpoint, "checkpoint")
        parser.add_lightning_class_args(RunSummary, "summary")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.filename": "{epoch:03d}-{step:07d}"})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config["trainer"]
        trainer["strategy"] = gan_strategy(
            trainer.get("strategy", "auto"), trainer.get("devices", "auto"), trainer.get("num_nodes", 1), trainer.get("accelerator", "auto")
        )
        give_unversioned_logger_its_own_folder(trainer.get("logger"))

    def _parse_ckpt_path(self) -> None:
        """Check a resume checkpoint before anything is built, and let the config's values win.

        Lightning would overwrite the config's model options with the checkpoint's, silently
        dropping ``--model.init_args.g_lr 0.01`` on resume. Instead the model is built from the
        config and :mod:`zoo.core.resume` applies or refuses each difference, saying which.
        """
        if not self.config.get("subcommand"):
            return
        config = self.config[self.config.subcommand]
        if config.get("ckpt_path"):
            from zoo.checkpoints import check_resume_checkpoint

            check_resume_checkpoint(str(config["ckpt_path"]), (config.get("model") or {}).get("class_path"))

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Show a rich progress bar unless the config turns bars off or brings its own."""
        config = self._get(self.config_init, "trainer", default={})
        callbacks = list(config.get("callbacks") or []) + self.extra_callbacks
        if not any(isinstance(c, GracefulStop) for c in callbacks):
            callbacks.append(GracefulStop())
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(RichProgressBar())
        kwargs["callbacks"] = callbacks
        if not config.get("plugins"):
            kwargs["plugins"] = [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)


class ZooSaveConfig(SaveConfigCallback):
    """Lightning's config saver, refusing a run folder that holds another run's config in one line."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        try:
            super().setup(trainer, pl_module, stage)
        except RuntimeError as error:
            if "to NOT exist" not in str(error):
                raise
            raise ZooConfigError(
                f"run folder {trainer.log_dir} already holds another run's config.yaml: nothing was written; "
                f"give this run its own folder (another logger save_dir, name or version)"
            ) from None


RUN_FOLDER_ENV = "ZOO_RUN_FOLDER"


def give_unversioned_logger_its_own_folder(logger: Any) -> None:
    """Point a logger that has no version folders (W&B) at a new ``<save_dir>/<project>/version_N``.

    Without this every W&B run shares ``save_dir``: the second run's config.yaml collides with the
    first's, and samples of all runs mix. DDP child processes re-run this; they inherit the folder
    the launching process chose through the environment, so all ranks agree.
    """
    if not isinstance(logger, dict) and not hasattr(logger, "get"):
        return
    if not str(logger.get("class_path", "")).endswith("WandbLogger"):
        return
    init_args = logger.get("init_args") or {}
    folder = os.environ.get(RUN_FOLDER_ENV)
    if folder is None:
        parent = Path(init_args.get("save_dir") or ".") / str(init_args.get("project") or "lightning_logs")
        parent.mkdir(parents=True, exist_ok=True)
        version = len(list(parent.glob("version_*")))
        while True:
            try:
                (parent / f"version_{version}").mkdir()
                break
            except FileExistsError:  # another run took it a moment ago
                version += 1
        folder = str(parent / f"version_{version}")
        os.environ[RUN_FOLDER_ENV] = folder
    init_args["save_dir"] = folder
    logger["init_args"] = init_args


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
