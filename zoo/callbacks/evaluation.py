"""Evaluation during training: the harness's metrics, logged as ``eval/<metric>`` at an interval.

To keep the best checkpoint by a metric, point ModelCheckpoint at it, e.g.
``--checkpoint.monitor eval/parzen --checkpoint.mode max`` (FID and KID: ``mode min``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from zoo.errors import require
from zoo.eval.harness import METRICS, evaluate


class Evaluation(pl.Callback):
    """Run :func:`zoo.eval.harness.evaluate` every ``every_n_epochs`` validation epochs.

    All ranks take part (samples and Parzen points are spread over them) and log the same values.
    The last results are kept in :attr:`results`.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("parzen",),
        every_n_epochs: int = 1,
        num_samples: int | None = None,
        protocol: str | None = "gan2014",
        seed: int = 0,
        feature_extractor: str = "auto",
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        unknown = [m for m in metrics if m not in METRICS]
        require(not unknown, f"evaluation.metrics: unknown {unknown}; choose from {list(METRICS)}")
        require(every_n_epochs >= 1, f"evaluation.every_n_epochs must be >= 1, got {every_n_epochs}")
        self.metrics, self.every_n_epochs, self.num_samples = list(metrics), every_n_epochs, num_samples
        self.protocol, self.seed = protocol, seed
        self.feature_extractor, self.weights_path = feature_extractor, weights_path
        self.results: dict[str, dict[str, Any]] = {}

    def run(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, dict[str, Any]]:
        self.results = evaluate(
            pl_module, trainer.datamodule, self.metrics, self.num_samples, self.seed, self.protocol,
            self.feature_extractor, self.weights_path, strategy=trainer.strategy,
        )
        for name, record in self.results.items():
            pl_module.log(f"eval/{name}", float(record["value"]), sync_dist=False, prog_bar=name == self.metrics[0])
        return self.results

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self.metrics:
            return
        if trainer.state.fn != "fit" or (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.run(trainer, pl_module)
