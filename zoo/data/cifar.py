"""CIFAR-10 (Krizhevsky, 2009): 50k training and 10k test colour images of 32×32, ten classes.

The files are the "python version" from the dataset's site: ``cifar-10-batches-py/`` holding
``data_batch_1`` … ``data_batch_5``, ``test_batch`` and ``batches.meta``. Each batch is a pickle of
a dict with ``data`` (uint8 array of shape ``(10000, 3072)``: 1024 red, then 1024 green, then 1024
blue values, each plane row-major) and ``labels`` (a list of ints in 0..9); ``batches.meta`` holds
``label_names``.

Why not ``torchvision.datasets.CIFAR10`` for reading: it refuses any file whose MD5 differs from
the published one, so it cannot read a subset, a re-pickled copy or the tiny files the tests write.
:func:`read_cifar_batch` reads that same pickle format directly and checks shapes instead; torchvision
is still used for ``download=True``, where its checksums guard the download.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from zoo.data.base import DATA_ENV
from zoo.data.crops import TRAIN_CROP_POSITIONS, CroppedArrayDataset
from zoo.data.images import ArrayImageDataset, ImageDataModule, ImageTransform, carve_validation
from zoo.errors import ZooDataError, require

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)
CIFAR10_META_FILE = "batches.meta"
CIFAR_PIXELS = 3 * 32 * 32


def check_cifar10_files(root: Path) -> None:
    """Fail with one line naming the folder and the files when CIFAR-10 is absent."""
    folder = root / CIFAR10_FOLDER
    expected = CIFAR10_TRAIN_FILES + CIFAR10_TEST_FILES
    missing = [name for name in expected if not (folder / name).is_file()]
    if missing:
        raise ZooDataError(
            f"CIFAR-10 not found ({', '.join(missing)} missing): place {CIFAR10_FOLDER}/ with "
            f"data_batch_1..data_batch_5, test_batch and batches.meta (the python version, "
            f"cifar-10-python.tar.gz unpacked) in {root}/ "
            f"(set data.data_root or ${DATA_ENV} to the folder holding it, or data.download=true)"
        )


def _text_keys(entry: dict) -> dict:
    # The published pickles were written by Python 2; read with latin-1 their keys are str, but a
    # file re-pickled by Python 3 from bytes keys keeps bytes. Accept both.
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file as ``(uint8 images (N, 3, 32, 32), int64 labels (N,))``."""
    with open(path, "rb") as handle:
        entry = _text_keys(pickle.load(handle, encoding="latin1"))
    if "data" not in entry or ("labels" not in entry and "fine_labels" not in entry):
        raise ZooDataError(f"{path} is not a CIFAR batch: its dict lacks 'data' and 'labels'")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != CIFAR_PIXELS or len(data) != len(labels):
        raise ZooDataError(
            f"{path} is malformed: expected data of shape (N, {CIFAR_PIXELS}) and N labels, "
            f"got data {tuple(data.shape)} and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_split(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Several batch files concatenated in order."""
    batches = [read_cifar_batch(folder / name) for name in names]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def read_cifar10_class_names(root: Path) -> list[str]:
    """The ten class names from ``batches.meta``."""
    with open(root / CIFAR10_FOLDER / CIFAR10_META_FILE, "rb") as handle:
        return list(_text_keys(pickle.load(handle, encoding="latin1"))["label_names"])


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10, ``channels × image_size × image_size`` (32 keeps the native resolution).

    Splits: train = the first ``50,000 - val_size`` training images (batch order); val = the last
    ``val_size`` training images (default 5,000, i.e. ``data_batch_5``); test = ``test_batch``.
    Labels are the class indices 0..9.

    With ``crop`` set, images are not resized but cut to ``crop × crop`` windows of the native
    32×32 (``image_size`` must equal ``crop``), as LAPGAN's 28×28 training: ``crop_positions``
    ``"corners"`` makes the training split each image's four corner windows (four times as many
    items), ``"random"`` one seeded random window per image (see
    :class:`~zoo.data.crops.CroppedArrayDataset`). Validation and test take the centre window.
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        download: bool = False,
        val_size: int = 5000,
        crop: int | None = None,
        crop_positions: str = "corners",
    ) -> None:
        super().__init__(image_size, channels, batch_size, num_workers, value_range, data_root, seed, download)
        require(
            crop_positions in TRAIN_CROP_POSITIONS,
            f"data.crop_positions must be one of {', '.join(TRAIN_CROP_POSITIONS)}, got {crop_positions!r}",
        )
        if crop is not None:
            require(0 < crop <= 32, f"data.crop must be in 1..32 (CIFAR-10 images are 32×32), got {crop}")
            require(
                image_size == crop,
                f"data.image_size ({image_size}) must equal data.crop ({crop}), crops are not resized: "
                f"set data.image_size: {crop}, or drop data.crop to resize whole images",
            )
        self.val_size, self.crop, self.crop_positions = val_size, crop, crop_positions

    def check_files(self) -> None:
        check_cifar10_files(self.data_root)

    def download_files(self) -> None:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(self.data_root), train=True, download=True)

    def setup(self, stage: str | None = None) -> None:
        folder = self.data_root / CIFAR10_FOLDER
        transform = self.make_transform()
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.check_files()
            images, labels = read_cifar_split(folder, CIFAR10_TRAIN_FILES)
            train, val = carve_validation(len(images), self.val_size, "CIFAR-10")
            self.train_set = self._dataset(images[train], labels[train], transform, self.crop_positions)
            self.val_set = self._dataset(images[val], labels[val], transform, "centre")
        if stage in (None, "test", "predict") and self.test_set is None:
            self.check_files()
            images, labels = read_cifar_split(folder, CIFAR10_TEST_FILES)
            self.test_set = self._dataset(images, labels, transform, "centre")

    def _dataset(self, images: np.ndarray, labels: np.ndarray, transform: ImageTransform, positions: str) -> ArrayImageDataset:
        if self.crop is None:
            return ArrayImageDataset(images, labels, transform)
        return CroppedArrayDataset(images, labels, transform, self.crop, positions, self.seed)
