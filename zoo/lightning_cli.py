"""The LightningCLI behind ``zoo fit|validate|test``; imported only when one of them runs, so that
``zoo --help`` and the tools start without loading Lightning."""

from __future__ import annotations

from typing import Any

import yaml
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from zoo.callbacks import RunSummary, SampleGrid
from zoo.callbacks.checkpoint import AtomicCheckpointIO, ZooCheckpoint
from zoo.callbacks.interrupts import GracefulStop
from zoo.callbacks.wandb_run import WandbRun, drop_anonymous_setting, label_wandb_loggers, log_full_config
from zoo.core.strategy import gan_strategy
from zoo.errors import ZooConfigError
from zoo.run_folder import give_unversioned_logger_its_own_folder


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
        label_wandb_loggers(trainer.get("logger"), config)

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
        if not any(isinstance(c, WandbRun) for c in callbacks):
            callbacks.append(WandbRun())
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(RichProgressBar())
        kwargs["callbacks"] = callbacks
        if not config.get("plugins"):
            kwargs["plugins"] = [AtomicCheckpointIO()]
        trainer = super().instantiate_trainer(**kwargs)
        drop_anonymous_setting(trainer)  # Lightning starts the W&B run before any callback hook
        return trainer


class ZooSaveConfig(SaveConfigCallback):
    """Lightning's config saver, refusing a run folder that holds another run's config in one line,
    and handing the full resolved config to W&B (Lightning alone sends only the model's hparams)."""

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

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        log_full_config(trainer, lambda: yaml.safe_load(self.parser.dump(self.config, skip_none=False)))
