"""Stacked MNIST (Metz et al. 2017, §3.3.1; Srivastava et al. 2017): three MNIST digits as the
R, G and B channels of one image, so 10³ = 1000 modes.

Each split draws its index triples once, from ``seed``, out of the matching MNIST split (train:
MNIST train 0–49,999; val: 50,000–59,999; test: MNIST test). An image's label is its mode,
100·a + 10·b + c for digits (a, b, c) in (R, G, B).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data.base import ZooDataModule
from zoo.data.mnist import TRAIN_SIZE, check_mnist_files, load_mnist_tensors
from zoo.errors import require

NUM_MODES = 1000
PLACE_VALUES = torch.tensor([100, 10, 1])


class StackedDigits(Dataset):
    """``(3×H×W image in value_range, mode)`` for each index triple; digits kept as bytes."""

    def __init__(self, digits: Tensor, labels: Tensor, triples: Tensor, value_range: tuple[float, float]) -> None:
        self.digits, self.labels, self.triples = digits, labels, triples
        self.low, self.high = value_range

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        triple = self.triples[index]
        image = self.digits[triple].float().div_(255.0) * (self.high - self.low) + self.low
        return image, (self.labels[triple] * PLACE_VALUES).sum()


def draw_triples(pool: int, count: int, generator: torch.Generator) -> Tensor:
    """``count`` independent triples of indices into a pool of ``pool`` digits."""
    return torch.randint(pool, (count, 3), generator=generator)


class StackedMNISTDataModule(ZooDataModule):
    """Stacked MNIST: 3×28×28 images (or zero-padded 3×32×32 for convolutional nets), 1000 modes."""

    num_modes = NUM_MODES

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        pad_to_32: bool = True,
        train_size: int = 100_000,
        val_size: int = 10_000,
        test_size: int = 10_000,
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        require(min(train_size, val_size, test_size) > 0, "data split sizes must be positive")
        self.pad_to_32 = pad_to_32
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.sample_shape = (3, 32, 32) if pad_to_32 else (3, 28, 28)

    def prepare_data(self) -> None:
        check_mnist_files(self.data_root)

    def _bytes(self, train: bool) -> tuple[Tensor, Tensor]:
        images, labels = load_mnist_tensors(self.data_root, train=train)
        if self.pad_to_32:
            images = F.pad(images, (2, 2, 2, 2))
        return images.squeeze(1).mul(255).round().to(torch.uint8), labels

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(self.seed)
        (train_digits, train_labels), (test_digits, test_labels) = self._bytes(True), self._bytes(False)
        pools = {
            "train": (train_digits[:TRAIN_SIZE], train_labels[:TRAIN_SIZE]),
            "val": (train_digits[TRAIN_SIZE:], train_labels[TRAIN_SIZE:]),
            "test": (test_digits, test_labels),
        }
        splits = {}
        for name, (digits, labels) in pools.items():
            triples = draw_triples(len(digits), self.sizes[name], generator)
            splits[name] = StackedDigits(digits, labels, triples, self.value_range)
        self.train_set, self.val_set, self.test_set = splits["train"], splits["val"], splits["test"]
