"""The generator's noise prior p(z)."""

from __future__ import annotations

import math
from typing import Literal

import torch

from zoo.errors import require


class NoisePrior:
    """A factorised prior over z: standard normal, or uniform on ``[low, high]`` per dimension.

    Goodfellow et al. (2014) draw z ~ U[-√3, √3]^100 (unit variance); f-GAN uses U(-1, 1)^100;
    DCGAN uses U(-1, 1)^100 in the paper and N(0, I) in most re-implementations.
    """

    def __init__(
        self,
        dim: int,
        distribution: Literal["normal", "uniform"] = "normal",
        low: float = -1.0,
        high: float = 1.0,
    ) -> None:
        require(dim > 0, f"model.latent_dim must be positive, got {dim}")
        require(distribution in ("normal", "uniform"), f"model.prior must be 'normal' or 'uniform', got {distribution!r}")
        require(distribution == "normal" or low < high, f"uniform prior needs low < high, got [{low}, {high}]")
        self.dim, self.distribution, self.low, self.high = dim, distribution, low, high

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` latent codes of shape ``(n, dim)``."""
        if self.distribution == "normal":
            return torch.randn(n, self.dim, device=device, generator=generator)
        unit = torch.rand(n, self.dim, device=device, generator=generator)
        return unit * (self.high - self.low) + self.low

    def __repr__(self) -> str:
        if self.distribution == "normal":
            return f"NoisePrior(N(0, I_{self.dim}))"
        return f"NoisePrior(U[{self.low:g}, {self.high:g}]^{self.dim})"


SQRT3 = math.sqrt(3.0)
