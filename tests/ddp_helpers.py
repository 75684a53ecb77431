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


class RecordRankDraws(pl.Callback):
    """Each rank writes, per epoch, the noise it is about to draw and the indices its sampler yields."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.draws: dict[int, dict] = {}

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = torch.get_rng_state()
        z = pl_module.sample_noise(4)  # a peek: the RNG is put back, so training is unchanged
        torch.set_rng_state(state)
        indices = list(iter(trainer.train_dataloader.sampler))
        self.draws[trainer.current_epoch] = {"z": z.cpu(), "indices": indices}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(self.draws, self.out_dir / f"draws{trainer.global_rank}.pt")


class PoisonWeights(pl.Callback):
    """Turn one discriminator weight into NaN at the start of ``epoch``: a blow-up on cue."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                next(pl_module.discriminator.parameters()).view(-1)[0] = float("nan")
