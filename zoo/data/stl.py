"""STL-10 (Coates, Lee & Ng, 2011): 96×96 colour images; 5k labelled train, 100k unlabeled, 8k test.

The files are the binary version: ``stl10_binary/`` holding ``train_X.bin``, ``train_y.bin``,
``unlabeled_X.bin``, ``test_X.bin``, ``test_y.bin`` (plus ``class_names.txt`` and
``fold_indices.txt``, not needed here). An ``*_X.bin`` file is raw uint8, 27,648 bytes per image:
three colour planes, each 96×96 stored column by column. A ``*_y.bin`` file has one uint8 label per
image, numbered 1..10.

Why not ``torchvision.datasets.STL10`` for reading: it refuses files whose MD5 differs from the
published one (so no subsets or test files), and reads ``unlabeled_X.bin`` (2.7 GB) whole into
memory. :func:`read_stl10_images` memory-maps the same format instead; torchvision is still used
for ``download=True``, where its checksums guard the download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.data.base import DATA_ENV
from zoo.data.images import ArrayImageDataset, ImageDataModule, carve_validation
from zoo.errors import ZooDataError, require

STL10_FOLDER = "stl10_binary"
STL10_SIDE = 96
STL10_IMAGE_BYTES = 3 * STL10_SIDE * STL10_SIDE
STL10_POOLS = {"train": ("train",), "unlabeled": ("unlabeled",), "train+unlabeled": ("train", "unlabeled")}
UNLABELED = -1  # label of unlabeled_X.bin images, as torchvision's STL10 gives them


def stl10_files_needed(train_split: str) -> list[str]:
    names = []
    for part in STL10_POOLS[train_split] + ("test",):
        names += [f"{part}_X.bin"] + ([] if part == "unlabeled" else [f"{part}_y.bin"])
    return names


def check_stl10_files(root: Path, train_split: str = "train+unlabeled") -> None:
    """Fail with one line naming the folder and the files when STL-10 is absent."""
    folder = root / STL10_FOLDER
    missing = [name for name in stl10_files_needed(train_split) if not (folder / name).is_file()]
    if missing:
        raise ZooDataError(
            f"STL-10 not found ({', '.join(missing)} missing): place {STL10_FOLDER}/ with "
            f"train_X.bin, train_y.bin, unlabeled_X.bin, test_X.bin and test_y.bin (the binary version, "
            f"stl10_binary.tar.gz unpacked) in {root}/ "
            f"(set data.data_root or ${DATA_ENV} to the folder holding it, or data.download=true)"
        )


def read_stl10_images(path: Path) -> np.ndarray:
    """A ``*_X.bin`` file as a read-only ``(N, 3, 96, 96)`` uint8 view (memory-mapped, not loaded)."""
    size = path.stat().st_size
    if size == 0 or size % STL10_IMAGE_BYTES:
        raise ZooDataError(f"{path} is malformed: {size} bytes is not a whole number of 3×96×96 images")
    raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(size // STL10_IMAGE_BYTES, 3, STL10_SIDE, STL10_SIDE))
    # Each plane is stored column-major: swapping the last two axes gives (row, column).
    return raw.transpose(0, 1, 3, 2)


def read_stl10_labels(path: Path) -> np.ndarray:
    """A ``*_y.bin`` file as int64 labels 0..9 (the file counts from 1)."""
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ZooDataError(f"{path} is malformed: labels must be 1..10, found {labels.min() + 1}..{labels.max() + 1}")
    return labels


def read_stl10_part(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``train``, ``test`` or ``unlabeled`` (labels -1)."""
    images = read_stl10_images(folder / f"{part}_X.bin")
    if part == "unlabeled":
        return images, np.full(len(images), UNLABELED, dtype=np.int64)
    labels = read_stl10_labels(folder / f"{part}_y.bin")
    if len(labels) != len(images):
        raise ZooDataError(f"{folder / part}_y.bin has {len(labels)} labels for {len(images)} images in {part}_X.bin")
    return images, labels


class _ConcatArrays:
    """Index two array-likes as one without copying them (the unlabeled part stays memory-mapped)."""

    def __init__(self, *parts: np.ndarray) -> None:
        self.parts, self.ends = parts, np.cumsum([len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return _SliceView(self, range(len(self))[index])
        part = int(np.searchsorted(self.ends, index, side="right"))
        start = 0 if part == 0 else int(self.ends[part - 1])
        return self.parts[part][index - start]


class _SliceView:
    def __init__(self, base: _ConcatArrays, indices: range) -> None:
        self.base, self.indices = base, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.base[self.indices[index]]


class STL10DataModule(ImageDataModule):
    """STL-10 at ``channels × image_size × image_size`` (96 keeps the native resolution).

    Args:
        train_split: the training pool: ``"train"`` (5k labelled), ``"unlabeled"`` (100k) or
            ``"train+unlabeled"`` (105k, labelled first), as in torchvision's STL10 splits.
        val_size: the last ``val_size`` images of the pool form the validation split (STL-10 has
            none of its own); default 1,000.

    Splits: train = the pool minus its last ``val_size`` images; val = those; test = ``test_X.bin``
    (8k). Labels are 0..9, and -1 for unlabeled images (not 0, so they cannot pass for class 0).
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
        train_split: str = "train+unlabeled",
        val_size: int = 1000,
    ) -> None:
        super().__init__(image_size, channels, batch_size, num_workers, value_range, data_root, seed, download)
        require(
            train_split in STL10_POOLS,
            f"data.train_split must be one of {', '.join(STL10_POOLS)} for STL-10, got {train_split!r}",
        )
        self.train_split, self.val_size = train_split, val_size

    def check_files(self) -> None:
        check_stl10_files(self.data_root, self.train_split)

    def download_files(self) -> None:
        from torchvision.datasets import STL10

        STL10(str(self.data_root), split="train", download=True)

    def setup(self, stage: str | None = None) -> None:
        folder = self.data_root / STL10_FOLDER
        transform = self.make_transform()
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.check_files()
            parts = [read_stl10_part(folder, part) for part in STL10_POOLS[self.train_split]]
            images = parts[0][0] if len(parts) == 1 else _ConcatArrays(*(p[0] for p in parts))
            labels = np.concatenate([p[1] for p in parts])
            train, val = carve_validation(len(labels), self.val_size, "STL-10")
            self.train_set = ArrayImageDataset(images[train], labels[train], transform)
            self.val_set = ArrayImageDataset(images[val], labels[val], transform)
        if stage in (None, "test", "predict") and self.test_set is None:
            self.check_files()
            images, labels = read_stl10_part(folder, "test")
            self.test_set = ArrayImageDataset(images, labels, transform)
