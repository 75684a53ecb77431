"""The players' learning-rate schedules: a per-update exponential decay with a floor (the
schedule of Goodfellow et al.'s code), times an optional linear fall to 0 over a window of epochs
(the first Improved-GAN MNIST code's ``lr·min(3 − epoch/100, 1)`` is the window (200, 300))."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.optim.lr_scheduler import LambdaLR


def linear_fall(epoch: int, window: Sequence[int] | None) -> float:
    """The share of the rate left in ``epoch``: 1 up to ``window[0]``, 0 from ``window[1]``, linear between."""
    if window is None:
        return 1.0
    start, end = window
    return min(1.0, max(0.0, (end - epoch) / (end - start)))


def player_schedule(optimizer: torch.optim.Optimizer, lr: float, decay: float, min_lr: float,
                    current_epoch: Callable[[], int], window: Sequence[int] | None) -> LambdaLR:
    """``lr · max(decay^updates, min_lr / lr) · linear_fall(epoch)``, stepped after every update."""
    floor = min_lr / lr
    return LambdaLR(optimizer, lambda updates: max(decay**updates, floor) * linear_fall(current_epoch(), window))


def reapply(schedulers: Sequence[LambdaLR]) -> None:
    """Set every rate to what its schedule gives now, without counting an update. A scheduler sets
    the rate after each update, so at an epoch's start the rate still holds the last epoch's share."""
    for scheduler in schedulers:
        for group, base_lr, share in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base_lr * share(scheduler.last_epoch)
