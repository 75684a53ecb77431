"""The 2-D mixture nets of Metz et al. (2017), Appendix A.

* G: z ∈ R^256 → 128 ReLU → 128 ReLU → linear 2-d;
* D: the input scaled down by 4 (to about [−1, 1]) → 128 ReLU → one logit;
* every weight orthogonal with gain 0.8, biases zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from zoo.nets.layers import SequentialScore


def orthogonal_init_(module: nn.Module, gain: float) -> nn.Module:
    """Orthogonal weights with ``gain`` and zero biases for every linear layer of ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)
    return module


def _relu_mlp(width: int, hidden: Sequence[int], out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, out))


class ToyGenerator(nn.Module):
    """z ↦ a point in R^``dim`` through ReLU layers and a linear output."""

    output_range = None  # unbounded, like the mixtures

    def __init__(self, latent_dim: int = 256, hidden: Sequence[int] = (128, 128), dim: int = 2, gain: float = 0.8) -> None:
        super().__init__()
        self.net = orthogonal_init_(_relu_mlp(latent_dim, hidden, dim), gain)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class ToyDiscriminator(SequentialScore):
    """x ↦ one logit: the input times ``input_scale``, then ReLU layers."""

    def __init__(self, hidden: Sequence[int] = (128,), dim: int = 2, input_scale: float = 0.25, gain: float = 0.8) -> None:
        super().__init__()
        self.input_scale = input_scale
        self.net = orthogonal_init_(_relu_mlp(dim, hidden, 1), gain)

    def prepare(self, x: Tensor) -> Tensor:
        return x * self.input_scale
