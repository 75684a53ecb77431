"""A callback that calls a function with the trainer as fit starts (once the device is known)."""

from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl


class OnFitStart(pl.Callback):
    """Calls ``action(trainer)`` at ``on_fit_start``."""

    def __init__(self, action: Callable[[pl.Trainer], Any]) -> None:
        self.action = action

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.action(trainer)
