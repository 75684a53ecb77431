"""Send a PNG to the image loggers of a run: inside training (the Trainer's loggers) or from the
``zoo latent`` command (a TensorBoard folder or a W&B run opened for the purpose)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger


def png_as_tensor(path: Path) -> torch.Tensor:
    """An RGB PNG as a uint8 tensor ``(3, H, W)``."""
    from PIL import Image

    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)


def log_png(loggers: Iterable[Logger], key: str, path: Path, step: int) -> int:
    """Log ``path`` under ``key`` to every logger that takes images; returns how many did."""
    logged = 0
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], step=step)
            logged += 1
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, png_as_tensor(path), global_step=step)
            logged += 1
    return logged


def log_png_outside_training(paths: dict[str, Path], tensorboard_dir: str | None, wandb_project: str | None) -> list[str]:
    """Log PNGs from the command line; returns where they went (one entry per destination)."""
    destinations = []
    if tensorboard_dir:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(tensorboard_dir) as writer:
            for key, path in paths.items():
                writer.add_image(key, png_as_tensor(path), global_step=0)
        destinations.append(f"tensorboard:{tensorboard_dir}")
    if wandb_project:
        import wandb

        run = wandb.init(project=wandb_project, job_type="latent")
        run.log({key: wandb.Image(str(path)) for key, path in paths.items()})
        run.finish()
        destinations.append(f"wandb:{wandb_project}")
    return destinations
