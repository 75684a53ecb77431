"""MNIST, read from its original IDX files (extracted or ``.gz``), split 50k/10k/10k as in Goodfellow et al. (2014)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from zoo.data.base import DATA_ENV, ZooDataModule, resolve_data_root
from zoo.errors import ZooDataError

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
TRAIN_SIZE = 50_000  # images 0..49,999 of MNIST train; 50,000..59,999 are the validation set
SPLIT_SIZES = {True: 60_000, False: 10_000}  # train, test
IDX_UNSIGNED_BYTE = 0x08


def check_mnist_files(root: Path) -> None:
    """Fail with one line naming the folder and the four files when MNIST is absent.

    Each file may be the original ``.gz`` archive or its extracted copy; both are read.
    """
    raw = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).is_file() and not (raw / f"{name}.gz").is_file()]
    if missing:
        raise ZooDataError(
            f"MNIST not found ({', '.join(missing)} missing): place {', '.join(n + '.gz' for n in MNIST_FILES)} "
            f"(or their extracted copies) in {raw}/ "
            f"(set data.data_root or ${DATA_ENV} to the folder holding MNIST/, or data.download=true)"
        )


def read_idx(path: Path, dims: int) -> torch.Tensor:
    """An IDX file of unsigned bytes with ``dims`` dimensions (LeCun's MNIST format), ``.gz`` or not.

    Header: two zero bytes, the type code 0x08, the number of dimensions, then each size as a
    big-endian 32-bit integer; the data follow. A wrong header or a data size that does not match
    it (a truncated download, an HTML error page) raises :class:`ZooDataError` in one line.
    """
    fix = "replace it with the original file from the MNIST site (or set data.download=true)"
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ZooDataError(f"MNIST file {path} cannot be read ({type(error).__name__}: {error}): {fix}") from None
    header_size = 4 + 4 * dims
    if len(data) < header_size or data[:4] != bytes([0, 0, IDX_UNSIGNED_BYTE, dims]):
        raise ZooDataError(f"MNIST file {path} is not an IDX file of {dims}-D unsigned bytes (bad header {data[:4].hex()}): {fix}")
    shape = struct.unpack(f">{dims}I", data[4:header_size])
    expected = header_size + math.prod(shape)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ZooDataError(f"MNIST file {path} is {state}: {len(data)} bytes where its header {list(shape)} needs {expected}: {fix}")
    return torch.frombuffer(bytearray(data[header_size:]), dtype=torch.uint8).reshape(shape)


def _mnist_file(raw: Path, name: str) -> Path:
    """The extracted file if present, else its ``.gz`` archive."""
    return raw / name if (raw / name).is_file() else raw / f"{name}.gz"


def load_mnist_tensors(
    data_root: str | Path | None = None, train: bool = True, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """All of MNIST train (60k) or test (10k) as ``(images in [0, 1] of shape N×1×28×28, labels)``."""
    root = resolve_data_root(data_root)
    if download:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=train, download=True)
    check_mnist_files(root)
    raw, prefix = root / "MNIST" / "raw", "train" if train else "t10k"
    images_path, labels_path = _mnist_file(raw, f"{prefix}-images-idx3-ubyte"), _mnist_file(raw, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    count = SPLIT_SIZES[train]
    if tuple(images.shape) != (count, 28, 28) or len(labels) != count:
        raise ZooDataError(
            f"MNIST {prefix} files hold {list(images.shape)} images and {len(labels)} labels, expected [{count}, 28, 28] "
            f"and {count}: {images_path.parent} holds other files under MNIST's names; put the original ones there"
        )
    return images.unsqueeze(1).float().div_(255.0), labels.long()


class MNISTDataModule(ZooDataModule):
    """MNIST digits, 1×28×28 (or zero-padded to 1×32×32 for convolutional nets).

    Splits: train = MNIST train 0–49,999; val = MNIST train 50,000–59,999; test = MNIST test (10k).
    ``train_on_all=True`` trains on all 60,000 training images, as f-GAN does (Nowozin et al. 2016,
    §4.2); val stays images 50,000–59,999, so it is then no longer held out.
    """

    def __init__(
        self,
        batch_size: int = 100,
        num_workers: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        pad_to_32: bool = False,
        download: bool = False,
        train_on_all: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        self.pad_to_32 = pad_to_32
        self.train_on_all = train_on_all
        self.download = download
        self.sample_shape = (1, 32, 32) if pad_to_32 else (1, 28, 28)

    def prepare_data(self) -> None:
        if self.download:
            from torchvision.datasets import MNIST

            MNIST(str(self.data_root), train=True, download=True)
            MNIST(str(self.data_root), train=False, download=True)
        else:
            check_mnist_files(self.data_root)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if self.pad_to_32:
            images = F.pad(images, (2, 2, 2, 2))
        return self.rescale(images)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            images, labels = load_mnist_tensors(self.data_root, train=True, download=self.download)
            images = self._prepare(images)
            train_size = len(images) if self.train_on_all else TRAIN_SIZE
            self.train_set = TensorDataset(images[:train_size], labels[:train_size])
            self.val_set = TensorDataset(images[TRAIN_SIZE:], labels[TRAIN_SIZE:])
        if stage in (None, "test", "predict") and self.test_set is None:
            images, labels = load_mnist_tensors(self.data_root, train=False, download=self.download)
            self.test_set = TensorDataset(self._prepare(images), labels)
