"""CIFAR-10 crops (LAPGAN's 28×28 training): windows of the native 32×32 pixels, checked on tiny real-format files."""

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import REPO
from tests.test_image_data import first_batch, unit_to_range, write_cifar10
from zoo.data.cifar import CIFAR10DataModule
from zoo.errors import ZooConfigError

CORNERS = [(0, 0), (0, 4), (4, 0), (4, 4)]  # top-left, top-right, bottom-left, bottom-right for 28 of 32


def train_images(written):
    return np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])  # (20, 32, 32, 3), HWC


def train_labels(written):
    return sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])


def cropped_module(root, **kwargs):
    options = dict(image_size=28, crop=28, batch_size=100, data_root=str(root), val_size=4)
    datamodule = CIFAR10DataModule(**{**options, **kwargs})
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def window(images_hwc, top, left, side=28):
    return images_hwc[:, top : top + side, left : left + side, :]


def test_corner_crops_are_the_four_corners_of_the_source_pixels(tmp_path):
    written = write_cifar10(tmp_path)
    datamodule = cropped_module(tmp_path, value_range=(0.0, 1.0))
    source, labels = train_images(written)[:16], train_labels(written)[:16]
    assert len(datamodule.train_set) == 4 * 16
    x, y = datamodule.labelled_split("train")
    assert x.shape == (64, 3, 28, 28) and datamodule.sample_shape == (3, 28, 28)
    for corner, (top, left) in enumerate(CORNERS):  # item 4k + j is corner j of image k
        torch.testing.assert_close(x[corner::4], unit_to_range(window(source, top, left), 0.0, 1.0))
        assert y[corner::4].tolist() == labels
    assert not torch.equal(x[0], x[1]) and not torch.equal(x[0], x[3])


def test_validation_and_test_are_centre_crops(tmp_path):
    written = write_cifar10(tmp_path)
    datamodule = cropped_module(tmp_path, crop_positions="random")
    assert (len(datamodule.val_set), len(datamodule.test_set)) == (4, 6)
    x, y = first_batch(datamodule, "val")  # through the DataLoader, as training sees it
    torch.testing.assert_close(x, unit_to_range(window(train_images(written)[16:], 2, 2)))
    assert y.tolist() == train_labels(written)[16:]
    x, y = first_batch(datamodule, "test")
    torch.testing.assert_close(x, unit_to_range(window(written["test_batch"][0], 2, 2)))
    assert y.tolist() == written["test_batch"][1]


def random_offsets(crops, source):
    """The (top, left) where each crop sits in its source image; fails if it is no 28×28 window of it."""
    offsets = []
    for crop, image in zip(crops, source):
        found = [(top, left) for top in range(5) for left in range(5)
                 if torch.allclose(crop, unit_to_range(window(image[None], top, left))[0])]
        assert found, "a random crop is not a 28×28 window of its source image"
        offsets.append(found[0])
    return offsets


def test_random_crops_are_seeded_windows_of_the_source(tmp_path):
    written = write_cifar10(tmp_path)
    source = train_images(written)[:16]
    first = cropped_module(tmp_path, crop_positions="random", seed=3)
    x, y = first.labelled_split("train")
    assert x.shape == (16, 3, 28, 28) and y.tolist() == train_labels(written)[:16]
    offsets = random_offsets(x, source)
    assert len(set(offsets)) > 1  # drawn per image, not one offset for all
    again, _ = cropped_module(tmp_path, crop_positions="random", seed=3).labelled_split("train")
    assert torch.equal(again, x)
    assert torch.equal(first.train_set[5][0], x[5])  # the same window on every access
    other, _ = cropped_module(tmp_path, crop_positions="random", seed=4).labelled_split("train")
    assert random_offsets(other, source) != offsets


def test_grey_crops_keep_the_crop_size(tmp_path):
    write_cifar10(tmp_path)
    datamodule = cropped_module(tmp_path, channels=1, crop=20, image_size=20)
    x, _ = first_batch(datamodule)
    assert x.shape == (64, 1, 20, 20) and datamodule.sample_shape == (1, 20, 20)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(image_size=32, crop=28), r"data.image_size \(32\) must equal data.crop \(28\).*set data.image_size: 28"),
        (dict(image_size=40, crop=40), r"data.crop must be in 1..32"),
        (dict(image_size=28, crop=0), r"data.crop must be in 1..32"),
        (dict(crop_positions="centre"), r"data.crop_positions must be one of corners, random, got 'centre'"),
        (dict(image_size=28, crop=28, crop_positions="edges"), r"data.crop_positions must be one of corners, random"),
    ],
)
def test_crop_config_errors_are_one_line_at_construction(tmp_path, options, message):
    with pytest.raises(ZooConfigError, match=message) as error:
        CIFAR10DataModule(data_root=str(tmp_path), **options)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["cifar10.yaml", "cifar10_cc.yaml"])
def test_lapgan_cifar_configs_train_on_four_corner_crops(tmp_path, name):
    write_cifar10(tmp_path)
    options = yaml.safe_load((REPO / "configs" / "lapgan" / name).read_text())["data"]["init_args"]
    assert (options["crop"], options["crop_positions"], options["image_size"]) == (28, "corners", 28)
    datamodule = CIFAR10DataModule(**{**options, "num_workers": 0, "data_root": str(tmp_path), "val_size": 4})
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 4 * 16 and datamodule.val_set[0][0].shape == (3, 28, 28)
