"""Fully connected generators and discriminators (Goodfellow et al. 2014; Nowozin et al. 2016)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from zoo.errors import require
from zoo.nets.layers import ACTIVATIONS, OUTPUTS, Maxout, SequentialScore, flat_size


def check_mlp_options(
    latent_dim: int,
    data_shape: Sequence[int],
    widths: dict[str, Sequence[int]],
    dropouts: dict[str, float] | None = None,
) -> None:
    """One-line errors, named after the model's options, for sizes and rates the nets cannot take."""
    require(latent_dim >= 1, f"model.latent_dim must be a positive integer, got {latent_dim}")
    shape = list(data_shape)
    require(len(shape) >= 1 and all(size >= 1 for size in shape), f"model.data_shape must be positive sizes like [1, 28, 28], got {shape}")
    for name, hidden in widths.items():
        bad = [units for units in hidden if units < 1]
        require(not bad, f"model.{name} must list positive layer widths, got {list(hidden)}")
    for name, rate in (dropouts or {}).items():
        require(0.0 <= rate < 1.0, f"model.{name} is a drop probability in [0, 1), got {rate}")


class MLPGenerator(nn.Module):
    """z ↦ x through fully connected hidden layers, reshaped to ``data_shape``.

    ``output`` picks the last activation and with it :attr:`output_range`, which the GAN core
    compares with the DataModule's value range at setup.
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        hidden: Sequence[int] = (1200, 1200),
        activation: str = "relu",
        output: str = "sigmoid",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        require(activation in ACTIVATIONS, f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        require(output in OUTPUTS, f"generator output must be one of {sorted(OUTPUTS)}, got {output!r}")
        self.data_shape = tuple(data_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for units in hidden:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(ACTIVATIONS[activation]())
            width = units
        output_layer, self.output_range = OUTPUTS[output]
        layers += [nn.Linear(width, flat_size(self.data_shape)), output_layer()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class MaxoutDiscriminator(SequentialScore):
    """Goodfellow et al.'s (2014) MNIST discriminator: dropout, maxout layers, one logit.

    The paper's code keeps inputs with probability 0.8 and hidden units with probability 0.5.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        hidden: Sequence[int] = (240, 240),
        pieces: int = 5,
        input_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        width = flat_size(data_shape)
        for units in hidden:
            layers += [Maxout(width, units, pieces), nn.Dropout(hidden_dropout)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)


class MLPDiscriminator(SequentialScore):
    """x ↦ one score through fully connected layers (f-GAN's variational function V_ω)."""

    def __init__(
        self,
        data_shape: Sequence[int],
        hidden: Sequence[int] = (240, 240),
        activation: str = "elu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        require(activation in ACTIVATIONS, f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = flat_size(data_shape)
        for units in hidden:
            layers += [nn.Linear(width, units), ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)


@torch.no_grad()
def uniform_init_(module: nn.Module, bound: float) -> None:
    """Initialise every linear weight from U(−bound, bound) and biases to 0 (pylearn2's ``irange``)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            layer.weight.uniform_(-bound, bound)
            layer.bias.zero_()
