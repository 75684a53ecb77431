"""Discriminator features as a representation (DCGAN §5.1): pooling, dimension, SVM, CIFAR-10 protocol."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from zoo.errors import ZooConfigError, ZooDataError
from zoo.eval.dfeat import cifar10_protocol, dfeat_svm, discriminator_features, pooled_features
from zoo.nets.dcgan import DCGANDiscriminator


@pytest.mark.parametrize("image_size, channels, width", [(32, 1, 4), (64, 3, 2)])
def test_feature_dimension_is_sum_of_layer_widths_times_16(image_size, channels, width):
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(image_size, channels, width)
    features = discriminator_features(discriminator, torch.randn(6, channels, image_size, image_size), batch_size=4)
    layer_widths = [fmap.shape[1] for fmap in discriminator.features(torch.zeros(2, channels, image_size, image_size))]
    assert features.shape == (6, sum(c * 16 for c in layer_widths))
    assert features.shape[1] == sum(discriminator.feature_widths) * 16


def test_pooling_takes_the_maximum_of_each_cell():
    fmap = torch.arange(64.0).reshape(1, 1, 8, 8)  # the largest value of each 2×2 cell is its bottom right
    pooled = pooled_features([fmap, torch.ones(1, 2, 4, 4)])
    assert torch.equal(pooled[0, :16], torch.tensor([9.0, 11, 13, 15, 25, 27, 29, 31, 41, 43, 45, 47, 57, 59, 61, 63]))
    assert pooled.shape == (1, 16 + 32)


def test_features_do_not_depend_on_the_batch_and_leave_the_mode_alone():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(32, 1, 4).train()
    images = torch.randn(8, 1, 32, 32)
    together = discriminator_features(discriminator, images, batch_size=8)
    one_by_one = discriminator_features(discriminator, images, batch_size=1)
    assert torch.allclose(together, one_by_one, atol=1e-5)
    assert discriminator.training


def _stripes(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes: a bright band in the top half or in the bottom half, on noise."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = torch.randn(n, 1, 32, 32, generator=generator) * 0.3 - 0.5
    for i, label in enumerate(labels.tolist()):
        rows = slice(4, 12) if label == 0 else slice(20, 28)
        images[i, 0, rows] += 1.0
    return images.clamp(-1, 1), labels


def test_svm_on_random_discriminator_features_separates_a_toy_problem():
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(32, 1, 4)
    train_x, train_y = _stripes(200, generator)
    test_x, test_y = _stripes(100, generator)
    result = dfeat_svm(discriminator, train_x, train_y, test_x, test_y, C=0.1)
    assert result["accuracy"] >= 0.95
    assert (result["n_train"], result["n_test"], result["feature_dim"]) == (200, 100, (4 + 8 + 16) * 16)
    shuffled = dfeat_svm(discriminator, train_x, train_y[torch.randperm(200, generator=generator)], test_x, test_y, C=0.1)
    assert shuffled["accuracy"] < 0.75  # labels carry the signal, not some artefact of the pipeline


def test_dfeat_svm_rejects_mismatched_inputs():
    discriminator = DCGANDiscriminator(32, 1, 4)
    with pytest.raises(ZooConfigError, match="labels"):
        dfeat_svm(discriminator, torch.zeros(4, 1, 32, 32), torch.zeros(3), torch.zeros(2, 1, 32, 32), torch.zeros(2))
    with pytest.raises(ZooConfigError, match="two classes"):
        dfeat_svm(discriminator, torch.zeros(4, 1, 32, 32), torch.zeros(4), torch.zeros(2, 1, 32, 32), torch.zeros(2))


def test_cifar10_protocol_runs_on_tiny_cifar_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 2, 12)
        data = rng.integers(0, 60, (12, 3, 32, 32)).astype(np.uint8)
        data[labels == 1, 0] += 190  # class 1 is red
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data.reshape(12, -1), "labels": labels.tolist()}, handle)
    torch.manual_seed(0)
    result = cifar10_protocol(DCGANDiscriminator(32, 3, 2), data_root=tmp_path, C=0.1, train_limit=40)
    assert (result["n_train"], result["n_test"], result["feature_dim"]) == (40, 12, (2 + 4 + 8) * 16)
    assert result["accuracy"] >= 0.9 and result["paper_accuracy"] == 0.828


def test_cifar10_protocol_errors(tmp_path):
    with pytest.raises(ZooConfigError, match="3×32×32"):
        cifar10_protocol(DCGANDiscriminator(32, 1, 2), data_root=tmp_path)
    with pytest.raises(ZooDataError, match="CIFAR-10 not found"):
        cifar10_protocol(DCGANDiscriminator(32, 3, 2), data_root=tmp_path)
