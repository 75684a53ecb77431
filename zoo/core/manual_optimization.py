"""What manual optimization of two players needs from Lightning, kept apart from the game itself:
which parameters take gradients during one player's update, when a step's values reach a logger,
and a cheap finiteness check of a loss."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor


@contextlib.contextmanager
def only_training(optimizer: Any, optimizers: Sequence[torch.optim.Optimizer]) -> Iterator[None]:
    """Inside, only ``optimizer``'s parameters take gradients (so G's update computes no gradient
    of D's weights). Lightning's ``toggle_optimizer`` does the same, but flips every parameter of
    every optimizer twice; this flips only the other players' trainable parameters."""
    raw = getattr(optimizer, "optimizer", optimizer)  # Lightning's wrapper, or the optimizer itself
    own = {id(p) for group in raw.param_groups for p in group["params"]}
    frozen = [p for opt in optimizers if opt is not raw for group in opt.param_groups
              for p in group["params"] if p.requires_grad and id(p) not in own]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def step_values_reach_a_logger(trainer: pl.Trainer | None) -> bool:
    """Whether this training step's logged values are written anywhere: by a logger (every
    ``log_every_n_steps``), or as the last values of the epoch or run (callback metrics, the
    progress bar, the end-of-fit summary).

    Each ``self.log`` costs about as much as a small net's update, and Lightning keeps only the
    latest value of a per-step metric between writes, so logging just these steps writes the same rows.
    """
    if trainer is None:
        return False
    epoch_loop = trainer.fit_loop.epoch_loop
    return (
        trainer._logger_connector.should_update_logs
        or bool(trainer.fast_dev_run)
        or epoch_loop.batch_progress.is_last_batch
        or epoch_loop.batch_progress.current.ready >= trainer.num_training_batches
        or 0 <= trainer.max_steps <= trainer.global_step
    )


def is_finite(loss: Tensor) -> bool:
    """Whether every value of ``loss`` is finite."""
    # A scalar's .item() syncs as bool(isfinite(loss).all()) does, without launching two more ops.
    return math.isfinite(loss.item()) if loss.numel() == 1 else bool(torch.isfinite(loss).all())
