"""MNIST through torchvision, split 50k/10k/10k as in Goodfellow et al. (2014)."""

from __future__ import annotations

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


def check_mnist_files(root: Path) -> None:
    """Fail with one line naming the folder and the four files when MNIST is absent."""
    raw = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).exists() and not (raw / f"{name}.gz").exists()]
    if missing:
        raise ZooDataError(
            f"MNIST not found: place {', '.join(n + '.gz' for n in MNIST_FILES)} in {raw}/ "
            f"(set data.data_root or ${DATA_ENV} to the folder holding MNIST/, or data.download=true)"
        )


def load_mnist_tensors(
    data_root: str | Path | None = None, train: bool = True, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """All of MNIST train (60k) or test (10k) as ``(images in [0, 1] of shape N×1×28×28, labels)``."""
    from torchvision.datasets import MNIST

    root = resolve_data_root(data_root)
    if not download:
        check_mnist_files(root)
    dataset = MNIST(str(root), train=train, download=download)
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    return images, dataset.targets.clone()


class MNISTDataModule(ZooDataModule):
    """MNIST digits, 1×28×28 (or zero-padded to 1×32×32 for convolutional nets).

    Splits: train = MNIST train 0–49,999; val = MNIST train 50,000–59,999; test = MNIST test (10k).
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
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        self.pad_to_32 = pad_to_32
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
            self.train_set = TensorDataset(images[:TRAIN_SIZE], labels[:TRAIN_SIZE])
            self.val_set = TensorDataset(images[TRAIN_SIZE:], labels[TRAIN_SIZE:])
        if stage in (None, "test", "predict") and self.test_set is None:
            images, labels = load_mnist_tensors(self.data_root, train=False, download=self.download)
            self.test_set = TensorDataset(self._prepare(images), labels)
