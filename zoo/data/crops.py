"""Square crops of in-memory images, cut before :class:`~zoo.data.images.ImageTransform` sees them.

LAPGAN (Denton et al., 2015) trains CIFAR-10 at 28×28 on "four 28×28 crops per image" without
saying which four. :class:`CroppedArrayDataset` offers the four corners (deterministic, four items
per image) and one random window per image; evaluation splits take the centre window.
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.data.images import ArrayImageDataset, ImageTransform
from zoo.errors import require

TRAIN_CROP_POSITIONS = ("corners", "random")
CROP_POSITIONS = (*TRAIN_CROP_POSITIONS, "centre")


def corner_offsets(height: int, width: int, crop: int) -> list[tuple[int, int]]:
    """``(top, left)`` of the top-left, top-right, bottom-left and bottom-right windows."""
    return [(0, 0), (0, width - crop), (height - crop, 0), (height - crop, width - crop)]


class CroppedArrayDataset(ArrayImageDataset):
    """:class:`ArrayImageDataset` whose items are ``crop × crop`` windows of the stored images.

    ``positions``:

    * ``"corners"``: item ``i`` is corner ``i % 4`` (in :func:`corner_offsets` order) of image
      ``i // 4``, so there are four items per image;
    * ``"centre"``: item ``i`` is the centre window of image ``i`` (offset ``(side - crop) // 2``);
    * ``"random"``: item ``i`` is a window of image ``i`` at an offset drawn uniformly from a
      generator seeded by ``(seed, i)``. It is the same window every epoch and in every DataLoader
      worker: a fixed, seeded choice of one window per image, not a fresh crop per epoch.

    The transform then only rescales (and converts to grey when asked), since its ``image_size``
    must be ``crop``.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform: ImageTransform,
        crop: int,
        positions: str,
        seed: int = 0,
    ) -> None:
        super().__init__(images, labels, transform)
        height, width = images.shape[-2:]
        require(positions in CROP_POSITIONS, f"crop positions must be one of {', '.join(CROP_POSITIONS)}, got {positions!r}")
        require(0 < crop <= min(height, width), f"crop must be in 1..{min(height, width)} for {height}×{width} images, got {crop}")
        require(transform.image_size == crop, f"the transform's image_size ({transform.image_size}) must equal the crop ({crop})")
        self.crop, self.positions, self.seed = crop, positions, seed
        self.per_image = 4 if positions == "corners" else 1

    def __len__(self) -> int:
        return len(self.images) * self.per_image

    def window(self, index: int) -> tuple[int, int, int]:
        """``(source image, top, left)`` of item ``index``."""
        source, which = divmod(index, self.per_image)
        height, width = self.images.shape[-2:]
        if self.positions == "corners":
            top, left = corner_offsets(height, width, self.crop)[which]
        elif self.positions == "centre":
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
        else:
            # A SeedSequence of the pair: distinct streams for every (seed, index) without arithmetic
            # collisions, and no generator state that DataLoader workers would have to share.
            rng = np.random.default_rng([self.seed % 2**64, source])
            top, left = (int(v) for v in rng.integers(0, [height - self.crop + 1, width - self.crop + 1]))
        return source, top, left

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        source, top, left = self.window(index)
        pixels = self.images[source][:, top : top + self.crop, left : left + self.crop]
        return self.transform(torch.from_numpy(np.ascontiguousarray(pixels))), int(self.labels[source])
