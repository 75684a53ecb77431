"""MNIST's splits: Goodfellow et al.'s 50k/10k/10k by default, all 60k for f-GAN."""

from __future__ import annotations

import yaml

from tests.conftest import REPO
from zoo.data.mnist import MNISTDataModule


def test_default_split_holds_out_the_last_10k_and_train_on_all_uses_every_training_image(mnist_root):
    default = MNISTDataModule(data_root=str(mnist_root))
    default.setup("fit")
    assert (len(default.train_set), len(default.val_set)) == (50_000, 10_000)
    everything = MNISTDataModule(data_root=str(mnist_root), train_on_all=True)
    everything.setup("fit")
    assert (len(everything.train_set), len(everything.val_set)) == (60_000, 10_000)
    assert (everything.train_set.tensors[0][50_000:] == default.val_set.tensors[0]).all()


def test_every_fgan_config_trains_on_all_60k_as_the_paper():
    for path in sorted((REPO / "configs" / "fgan").glob("mnist_*.yaml")):
        assert yaml.safe_load(path.read_text())["data"]["init_args"]["train_on_all"] is True, path.name
