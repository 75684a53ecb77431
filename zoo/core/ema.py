"""An exponential moving average of the generator's weights (never of the discriminator's).

Lightning's own EMA callback averages every parameter of the LightningModule, D included, which
wastes memory and time; here only G is averaged, as in Yazıcı et al. (2019), "The Unusual
Effectiveness of Averaging in GAN Training".
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from zoo.errors import require


class GeneratorEMA(nn.Module):
    """Holds ``shadow``, a frozen copy of a generator updated as θ̄ ← β θ̄ + (1 − β) θ."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        super().__init__()
        require(0.0 < decay < 1.0, f"model.ema_decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(generator)
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        for averaged, current in zip(self.shadow.parameters(), generator.parameters()):
            averaged.lerp_(current.detach(), 1.0 - self.decay)
        for averaged, current in zip(self.shadow.buffers(), generator.buffers()):
            averaged.copy_(current)
