"""The DataModule contract every dataset of the zoo follows.

A zoo DataModule yields ``(x, y)`` batches, where ``x`` lies in :attr:`value_range` and has shape
``(batch, *sample_shape)``; ``y`` is a label (or zeros for unlabelled data). Generators declare the
range of their output, and :class:`zoo.core.TwoPlayerGAN` checks the two agree at setup time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from zoo.errors import require

DATA_ENV = "ZOO_DATA"


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """The data folder: the configured one, else ``$ZOO_DATA``, else ``./data``."""
    if data_root is not None:
        return Path(data_root).expanduser()
    return Path(os.environ.get(DATA_ENV, "data")).expanduser()


class EpochSeededSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at each epoch, so a run resumed from a checkpoint sees the
    same batches as an uninterrupted one (torch's default sampler draws from the global RNG).
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.length, generator=generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.permutation().tolist())

    def __len__(self) -> int:
        return self.length


class IndexBatchSampler(Sampler[torch.Tensor]):
    """Yields each batch's indices as one tensor, for a dataset that gathers a whole batch at once.

    The batches are those of ``BatchSampler(EpochSeededSampler(length, seed), batch_size, drop_last)``
    when shuffling, of ``range(length)`` in order otherwise: the same samples in the same order, and
    for a :class:`TensorDataset` the same batches, gathered by one index per tensor instead of one
    ``dataset[i]`` per sample and a collate that stacks them.
    """

    def __init__(self, length: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int = 0) -> None:
        self.order = EpochSeededSampler(length, seed) if shuffle else None
        self.length, self.batch_size, self.drop_last = length, batch_size, drop_last

    def set_epoch(self, epoch: int) -> None:
        if self.order is not None:
            self.order.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.order.epoch if self.order is not None else 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        # A generator, so the order is drawn at the first batch: Lightning makes the loader's iterator
        # before it sets the epoch at the start of a run (a resumed one too), as with BatchSampler's.
        indices = self.order.permutation() if self.order is not None else torch.arange(self.length)
        yield from indices.split(self.batch_size)[: len(self)]

    def __len__(self) -> int:
        full, rest = divmod(self.length, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1


class ResumableDataLoader(DataLoader):
    """A training loader that a run resumed mid-epoch (after SIGTERM, Ctrl-C or a crash) continues
    with that epoch's next batch, as if never stopped.

    Lightning stores :meth:`state_dict` in every checkpoint and hands it back before the resumed run
    draws its first batch; without it, the resumed epoch would start its shuffled order over. The
    position is the sampler's epoch and the batches handed out in it, so a checkpoint taken at an
    epoch's end resumes at the next epoch's first batch. The batches to skip are still loaded (any
    sampler, workers and DDP alike), which costs one partial epoch of loading once per resume.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._position: dict[str, Any] = {"epoch": None, "batches": 0}
        self._resume_at: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return dict(self._position)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume_at = dict(state)

    def __iter__(self) -> Iterator[Any]:
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        # A generator: the epoch is read at the first batch, after Lightning has set it (it makes the
        # iterator first), and only then does the sampler draw its order, workers or not.
        epoch = getattr(self.sampler, "epoch", None)
        resume_at, self._resume_at = self._resume_at, None
        # a sampler without an epoch cannot tell a resumed epoch from the next one: skip nothing then
        same_epoch = resume_at is not None and epoch is not None and resume_at["epoch"] == epoch
        skip = resume_at["batches"] if same_epoch else 0
        self._position = {"epoch": epoch, "batches": 0}
        if skip:  # the stopped run drew this iterator's seed from the global RNG before its checkpoint
            with torch.random.fork_rng(devices=[]):
                batches = super().__iter__()
        else:
            batches = super().__iter__()
        for index, batch in enumerate(batches):
            self._position["batches"] = index + 1
            if index >= skip:
                yield batch


class ZooDataModule(pl.LightningDataModule):
    """Shared loaders, data root, value range and sample shape.

    Subclasses set ``self.train_set``, ``self.val_set`` and ``self.test_set`` in :meth:`setup`, and
    define :attr:`sample_shape`.
    """

    sample_shape: tuple[int, ...] = ()

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # also records the subclass's arguments, for `zoo eval --ckpt`
        require(batch_size > 0, f"data.batch_size must be positive, got {batch_size}")
        require(num_workers >= 0, f"data.num_workers must be >= 0, got {num_workers}")
        low, high = value_range
        require(low < high, f"data.value_range must be (low, high) with low < high, got {value_range}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.value_range = (float(low), float(high))
        self.data_root = resolve_data_root(data_root)
        self.seed = seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def rescale(self, unit_images: torch.Tensor) -> torch.Tensor:
        """Map tensors in [0, 1] to :attr:`value_range`."""
        low, high = self.value_range
        return unit_images * (high - low) + low

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        require(dataset is not None, f"{type(self).__name__} has no such split; call setup() first")
        drop_last = shuffle and len(dataset) >= self.batch_size
        loader = ResumableDataLoader if shuffle else DataLoader  # shuffle: the training split
        if isinstance(dataset, TensorDataset) and self._world_size() == 1:
            # Tensors in memory: one gather per batch. Under DDP, Lightning shards the per-sample
            # sampler below across ranks, which keeps each rank's order what it always was.
            batches = IndexBatchSampler(len(dataset), self.batch_size, shuffle, drop_last, self.seed)
            return loader(dataset, batch_size=None, sampler=batches, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)
        sampler = EpochSeededSampler(len(dataset), self.seed) if shuffle else None
        return loader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=drop_last,
        )

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def split_tensors(self, split: str) -> torch.Tensor:
        """All images of a split as one tensor (used by evaluation), set up on demand."""
        return self.labelled_split(split)[0]

    def labelled_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``(images, labels)`` of a split, set up on demand."""
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if dataset is None:
            self.setup("fit" if split in ("train", "val") else "test")
            dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        # Through a DataLoader even for tensors: its iterator draws a seed from the global RNG, and
        # seeded runs that call this at fit start (VanillaGAN's bias init) depend on that draw.
        batches = list(DataLoader(dataset, batch_size=1024, shuffle=False))
        return torch.cat([x for x, _ in batches]), torch.cat([torch.as_tensor(y) for _, y in batches])
