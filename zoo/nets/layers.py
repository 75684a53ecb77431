"""Small layers shared by the zoo's nets."""

from __future__ import annotations

import math

from torch import Tensor, nn

from zoo.errors import require


class Maxout(nn.Module):
    """A maxout layer (Goodfellow et al. 2013): the max over ``pieces`` affine maps per unit."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        require(pieces >= 1, f"maxout needs at least one piece, got {pieces}")
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=-1)


def flat_size(shape: tuple[int, ...] | list[int]) -> int:
    """Number of values in one sample of the given shape."""
    return math.prod(shape)


ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}
OUTPUTS = {"sigmoid": (nn.Sigmoid, (0.0, 1.0)), "tanh": (nn.Tanh, (-1.0, 1.0)), "linear": (nn.Identity, None)}


class SequentialScore(nn.Module):
    """A discriminator whose ``net`` is a Sequential ending in its one-unit score layer.

    It offers the split every zoo discriminator offers, ``forward(x) = head(hidden_features(x))``:
    ``hidden_features`` is all but the last layer (what feature matching and minibatch discrimination
    read), ``head`` the last. A subclass that transforms its input first overrides :meth:`prepare`.
    """

    net: nn.Sequential

    def prepare(self, x: Tensor) -> Tensor:
        return x

    def hidden_features(self, x: Tensor) -> Tensor:
        return self.net[:-1](self.prepare(x))

    def head(self, features: Tensor) -> Tensor:
        return self.net[-1](features).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden_features(x))
