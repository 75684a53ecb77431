"""Synthetic 2-D Gaussian mixtures for mode-collapse studies.

The ring of 8 Gaussians (radius 2, σ 0.02) is the benchmark of Metz et al. (2017), "Unrolled
Generative Adversarial Networks", §3.1; the 5×5 grid (centres −4…4 in steps of 2, σ 0.05) is the
second mixture of Srivastava et al. (2017), "VEEGAN".
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.utils.data import TensorDataset

from zoo.data.base import ZooDataModule
from zoo.errors import require


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``n_modes`` points evenly spaced on a circle, shape ``(n_modes, 2)``."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centres(size: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """A ``size``×``size`` grid centred on the origin, shape ``(size², 2)``."""
    axis = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def sample_mixture(centres: torch.Tensor, std: float, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from an equal-weight isotropic mixture, and the index of each point's mode."""
    modes = torch.randint(len(centres), (n,), generator=generator)
    return centres[modes] + std * torch.randn(n, 2, generator=generator), modes


class MixtureDataModule(ZooDataModule):
    """Fixed draws from a 2-D mixture; batches are ``(points, mode index)``.

    Attributes ``centres`` and ``std`` describe the mixture for mode counting.
    """

    sample_shape = (2,)

    def __init__(
        self,
        mixture: Literal["ring", "grid"] = "ring",
        batch_size: int = 512,
        num_workers: int = 0,
        data_root: str | None = None,
        seed: int = 0,
        train_size: int = 100_000,
        val_size: int = 10_000,
        test_size: int = 10_000,
        std: float | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, (-math.inf, math.inf), data_root, seed)
        require(mixture in ("ring", "grid"), f"data.mixture must be 'ring' or 'grid', got {mixture!r}")
        require(min(train_size, val_size, test_size) > 0, "data split sizes must be positive")
        self.mixture = mixture
        self.centres = ring_centres() if mixture == "ring" else grid_centres()
        self.std = std if std is not None else (0.02 if mixture == "ring" else 0.05)
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(self.seed)
        splits = {name: TensorDataset(*sample_mixture(self.centres, self.std, n, generator)) for name, n in self.sizes.items()}
        self.train_set, self.val_set, self.test_set = splits["train"], splits["val"], splits["test"]
