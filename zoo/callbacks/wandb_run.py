"""W&B runs that the W&B UI can compare like for like.

* Tags ``paper:<p>``, ``dataset:<d>`` and one per variant option (``divergence:kl``), and the group
  ``<p>-<d>``, derived from the config by :func:`zoo.compare.identity.describe` and set on the logger
  before ``wandb.init`` (a run's group cannot change afterwards).
* The full resolved LightningCLI config in the run's config (:func:`log_full_config`); Lightning
  alone sends only the model's and the data's hyper-parameters.
* Generator steps as the x-axis of every metric (:class:`WandbRun`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

X_AXIS = "generator_step"
# The CSV logger's name in zoo.cli.TRAINER_DEFAULTS; jsonargparse carries it over when a config
# swaps the logger's class, so a W&B run named this was not named by its user.
DEFAULT_LOGGER_NAME = "zoo"


def _plain(value: Any) -> dict[str, Any]:
    """A jsonargparse Namespace or a dict as a plain dict (None: empty)."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def _short_paper(model_class: str) -> str:
    """``zoo.models.fgan.FGAN`` → ``fgan`` (the configs/<paper>/ folder); other classes: their name."""
    module, _, name = model_class.rpartition(".")
    return module.rpartition(".")[2] if module.startswith("zoo.models.") else name.lower()


def run_labels(config: Any) -> tuple[list[str], str]:
    """``(tags, group)`` of a run from its LightningCLI config (``model`` and ``data`` sections):
    ``paper:<p>``, ``dataset:<d>``, then ``<option>:<value>`` for each variant option."""
    from zoo.compare.identity import describe

    model, data = _plain(config.get("model")), _plain(config.get("data"))
    model_class, data_class = str(model.get("class_path") or "?"), str(data.get("class_path") or "?")
    described = describe(model_class, data_class, _plain(model.get("init_args")), _plain(data.get("init_args")))
    paper, dataset = _short_paper(model_class), described["dataset"].lower().replace(" ", "-")
    variant = [f"{key}:{value}" for key, _, value in (item.partition("=") for item in described["variant"].split(", ") if item)]
    return [f"paper:{paper}", f"dataset:{dataset}", *variant], f"{paper}-{dataset}"


def _wandb_logger_configs(logger: Any) -> list[Any]:
    loggers = logger if isinstance(logger, list) else [logger]
    return [c for c in loggers if hasattr(c, "get") and str(c.get("class_path", "")).endswith("WandbLogger")]


def label_wandb_loggers(logger: Any, config: Any) -> None:
    """Add the run's tags to each W&B logger config, and its group unless the config names one."""
    configs = _wandb_logger_configs(logger)
    if not configs:
        return
    tags, group = run_labels(config)
    name = " ".join([group, *tags[2:]])
    for logger_config in configs:
        init_args = logger_config.get("init_args") or {}
        given = list(init_args.get("tags") or [])
        init_args["tags"] = given + [tag for tag in tags if tag not in given]
        init_args["group"] = init_args.get("group") or group
        if init_args.get("name") in (None, DEFAULT_LOGGER_NAME):
            init_args["name"] = name
        logger_config["init_args"] = init_args


def wandb_loggers(trainer: pl.Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def log_full_config(trainer: pl.Trainer, resolved: Callable[[], dict[str, Any]]) -> None:
    """Put the resolved config (``model``, ``data``, ``trainer``, …) into each W&B run's config."""
    loggers = wandb_loggers(trainer)
    if not loggers:
        return
    config = resolved()
    for logger in loggers:
        logger.experiment.config.update(config, allow_val_change=True)


def drop_anonymous_setting(trainer: pl.Trainer) -> None:
    """Call before the run starts. Lightning always passes ``anonymous=None`` to ``wandb.init``, which
    recent wandb answers with a warning on every run although the setting does nothing."""
    for logger in wandb_loggers(trainer):
        if logger._experiment is None and logger._wandb_init.get("anonymous") is None:
            logger._wandb_init.pop("anonymous", None)


class WandbRun(pl.Callback):
    """Plot every W&B metric against generator steps, and give each evaluation row its exact step.

    Lightning makes ``trainer/global_step`` W&B's x-axis; it counts both players' optimizer steps,
    so runs with different numbers of D steps per G step would not line up. ``generator_step`` is
    logged on training rows by the core; validation rows (where ``eval/*`` lands) get it here, since
    W&B would otherwise fill in the last training row's value, which may be up to
    ``log_every_n_steps`` behind. Does nothing without a WandbLogger.
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for logger in wandb_loggers(trainer):
            run = logger.experiment
            run.define_metric(X_AXIS)
            run.define_metric("*", step_metric=X_AXIS, step_sync=True)
            # Explicit names win over W&B's glob matching, whose order among globs is not defined.
            for name in self._eval_metrics(trainer):
                run.define_metric(name, step_metric=X_AXIS)

    @staticmethod
    def _eval_metrics(trainer: pl.Trainer) -> list[str]:
        from zoo.callbacks.evaluation import Evaluation

        return [f"eval/{metric}" for callback in trainer.callbacks if isinstance(callback, Evaluation) for metric in callback.metrics]

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not wandb_loggers(trainer) or not hasattr(pl_module, "generator_steps"):
            return
        pl_module.log(X_AXIS, float(pl_module.generator_steps))
