"""A learning curve that survives interruptions: the harness's metric every few epochs, kept in a
JSON file in the run's folder so a resumed run appends to the curve of the run it continues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from zoo.atomic import atomic_write_json
from zoo.errors import require
from zoo.eval.harness import evaluate


class LearningCurve(pl.Callback):
    """Every ``every_n_epochs`` epochs, score the model with the harness and append a point.

    Each point is ``{epoch, generator_steps, mean, stderr, sigma, ...}`` for ``metric``: a harness
    metric, or with ``logged=True`` a metric the model logs itself (e.g. ``val/errors``), read at
    the epoch's end; metrics the model logs that ``also`` names ride along in the point's ``also``
    (e.g. the current discriminator's errors beside its average's). On a resumed
    run, points the restored checkpoint has not reached yet (written after its save, before a
    crash) are dropped, so the curve matches the weights it continues from. Scoring uses its own
    seeded latent stream and no global RNG, so it does not change training.
    """

    def __init__(
        self,
        path: str,
        every_n_epochs: int = 5,
        metric: str = "parzen",
        protocol: str | None = "gan2014",
        num_samples: int | None = None,
        max_test_points: int | None = None,
        seed: int = 0,
        logged: bool = False,
        also: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.logged, self.also = logged, tuple(also)
        require(every_n_epochs >= 1, f"learning curve: every_n_epochs must be >= 1, got {every_n_epochs}")
        self.path, self.every_n_epochs, self.metric = Path(path), every_n_epochs, metric
        self.protocol, self.num_samples, self.max_test_points, self.seed = protocol, num_samples, max_test_points, seed

    def points(self) -> list[dict[str, Any]]:
        return json.loads(self.path.read_text()) if self.path.exists() else []

    def _write(self, points: list[dict[str, Any]]) -> None:
        atomic_write_json(self.path, points, indent=1)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:  # the restored step counter says how far the weights got
            self._write([p for p in self.points() if p["generator_steps"] <= pl_module.generator_steps])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1  # epochs completed
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if self.logged:
            record = {"value": float(trainer.callback_metrics[self.metric])}
        else:
            record = evaluate(
                pl_module, trainer.datamodule, [self.metric], self.num_samples, self.seed, self.protocol,
                strategy=trainer.strategy, max_test_points=self.max_test_points,
            )[self.metric]
            pl_module.log(f"eval/{self.metric}", float(record["value"]), sync_dist=False)
        point = {"epoch": epoch, "generator_steps": int(pl_module.generator_steps), "mean": float(record["value"])}
        point.update({k: record[k] for k in ("stderr", "sigma", "n_samples", "n_points") if k in record})
        logged = {name: float(trainer.callback_metrics[name]) for name in self.also if name in trainer.callback_metrics}
        if logged:
            point["also"] = logged
        if trainer.is_global_zero:
            self._write([p for p in self.points() if p["epoch"] < epoch] + [point])
