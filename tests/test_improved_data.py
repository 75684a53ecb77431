"""Semi-supervised MNIST: class-balanced labelled subsets, the rest unlabelled, the test set apart."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from zoo.data.semisupervised import (
    GENERATOR_TARGETS,
    LabelledAndUnlabelled,
    SemiSupervisedMNISTDataModule,
    TiledPairSampler,
    balanced_subset,
)
from zoo.errors import ZooConfigError


def test_balanced_subset_takes_the_same_number_of_each_class_chosen_by_seed():
    labels = torch.arange(3).repeat_interleave(20)[torch.randperm(60)]
    chosen = balanced_subset(labels, per_class=4, seed=0)
    assert torch.bincount(labels[chosen]).tolist() == [4, 4, 4]
    assert torch.equal(chosen, balanced_subset(labels, 4, seed=0))
    assert not torch.equal(chosen, balanced_subset(labels, 4, seed=1))


def test_every_batch_of_n_labelled_pairs_holds_each_labelled_example_once():
    dataset = LabelledAndUnlabelled(torch.randn(60, 2), torch.arange(20.0)[:, None].repeat(1, 2), torch.arange(20))
    loader = DataLoader(dataset, batch_size=20, sampler=TiledPairSampler(60, 20, seed=0))
    batches = list(loader)
    assert len(batches) == 3
    for batch in batches:
        assert sorted(batch["label"].tolist()) == list(range(20))
        assert torch.equal(batch["labelled"][:, 0], batch["label"].float())
    assert torch.cat([b["unlabelled"] for b in batches]).unique(dim=0).shape == (60, 2)  # each unlabelled once


def test_pair_order_depends_on_seed_and_epoch_only():
    first, again, other_seed = TiledPairSampler(30, 7, seed=1), TiledPairSampler(30, 7, seed=1), TiledPairSampler(30, 7, seed=2)
    assert list(first) == list(again) != list(other_seed)
    before = list(first)
    first.set_epoch(1)
    assert list(first) != before
    labelled = [j for _, j in before]
    assert [sorted(labelled[k:k + 7]) for k in range(0, 28, 7)] == [list(range(7))] * 4 and len(labelled) == 30


def test_a_second_unlabelled_stream_leaves_the_pairs_as_they_were_and_covers_the_set_in_its_own_order():
    plain, with_second = TiledPairSampler(30, 7, seed=1), TiledPairSampler(30, 7, seed=1, second_unlabelled=True)
    triples = list(with_second)
    assert [(i, j) for i, j, _ in triples] == list(plain)  # the checkpoints of runs without it resume unchanged
    second = [k for _, _, k in triples]
    assert sorted(second) == list(range(30)) and second != [i for i, _, _ in triples]
    dataset = LabelledAndUnlabelled(torch.arange(30.0)[:, None], torch.zeros(7, 1), torch.zeros(7, dtype=torch.long))
    batch = next(iter(DataLoader(dataset, batch_size=10, sampler=with_second)))
    assert batch[GENERATOR_TARGETS][:, 0].tolist() == [float(k) for k in second[:10]]
    assert GENERATOR_TARGETS not in next(iter(DataLoader(dataset, batch_size=10, sampler=plain)))


def test_num_labels_must_be_class_balanced():
    with pytest.raises(ZooConfigError, match="multiple of 10"):
        SemiSupervisedMNISTDataModule(num_labels=25)


@pytest.fixture(scope="module")
def mnist_100(mnist_root):
    datamodule = SemiSupervisedMNISTDataModule(num_labels=100, data_root=str(mnist_root), seed=3)
    datamodule.setup("fit")
    return datamodule


def test_mnist_split_has_100_balanced_labels_and_the_rest_unlabelled(mnist_100):
    train = mnist_100.train_set
    assert len(train.labelled) == 100 and len(train.unlabelled) == 60_000 - 100
    assert torch.bincount(train.labels).tolist() == [10] * 10
    assert torch.equal(train.labels, mnist_100.train_labels[mnist_100.labelled_indices])
    # the labelled images are exactly the ones missing from the unlabelled set
    pixel_sums = mnist_100.train_images.flatten(1).sum(1)
    assert torch.isclose(train.unlabelled.flatten(1).sum(1).sum() + train.labelled.flatten(1).sum(1).sum(), pixel_sums.sum())
    assert len(mnist_100.test_set) == 10_000 and mnist_100.val_set is mnist_100.test_set


def test_mnist_training_batches_are_dicts_of_three_aligned_parts(mnist_100):
    batch = next(iter(mnist_100.train_dataloader()))
    assert batch["unlabelled"].shape == (100, 1, 28, 28) and batch["labelled"].shape == (100, 1, 28, 28)
    assert batch["label"].shape == (100,) and batch["label"].dtype == torch.int64
    assert 0.0 <= batch["unlabelled"].min() and batch["unlabelled"].max() <= 1.0
    assert len(mnist_100.train_dataloader()) == 599
    assert sorted(batch["label"].tolist()) == sorted(mnist_100.train_set.labels.tolist())  # all 100 labels


def test_the_labelled_subset_is_drawn_by_the_data_seed(mnist_100):
    assert torch.equal(mnist_100.labelled_indices, balanced_subset(mnist_100.train_labels, 10, seed=3))
    assert not torch.equal(mnist_100.labelled_indices, balanced_subset(mnist_100.train_labels, 10, seed=4))
