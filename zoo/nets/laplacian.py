"""Laplacian pyramids (Burt & Adelson 1983), as LAPGAN (Denton et al. 2015, §3) uses them.

An image I of side s_K is blurred and decimated to I_{K-1} = d(I) of side s_{K-1}, and so on down
to the coarsest low-pass image I_0. Each finer level keeps the band-pass residual
h_k = I_k − u(I_{k−1}), so that I_k = u(I_{k−1}) + h_k and the image is rebuilt exactly, coarse to
fine, from (I_0, h_1, …, h_K) whatever d and u are.

The resampling follows the original code (facebook/eyescream resizes with bilinear interpolation)
rather than the paper's Gaussian 5-tap kernel, because CIFAR-10's pyramid 28 → 14 → 8 is not a
chain of halvings:

* d (down): bilinear resampling with an antialiasing (triangle) filter, i.e. a blur then a
  decimation; for a factor of 2 the blur is the separable kernel [1, 3, 3, 1] / 8;
* u (up): plain bilinear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from zoo.errors import require


def pyramid_sizes(size: int, levels: int | Sequence[int]) -> tuple[int, ...]:
    """Sides of the pyramid's images, coarsest first, ending at ``size``.

    ``levels`` is either a count (each level halves the side: 28 with 3 levels gives 7, 14, 28) or
    the sides themselves (``[8, 14, 28]``).
    """
    if isinstance(levels, int):
        require(levels >= 1, f"a pyramid needs at least one level, got {levels}")
        require(size % 2 ** (levels - 1) == 0, f"a side of {size} cannot be halved {levels - 1} times; use fewer levels or list the sides")
        return tuple(size // 2**k for k in reversed(range(levels)))
    sides = tuple(int(side) for side in levels)
    require(len(sides) >= 1 and sides[-1] == size, f"pyramid sides {list(sides)} must end at the image side {size}")
    require(all(a < b for a, b in zip(sides, sides[1:])) and sides[0] >= 1, f"pyramid sides must grow strictly from coarse to fine, got {list(sides)}")
    return sides


def downsample(images: Tensor, size: int) -> Tensor:
    """d: blur and decimate ``(n, c, s, s)`` images to side ``size``."""
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def upsample(images: Tensor, size: int) -> Tensor:
    """u: bilinear interpolation of ``(n, c, s, s)`` images to side ``size``."""
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def lowpass_images(images: Tensor, sizes: Sequence[int]) -> list[Tensor]:
    """The Gaussian pyramid: ``images`` brought down through ``sizes`` (coarsest first, last = side of images)."""
    require(images.dim() == 4 and images.shape[-1] == images.shape[-2] == sizes[-1],
            f"expected square images of side {sizes[-1]} shaped (n, c, s, s), got {list(images.shape)}")
    lows = [images]
    for size in reversed(sizes[:-1]):
        lows.append(downsample(lows[-1], size))
    return lows[::-1]


@dataclass
class Pyramid:
    """The coarsest low-pass image I_0 and the band-pass residuals h_1, …, h_K, coarse to fine."""

    coarse: Tensor
    residuals: list[Tensor]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(image.shape[-1] for image in (self.coarse, *self.residuals))


def build_pyramid(images: Tensor, levels: int | Sequence[int]) -> Pyramid:
    """The Laplacian pyramid of square ``(n, c, s, s)`` images (``levels`` as in :func:`pyramid_sizes`)."""
    sizes = pyramid_sizes(images.shape[-1], levels)
    lows = lowpass_images(images, sizes)
    residuals = [fine - upsample(coarse, fine.shape[-1]) for coarse, fine in zip(lows, lows[1:])]
    return Pyramid(lows[0], residuals)


def reconstruct(pyramid: Pyramid) -> Tensor:
    """I_K from (I_0, h_1, …, h_K): I_k = u(I_{k−1}) + h_k, coarse to fine."""
    image = pyramid.coarse
    for residual in pyramid.residuals:
        image = upsample(image, residual.shape[-1]) + residual
    return image
