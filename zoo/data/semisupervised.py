"""Semi-supervised MNIST (Salimans et al. 2016, §5 and Table 1): a few labels, many unlabelled images.

A class-balanced labelled subset of MNIST train (``num_labels`` images, ``num_labels / 10`` per
class, chosen by ``seed``; the paper averages 10 such subsets), the rest of the 60k training
images unlabelled, and the 10k MNIST test images to measure the classifier's error.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from zoo.data.base import ResumableDataLoader, ZooDataModule
from zoo.data.mnist import check_mnist_files, load_mnist_tensors
from zoo.errors import require

NUM_CLASSES = 10
GENERATOR_TARGETS = "generator_targets"  # the batch key of the unlabelled images whose features G matches


def balanced_subset(labels: Tensor, per_class: int, seed: int) -> Tensor:
    """Sorted indices of ``per_class`` examples of every class, drawn at random by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().flatten()
        require(len(members) >= per_class, f"class {label} has only {len(members)} examples, {per_class} requested")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


class LabelledAndUnlabelled(Dataset):
    """Item ``(i, j)``: unlabelled image i beside labelled example j; item ``(i, j, k)`` adds unlabelled
    image k for G's feature targets. :class:`TiledPairSampler` picks the indices."""

    def __init__(self, unlabelled: Tensor, labelled: Tensor, labels: Tensor) -> None:
        self.unlabelled, self.labelled, self.labels = unlabelled, labelled, labels

    def __len__(self) -> int:
        return len(self.unlabelled)

    def __getitem__(self, indices: tuple[int, ...]) -> dict[str, Tensor]:
        i, j, *second = indices
        item = {"unlabelled": self.unlabelled[i], "labelled": self.labelled[j], "label": self.labels[j]}
        if second:
            item[GENERATOR_TARGETS] = self.unlabelled[second[0]]
        return item


class TiledPairSampler(Sampler[tuple[int, ...]]):
    """One epoch of ``(unlabelled, labelled)`` index pairs, drawn from ``(seed, epoch)`` only.

    The unlabelled set comes in one random order; beside it, the labelled set repeated in fresh
    random orders, as the released code tiles it. So consecutive runs of ``n_labelled`` pairs hold
    every labelled example exactly once: with 100 labels and batch 100, each batch sees all of them.
    With ``second_unlabelled``, a third index follows from a second random order of the unlabelled
    set (the released code's ``trainx_unl2``), drawn after the others so the pairs stay as they were.
    """

    def __init__(self, n_unlabelled: int, n_labelled: int, seed: int = 0, second_unlabelled: bool = False) -> None:
        self.n_unlabelled, self.n_labelled, self.seed, self.epoch = n_unlabelled, n_labelled, seed, 0
        self.second_unlabelled = second_unlabelled

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        unlabelled = torch.randperm(self.n_unlabelled, generator=generator)
        tiles = -(-self.n_unlabelled // self.n_labelled)
        labelled = torch.cat([torch.randperm(self.n_labelled, generator=generator) for _ in range(tiles)])
        streams = [unlabelled.tolist(), labelled[: self.n_unlabelled].tolist()]
        if self.second_unlabelled:
            streams.append(torch.randperm(self.n_unlabelled, generator=generator).tolist())
        return zip(*streams)

    def __len__(self) -> int:
        return self.n_unlabelled


class SemiSupervisedMNISTDataModule(ZooDataModule):
    """Training batches are dicts ``{"unlabelled": x_u, "labelled": x_l, "label": y_l}`` of
    ``batch_size`` each (with ``second_unlabelled_batch``, also ``"generator_targets"``: another
    unlabelled batch, whose D features G matches, as the released code draws them); validation
    and test batches are ``(x, y)`` from the MNIST test set.

    The released code prints test error every epoch and keeps no validation set, so the
    validation split here *is* the test set: watch it, do not select checkpoints on it.
    """

    sample_shape = (1, 28, 28)

    def __init__(
        self,
        num_labels: int = 100,
        batch_size: int = 100,
        num_workers: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        download: bool = False,
        second_unlabelled_batch: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, value_range, data_root, seed)
        require(
            num_labels > 0 and num_labels % NUM_CLASSES == 0,
            f"data.num_labels must be a positive multiple of {NUM_CLASSES} (class-balanced), got {num_labels}",
        )
        self.num_labels, self.download, self.second_unlabelled_batch = num_labels, download, second_unlabelled_batch
        self.train_images: Tensor | None = None
        self.train_labels: Tensor | None = None
        self.labelled_indices: Tensor | None = None

    def prepare_data(self) -> None:
        if not self.download:
            check_mnist_files(self.data_root)
        else:
            load_mnist_tensors(self.data_root, train=True, download=True)
            load_mnist_tensors(self.data_root, train=False, download=True)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            images, labels = load_mnist_tensors(self.data_root, train=True, download=self.download)
            self.train_images, self.train_labels = self.rescale(images), labels
            self.labelled_indices = balanced_subset(labels, self.num_labels // NUM_CLASSES, self.seed)
            unlabelled = torch.ones(len(labels), dtype=torch.bool)
            unlabelled[self.labelled_indices] = False
            self.train_set = LabelledAndUnlabelled(
                self.train_images[unlabelled], self.train_images[self.labelled_indices], labels[self.labelled_indices]
            )
        if self.test_set is None:
            images, labels = load_mnist_tensors(self.data_root, train=False, download=self.download)
            self.test_set = TensorDataset(self.rescale(images), labels)
            self.val_set = self.test_set

    def train_dataloader(self) -> DataLoader:
        require(self.train_set is not None, "SemiSupervisedMNISTDataModule has no training split; call setup() first")
        pairs = TiledPairSampler(len(self.train_set.unlabelled), len(self.train_set.labelled), self.seed,
                                 self.second_unlabelled_batch)
        return ResumableDataLoader(self.train_set, batch_size=self.batch_size, sampler=pairs, drop_last=True,
                                   num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def labelled_split(self, split: str) -> tuple[Tensor, Tensor]:
        """``"train"``: all 60k training images with their true labels; ``"val"``/``"test"``: MNIST test."""
        if split == "train":
            if self.train_images is None:
                self.setup("fit")
            return self.train_images, self.train_labels
        return super().labelled_split(split)
