"""The permutation-invariant MNIST nets of Salimans et al. (2016)'s released semi-supervised code
(``train_mnist_feature_matching.py``); the recipe they belong to is :mod:`zoo.models.improved`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from zoo.errors import require
from zoo.nets.layers import flat_size
from zoo.nets.tricks import GaussianNoise

D_INIT_STD = 0.1


def _weight_norm_linear(in_features: int, out_features: int, train_scale: bool) -> nn.Linear:
    """A weight-normalised Linear with direction N(0, 0.1) and bias 0, as the released code's D."""
    layer = nn.Linear(in_features, out_features)
    nn.init.normal_(layer.weight, 0.0, D_INIT_STD)
    nn.init.zeros_(layer.bias)
    layer = weight_norm(layer)
    layer.parametrizations.weight.original0.requires_grad_(train_scale)
    return layer


class SemiSupervisedMNISTGenerator(nn.Module):
    """z ↦ x: softplus layers with batch norm, a weight-normalised sigmoid output (the released
    code's), or with ``output="softplus"`` a softplus one, unbounded above."""

    def __init__(self, latent_dim: int = 100, data_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (500, 500),
                 output: Literal["sigmoid", "softplus"] = "sigmoid") -> None:
        super().__init__()
        require(output in ("sigmoid", "softplus"), f"model.g_output must be sigmoid or softplus, got {output!r}")
        self.data_shape = tuple(data_shape)
        self.output_range = (0.0, 1.0) if output == "sigmoid" else None
        layers: list[nn.Module] = []
        width = latent_dim
        for units in hidden:
            linear, norm = nn.Linear(width, units, bias=False), nn.BatchNorm1d(units)
            nn.init.xavier_uniform_(linear.weight)
            norm.weight.requires_grad_(False)
            layers += [linear, norm, nn.Softplus()]
            width = units
        output = nn.Linear(width, flat_size(self.data_shape))
        nn.init.xavier_uniform_(output.weight)
        nn.init.zeros_(output.bias)
        output = weight_norm(output)
        with torch.no_grad():
            output.parametrizations.weight.original0.fill_(1.0)
        layers += [output, nn.Sigmoid() if self.output_range else nn.Softplus()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class SemiSupervisedMNISTDiscriminator(nn.Module):
    """x ↦ K logits through noisy, weight-normalised ReLU layers; :meth:`logits_and_features`
    also returns the last hidden layer (before its noise), the features G matches."""

    def __init__(
        self,
        data_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 10,
        hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        input_noise: float = 0.3,
        hidden_noise: float = 0.5,
    ) -> None:
        super().__init__()
        require(len(hidden) >= 1, "the semi-supervised discriminator needs at least one hidden layer")
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        width = flat_size(data_shape)
        for index, units in enumerate(hidden):
            if index > 0:
                layers.append(GaussianNoise(hidden_noise))
            layers += [_weight_norm_linear(width, units, train_scale=False), nn.ReLU()]
            width = units
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(hidden_noise), _weight_norm_linear(width, num_classes, train_scale=True))

    def logits_and_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return self.head(features), features

    def forward(self, x: Tensor) -> Tensor:
        return self.logits_and_features(x)[0]
