"""Walking in the latent space (DCGAN, Radford et al. 2016, §6.1 and Figure 4).

Each row of a walk decodes a path between two random latent codes. A smooth change of the images
along the path, without sharp jumps, is the paper's evidence that the generator has not memorised
the training set. Paths are straight lines (:func:`lerp`, what the paper's Figure 4 shows) or great
circles (:func:`slerp`, Shoemake 1985; recommended for GAN priors by White 2016, "Sampling
Generative Networks", because the midpoint of two Gaussian codes has a norm far below the prior's
typical norm, √d, while slerp between codes of equal norm keeps that norm).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from torch import Tensor

from zoo.callbacks.samples import run_dir, save_image_grid
from zoo.errors import require
from zoo.latent.loggers import log_png

WalkMode = Literal["linear", "slerp"]
WALK_MODES = ("linear", "slerp")


def _check_pair(z0: Tensor, z1: Tensor) -> None:
    require(z0.shape == z1.shape, f"interpolation needs codes of the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """(1 − t)·z0 + t·z1 for every ``t``: codes ``(..., d)`` and ``t`` of shape ``(s,)`` give ``(..., s, d)``."""
    _check_pair(z0, z1)
    t = t.to(z0)[:, None]
    return (1 - t) * z0[..., None, :] + t * z1[..., None, :]


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation along the great circle from z0 to z1 (Shoemake 1985).

    slerp(z0, z1; t) = sin((1 − t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1, with Ω the angle between them.
    At t = 0 and t = 1 the weights are exactly (1, 0) and (0, 1), so the endpoints are returned
    bit for bit. Nearly parallel codes (sin Ω < ``eps``) fall back to :func:`lerp`.
    Shapes as in :func:`lerp`.
    """
    _check_pair(z0, z1)
    t = t.to(z0)[:, None]  # (s, 1)
    cosine = torch.nn.functional.cosine_similarity(z0, z1, dim=-1).clamp(-1.0, 1.0)
    omega = torch.arccos(cosine)[..., None, None]  # (..., 1, 1)
    sin_omega = torch.sin(omega)
    parallel = sin_omega < eps
    safe = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    w0 = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / safe)
    w1 = torch.where(parallel, t, torch.sin(t * omega) / safe)
    return w0 * z0[..., None, :] + w1 * z1[..., None, :]


def interpolate(z0: Tensor, z1: Tensor, steps: int, mode: WalkMode = "slerp") -> Tensor:
    """``steps`` codes from z0 to z1 inclusive, by ``mode``; shape ``(..., steps, d)``."""
    require(steps >= 2, f"a latent walk needs --steps >= 2 (both endpoints), got {steps}")
    require(mode in WALK_MODES, f"latent walk mode must be one of {WALK_MODES}, got {mode!r}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    return (lerp if mode == "linear" else slerp)(z0, z1, t)


def walk_codes(model: pl.LightningModule, steps: int, rows: int, mode: WalkMode = "slerp", seed: int = 0) -> Tensor:
    """``rows × steps`` latent codes ``(rows·steps, d)``, row ``r`` going between two prior draws."""
    require(rows >= 1, f"a latent walk needs --rows >= 1, got {rows}")
    generator = torch.Generator().manual_seed(seed)
    ends = model.prior.sample(2 * rows, generator=generator)
    return interpolate(ends[:rows], ends[rows:], steps, mode).reshape(rows * steps, -1)


def latent_walk_grid(model: pl.LightningModule, steps: int, rows: int = 8, mode: WalkMode = "slerp", seed: int = 0) -> Tensor:
    """The decoded walk, images ``(rows·steps, C, H, W)`` in the generator's output range, row-major.

    ``model`` is a :class:`zoo.core.TwoPlayerGAN`; its EMA generator is used when it keeps one.
    """
    return model.generate(walk_codes(model, steps, rows, mode, seed)).cpu()


def save_latent_walk(
    model: pl.LightningModule, path: str | Path, steps: int, rows: int = 8, mode: WalkMode = "slerp", seed: int = 0
) -> Path:
    """Write the walk as one PNG with ``steps`` images per row; returns the path."""
    images = latent_walk_grid(model, steps, rows, mode, seed)
    value_range = tuple(getattr(model.generator, "output_range", (-1.0, 1.0)))
    return save_image_grid(images, Path(path), value_range, nrow=steps)


class LatentWalk(pl.Callback):
    """Every ``every_n_epochs`` epochs, save a latent walk under ``<run dir>/latent/`` and send the
    PNG to the image loggers (TensorBoard, W&B). The endpoints are fixed by ``seed``, so successive
    walks show how one path through z changes as training goes on."""

    def __init__(self, every_n_epochs: int = 1, steps: int = 10, rows: int = 8, mode: WalkMode = "slerp", seed: int = 0) -> None:
        super().__init__()
        require(every_n_epochs >= 1, f"latent walk every_n_epochs must be >= 1, got {every_n_epochs}")
        require(mode in WALK_MODES, f"latent walk mode must be one of {WALK_MODES}, got {mode!r}")
        self.every_n_epochs, self.steps, self.rows, self.mode, self.seed = every_n_epochs, steps, rows, mode, seed

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        path = run_dir(trainer) / "latent" / f"walk-epoch={trainer.current_epoch:03d}.png"
        save_latent_walk(pl_module, path, self.steps, self.rows, self.mode, self.seed)
        log_png(trainer.loggers, "latent/walk", path, trainer.global_step)
