"""Samples from fixed noise at fixed generator steps, kept in the checkpoint: the raw material of
"samples over training" figures such as Metz et al.'s (2017) Figure 2."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from zoo.callbacks.samples import run_dir
from zoo.errors import require


class SampleTrace(pl.Callback):
    """At generator step 0 and every ``every_n_generator_steps`` steps, keep G's samples of the same
    ``num_samples`` codes (drawn once from ``seed``, not from the global RNG). The trace travels in
    the checkpoint, so a resumed run continues it, and is written to ``<run dir>/trace.pt`` at the
    end of fit as ``{generator step: samples}``."""

    def __init__(self, every_n_generator_steps: int = 5000, num_samples: int = 512, seed: int = 1234) -> None:
        super().__init__()
        require(every_n_generator_steps >= 1, f"every_n_generator_steps must be >= 1, got {every_n_generator_steps}")
        require(num_samples >= 1, f"num_samples must be >= 1, got {num_samples}")
        self.every, self.num_samples, self.seed = every_n_generator_steps, num_samples, seed
        self.snapshots: dict[int, torch.Tensor] = {}

    def _record(self, pl_module: pl.LightningModule) -> None:
        step = pl_module.generator_steps
        if step % self.every == 0 and step not in self.snapshots:
            noise = pl_module.prior.sample(self.num_samples, generator=torch.Generator().manual_seed(self.seed))
            self.snapshots[step] = pl_module.generate(noise, use_ema=False).cpu()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._record(pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            path = run_dir(trainer) / "trace.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(self.snapshots, path)

    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": self.snapshots}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.snapshots = dict(state_dict["snapshots"])
