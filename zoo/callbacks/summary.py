"""A short account of a run, printed when it ends: its metrics and where its files are."""

from __future__ import annotations

import pytorch_lightning as pl
from rich.console import Console
from rich.table import Table

from zoo.callbacks.samples import run_dir


class RunSummary(pl.Callback):
    """Print the last logged metrics, the step counters and the run's folder at the end of fit."""

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        table = Table(title=f"{type(pl_module).__name__}: end of training")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("generator steps", str(getattr(pl_module, "generator_steps", "-")))
        table.add_row("discriminator steps", str(getattr(pl_module, "discriminator_steps", "-")))
        for name, value in sorted(trainer.callback_metrics.items()):
            if name.endswith("_step") or name in ("generator_step", "discriminator_step"):
                continue
            table.add_row(name, f"{float(value):.4f}")
        console = Console()
        console.print(table)
        console.print(f"run folder: {run_dir(trainer)}")
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and getattr(checkpoint, "last_model_path", ""):
            console.print(f"last checkpoint: {checkpoint.last_model_path}")
