"""Callbacks the multi-process tests load by class path."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch


class DumpRankWeights(pl.Callback):
    """At the end of fit, each rank saves its module's weights and step counters to ``out_dir``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in pl_module.state_dict().items()}
        counters = {"generator_steps": pl_module.generator_steps, "discriminator_steps": pl_module.discriminator_steps}
        torch.save({"state": state, "counters": counters, "world_size": trainer.world_size}, self.out_dir / f"rank{trainer.global_rank}.pt")
