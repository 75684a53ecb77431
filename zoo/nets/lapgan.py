"""The nets of one LAPGAN level (Denton et al. 2015, §4; the original code facebook/eyescream).

* Coarsest level: fully connected G and D (G: z → 1200 ReLU → 1200 ReLU → image; D: 600 ReLU →
  600 ReLU with dropout → one logit), an unconditional GAN on the smallest image.
* Finer levels: G_k sees the upsampled coarse image u(I_{k−1}) with one noise plane z_k as an extra
  channel and outputs the band-pass residual h̃_k through three convolutions (7×7, 7×7, 5×5, 64
  maps, same size); D_k judges u(I_{k−1}) + h (real or generated) through a 5×5 convolution and a
  5×5 stride-2 convolution (64 maps), dropout and one logit. "Same" padding, where the original
  code's valid convolutions would leave nothing of a small image.
* Class-conditional (CC-LAPGAN): a one-hot label goes through a linear layer and a ReLU into one
  extra feature plane at the input of G_k and D_k; at the fully connected level the one-hot is
  concatenated to the input (a linear map of it followed by the first layer is the same model).

A generator takes one tensor (the two-player core calls ``G(noise)``), so a finer G's conditioning
travels in its input: :func:`refinement_input` packs it and the net unpacks it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from zoo.nets.layers import flat_size
from zoo.nets.mlp import MLPDiscriminator, MLPGenerator


def coarse_input(noise: Tensor, onehot: Tensor | None) -> Tensor:
    """The coarsest G's input: z, followed by the one-hot label when there is one."""
    return noise if onehot is None else torch.cat([noise, onehot], dim=1)


def refinement_input(coarse_up: Tensor, noise_plane: Tensor, onehot: Tensor | None) -> Tensor:
    """A finer G's input ``(n, c + 1 [+ classes], s, s)``: u(I_{k−1}), the noise plane z_k, and the
    one-hot label spread over constant planes when there is one."""
    planes = [coarse_up, noise_plane]
    if onehot is not None:
        planes.append(onehot[:, :, None, None].expand(-1, -1, *coarse_up.shape[-2:]))
    return torch.cat(planes, dim=1)


class LabelPlane(nn.Module):
    """One-hot label → linear → ReLU → one ``size × size`` feature plane (the paper's CC-LAPGAN)."""

    def __init__(self, num_classes: int, size: int) -> None:
        super().__init__()
        self.size = size
        self.linear = nn.Linear(num_classes, size * size)

    def forward(self, onehot: Tensor) -> Tensor:
        return torch.relu(self.linear(onehot)).view(-1, 1, self.size, self.size)


class CoarseGenerator(MLPGenerator):
    """z (and a one-hot label) ↦ the coarsest image I_0."""

    def __init__(self, latent_dim: int, shape: Sequence[int], num_classes: int, hidden: Sequence[int], output: str) -> None:
        super().__init__(latent_dim + num_classes, shape, hidden, "relu", output)


class CoarseDiscriminator(nn.Module):
    """I_0 (and a one-hot label) ↦ one logit, through ReLU layers with dropout."""

    def __init__(self, shape: Sequence[int], num_classes: int, hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.mlp = MLPDiscriminator((flat_size(tuple(shape)) + num_classes,), hidden, "relu", dropout)

    def forward(self, image: Tensor, onehot: Tensor | None = None) -> Tensor:
        return self.mlp(coarse_input(image.flatten(1), onehot))


class RefinementGenerator(nn.Module):
    """(u(I_{k−1}), z_k[, label]) ↦ the residual h̃_k, at the same size."""

    output_range = None  # a residual is unbounded; the sampler clamps the refined image

    def __init__(self, channels: int, size: int, num_classes: int, planes: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.label_plane = LabelPlane(num_classes, size) if num_classes else None
        inputs = channels + 1 + (1 if num_classes else 0)
        self.net = nn.Sequential(
            nn.Conv2d(inputs, planes, 7, padding=3), nn.ReLU(),
            nn.Conv2d(planes, planes, 7, padding=3), nn.ReLU(),
            nn.Conv2d(planes, channels, 5, padding=2),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        maps = inputs[:, : self.channels + 1]
        if self.label_plane is not None:
            maps = torch.cat([maps, self.label_plane(inputs[:, self.channels + 1 :, 0, 0])], dim=1)
        return self.net(maps)


class RefinementDiscriminator(nn.Module):
    """u(I_{k−1}) + h (and a label) ↦ one logit."""

    def __init__(self, channels: int, size: int, num_classes: int, planes: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        self.label_plane = LabelPlane(num_classes, size) if num_classes else None
        inputs = channels + (1 if num_classes else 0)
        half = (size + 1) // 2
        self.net = nn.Sequential(
            nn.Conv2d(inputs, planes, 5, padding=2), nn.ReLU(),
            nn.Conv2d(planes, planes, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(planes * half * half, 1),
        )

    def forward(self, image: Tensor, onehot: Tensor | None = None) -> Tensor:
        if self.label_plane is not None:
            image = torch.cat([image, self.label_plane(onehot)], dim=1)
        return self.net(image).squeeze(-1)
