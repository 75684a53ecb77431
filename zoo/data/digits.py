"""scikit-learn's 8×8 handwritten digits: 1,797 images that ship with scikit-learn, so they need no
download. The zoo's quickstart trains on them in a couple of CPU-minutes."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from zoo.data.base import ZooDataModule
from zoo.errors import require


class DigitsDataModule(ZooDataModule):
    """The UCI optical digits (as packaged by scikit-learn), 1×8×8, grey levels 0–16 scaled to
    ``value_range``. A seeded permutation splits them into train / val / test."""

    sample_shape = (1, 8, 8)

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        val_size: int = 250,
        test_size: int = 250,
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        require(val_size >= 0 and test_size >= 0, "data.val_size and data.test_size must be >= 0")
        self.val_size, self.test_size = val_size, test_size

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.as_tensor(digits.target, dtype=torch.long)
        require(self.val_size + self.test_size < len(images), "data.val_size + data.test_size leaves no training images")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
        images, labels = self.rescale(images[order]), labels[order]
        n_test, n_val = self.test_size, self.val_size
        self.test_set = TensorDataset(images[:n_test], labels[:n_test])
        self.val_set = TensorDataset(images[n_test : n_test + n_val], labels[n_test : n_test + n_val])
        self.train_set = TensorDataset(images[n_test + n_val :], labels[n_test + n_val :])
