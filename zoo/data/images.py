"""Shared pieces of the natural-image DataModules (CIFAR-10, STL-10, CelebA, LSUN, image folders).

Every image set goes through the same preprocessing, the one DCGAN-style training code uses
(Radford, Metz & Chintala, 2016, trained on 64×64 images with a ``tanh`` generator): an optional
dataset-specific centre crop, resize so the shorter side is ``image_size``, centre-crop to
``image_size × image_size``, optional conversion to grey, then map [0, 1] to the value range
(``(-1, 1)`` by default, matching ``tanh``).

The concrete DataModules live in :mod:`zoo.data.cifar`, :mod:`zoo.data.stl` and
:mod:`zoo.data.folders`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from zoo.data.base import ZooDataModule
from zoo.errors import ZooDataError, require

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageTransform:
    """uint8 image tensor ``(C, H, W)`` → float tensor ``(channels, size, size)`` in ``value_range``.

    Args:
        image_size: side of the square output.
        channels: 3 keeps RGB; 1 converts to luma (ITU-R 601 weights, as PIL's ``"L"`` mode).
        value_range: the output range; the map is ``x * (high - low) + low`` for ``x`` in [0, 1],
            the same as :meth:`ZooDataModule.rescale` (kept here so the transform pickles without
            dragging the DataModule and its trainer into DataLoader workers).
        pre_crop: side of a square centre crop taken *before* resizing (CelebA's face crop), or
            ``None``. It is clipped to the image's shorter side.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        value_range: tuple[float, float],
        pre_crop: int | None = None,
    ) -> None:
        self.image_size, self.channels, self.pre_crop = image_size, channels, pre_crop
        self.low, self.high = value_range

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.pre_crop is not None:
            side = min(self.pre_crop, image.shape[-1], image.shape[-2])
            image = TF.center_crop(image, [side, side])
        if min(image.shape[-2:]) != self.image_size:
            image = TF.resize(image, [self.image_size], antialias=True)
        if tuple(image.shape[-2:]) != (self.image_size, self.image_size):
            image = TF.center_crop(image, [self.image_size, self.image_size])
        unit = image.float().div_(255.0)
        if self.channels == 1 and unit.shape[0] == 3:
            unit = TF.rgb_to_grayscale(unit)  # on floats: uint8 conversion would truncate 255 to 254
        return unit.mul_(self.high - self.low).add_(self.low)


def pil_to_uint8(image: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image as a ``(channels, H, W)`` uint8 tensor (grey, palette and RGBA are converted)."""
    image = image.convert("L" if channels == 1 else "RGB")
    return TF.pil_to_tensor(image)


class ArrayImageDataset(Dataset):
    """Images held in memory (or memory-mapped) as uint8 ``(N, 3, H, W)`` plus integer labels.

    ``images`` may be a numpy array or memmap: each item is copied out on access, so a 2.7 GB
    memory-mapped file (STL-10 unlabeled) is never read whole.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: ImageTransform) -> None:
        require(len(images) == len(labels), f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(np.ascontiguousarray(self.images[index]))
        return self.transform(image), int(self.labels[index])


class ImageFileDataset(Dataset):
    """Images read from files on access, with one label (an int or a tensor) per file."""

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int] | torch.Tensor,
        transform: ImageTransform,
    ) -> None:
        require(len(paths) == len(labels), f"{len(paths)} image files but {len(labels)} labels")
        self.paths, self.labels, self.transform = list(paths), labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                pixels = pil_to_uint8(image, self.transform.channels)
        except (OSError, SyntaxError, ValueError) as error:  # what PIL raises for a damaged file
            raise ZooDataError(f"cannot decode image {path} ({type(error).__name__}: {error}): delete or replace the file") from None
        return self.transform(pixels), self.labels[index]


def list_image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively, symlinks followed), sorted for determinism."""
    found = []
    for directory, _, names in os.walk(folder, followlinks=True):
        found.extend(Path(directory) / n for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


# Leading bytes of each format in IMAGE_EXTENSIONS (WebP: RIFF....WEBP, checked in full below).
IMAGE_SIGNATURES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a", b"GIF89a",
    b"BM",
    b"II*\x00", b"MM\x00*",  # TIFF, little- and big-endian
    b"P1", b"P2", b"P3", b"P4", b"P5", b"P6",  # PBM/PGM/PPM
)


def has_image_signature(head: bytes) -> bool:
    """Whether ``head`` (a file's first 12 bytes) starts like one of the readable image formats."""
    return head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_image_files(paths: Sequence[Path], folder: Path) -> None:
    """Fail in one line, at setup, if any file is empty or does not start like an image.

    Reading 12 bytes per file is cheap even for 200k files, unlike decoding each one; a file that
    starts right but is damaged further on is reported (in one line) when it is first loaded.
    """
    bad = []
    for path in paths:
        with open(path, "rb") as handle:
            if not has_image_signature(handle.read(12)):
                bad.append(path)
    if bad:
        kind = "is empty" if bad[0].stat().st_size == 0 else "is not an image (unknown file signature)"
        raise ZooDataError(
            f"{len(bad)} of {len(paths)} files in {folder}/ are empty or not images; the first, {bad[0]}, {kind}: "
            f"delete or replace them"
        )


class ImageDataModule(ZooDataModule):
    """Base of the natural-image DataModules: ``image_size``, ``channels``, ``download``.

    Subclasses implement :meth:`check_files` (raise :class:`zoo.errors.ZooDataError` with one line
    naming the folder and files expected) and :meth:`setup`; :meth:`prepare_data` downloads when
    asked (through :meth:`download_files`) and otherwise checks the files are in place.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        download: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        require(image_size > 0, f"data.image_size must be positive, got {image_size}")
        require(channels in (1, 3), f"data.channels must be 1 (grey) or 3 (RGB), got {channels}")
        self.image_size, self.channels, self.download = image_size, channels, download
        self.sample_shape = (channels, image_size, image_size)

    def make_transform(self, pre_crop: int | None = None) -> ImageTransform:
        return ImageTransform(self.image_size, self.channels, self.value_range, pre_crop)

    def check_files(self) -> None:
        raise NotImplementedError

    def download_files(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot download its data; place the files by hand")

    def prepare_data(self) -> None:
        if self.download:
            self.download_files()
        self.check_files()


def carve_validation(count: int, val_size: int, name: str) -> tuple[slice, slice]:
    """Train and validation slices: the last ``val_size`` of ``count`` items are validation."""
    require(0 <= val_size < count, f"data.val_size must be in [0, {count}) for {name}, got {val_size}")
    return slice(0, count - val_size), slice(count - val_size, count)


def seeded_split(count: int, fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Split ``range(count)`` into parts of the given fractions (the rest goes first), seeded."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    sizes = [round(f * count) for f in fractions]
    require(sum(sizes) < count, f"fractions {list(fractions)} leave no training images out of {count}")
    parts, end = [], count
    for size in sizes:
        parts.append(sorted(order[end - size : end]))
        end -= size
    return [sorted(order[:end])] + parts

