"""The image DataModules read tiny files written in each dataset's real on-disk format."""

import io
import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.cifar import CIFAR10DataModule, read_cifar10_class_names
from zoo.data.folders import CelebADataModule, ImageFolderDataModule, LSUNDataModule
from zoo.data.images import ImageTransform
from zoo.data.stl import STL10DataModule
from zoo.errors import ZooConfigError, ZooDataError

RNG = np.random.default_rng(0)


def random_images(count, height, width):
    return RNG.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


def unit_to_range(images_hwc, low=-1.0, high=1.0):
    return torch.from_numpy(images_hwc).permute(0, 3, 1, 2).float() / 255 * (high - low) + low


def first_batch(datamodule, split="train"):
    return next(iter(getattr(datamodule, f"{split}_dataloader")()))


# --- CIFAR-10: python pickles of {'data': (N, 3072) uint8 planes R,G,B row-major, 'labels': [...]}


def write_cifar10(root, per_batch=4, test_count=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        count = test_count if name == "test_batch" else per_batch
        images = random_images(count, 32, 32)
        labels = RNG.integers(0, 10, size=count).tolist()
        entry = {"batch_label": name, "labels": labels, "data": images.transpose(0, 3, 1, 2).reshape(count, -1)}
        if name == "data_batch_2":  # a copy re-pickled from bytes keys must read the same
            entry = {key.encode(): value for key, value in entry.items()}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written[name] = (images, labels)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar10_reads_the_pickle_format_exactly(tmp_path):
    written = write_cifar10(tmp_path)
    datamodule = CIFAR10DataModule(image_size=32, batch_size=50, data_root=str(tmp_path), val_size=4)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (16, 4, 6)
    images = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    x, y = first_batch(datamodule, "val")  # the val split is the end of data_batch_5
    torch.testing.assert_close(x, unit_to_range(images[16:]))
    assert y.tolist() == labels[16:]
    x, y = first_batch(datamodule, "test")
    torch.testing.assert_close(x, unit_to_range(written["test_batch"][0]))
    assert datamodule.sample_shape == (3, 32, 32)
    assert read_cifar10_class_names(tmp_path)[3] == "cat"


def test_cifar10_resized_and_grey(tmp_path):
    write_cifar10(tmp_path)
    datamodule = CIFAR10DataModule(image_size=64, channels=1, batch_size=8, data_root=str(tmp_path), val_size=2)
    datamodule.setup("fit")
    x, y = first_batch(datamodule)
    assert x.shape == (8, 1, 64, 64) and datamodule.sample_shape == (1, 64, 64)
    assert x.min() >= -1 and x.max() <= 1 and y.dtype == torch.int64


def test_cifar10_malformed_batch_is_a_one_line_error(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({"data": np.zeros((2, 10))}))
    with pytest.raises(ZooDataError, match="data_batch_3") as error:
        CIFAR10DataModule(data_root=str(tmp_path), val_size=2).setup("fit")
    assert "\n" not in str(error.value)


# --- STL-10: raw uint8, 3 planes of 96×96 stored column by column; labels 1..10 in *_y.bin


def write_stl10(root, counts=None):
    counts = counts or {"train": 3, "unlabeled": 4, "test": 2}
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    written = {}
    for part, count in counts.items():
        images = random_images(count, 96, 96)
        images.transpose(0, 3, 2, 1).tofile(folder / f"{part}_X.bin")  # (N, C, column, row)
        labels = RNG.integers(1, 11, size=count).astype(np.uint8)
        if part != "unlabeled":
            labels.tofile(folder / f"{part}_y.bin")
        written[part] = (images, labels.astype(int) - 1)
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    (folder / "fold_indices.txt").write_text("0 1 2\n" * 10)
    return written


def test_stl10_reads_the_column_major_binaries(tmp_path):
    written = write_stl10(tmp_path)
    datamodule = STL10DataModule(image_size=96, batch_size=16, data_root=str(tmp_path), val_size=2)
    datamodule.prepare_data()
    datamodule.setup(None)
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (5, 2, 2)
    pool = np.concatenate([written["train"][0], written["unlabeled"][0]])
    x, y = first_batch(datamodule, "val")
    torch.testing.assert_close(x, unit_to_range(pool[5:]))
    assert y.tolist() == [-1, -1]
    x, y = next(iter(torch.utils.data.DataLoader(datamodule.train_set, batch_size=16)))
    torch.testing.assert_close(x, unit_to_range(pool[:5]))
    assert y.tolist() == written["train"][1].tolist() + [-1, -1]
    x, y = first_batch(datamodule, "test")
    torch.testing.assert_close(x, unit_to_range(written["test"][0]))
    assert y.tolist() == written["test"][1].tolist()


def test_stl10_labelled_pool_at_64_pixels(tmp_path):
    write_stl10(tmp_path, {"train": 3, "test": 2})  # no unlabeled_X.bin needed for this pool
    datamodule = STL10DataModule(image_size=64, batch_size=2, data_root=str(tmp_path), train_split="train", val_size=1)
    datamodule.prepare_data()
    datamodule.setup("fit")
    x, y = first_batch(datamodule)
    assert x.shape == (2, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert len(datamodule.train_set) == 2 and y.min() >= 0
    with pytest.raises(ZooConfigError, match="train_split"):
        STL10DataModule(train_split="everything")


# --- CelebA: 178×218 aligned JPEGs and space-separated annotation files


def write_celeba(root, partitions=(0, 0, 0, 1, 2, 2)):
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    for name in names:
        image = np.zeros((218, 178, 3), dtype=np.uint8)
        image[..., 0] = 255  # red background, green 108×108 "face" in the centre
        image[55:163, 35:143] = (0, 255, 0)
        Image.fromarray(image).save(folder / "img_align_celeba" / name, quality=95)
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partitions)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {100 + i}\n" for i, n in enumerate(names)))
    attributes = [f"Attr_{k}" for k in range(40)]
    rows = [f"{n} " + " ".join(" 1" if (i + k) % 3 == 0 else "-1" for k in range(40)) for i, n in enumerate(names)]
    (folder / "list_attr_celeba.txt").write_text(f"{len(names)}\n{' '.join(attributes)}\n" + "\n".join(rows) + "\n")
    (folder / "list_bbox_celeba.txt").write_text(
        f"{len(names)}\nimage_id x_1 y_1 width height\n" + "".join(f"{n} 95 71 226 313\n" for n in names)
    )
    parts = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
    landmark_names = " ".join(f"{part}_{axis}" for part in parts for axis in "xy")
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{len(names)}\n{landmark_names}\n" + "".join(f"{n} 69 109 106 113 77 142 73 152 108 154\n" for n in names)
    )


def test_celeba_official_partitions_and_face_crop(tmp_path):
    write_celeba(tmp_path)
    datamodule = CelebADataModule(image_size=32, batch_size=8, data_root=str(tmp_path))
    datamodule.prepare_data()
    datamodule.setup(None)
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (3, 1, 2)
    x, y = first_batch(datamodule)
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 0, 0]
    assert x.min() >= -1 and x.max() <= 1
    # The 108-pixel centre crop keeps only the green face; without it the red background shows.
    assert x[:, 1].mean() > 0.9 and x[:, 0].mean() < -0.9
    uncropped = CelebADataModule(image_size=32, data_root=str(tmp_path), face_crop=None)
    uncropped.setup("fit")
    x_full, _ = first_batch(uncropped)
    assert x_full[:, 0].max() > 0.9


def test_celeba_attribute_and_identity_targets(tmp_path):
    write_celeba(tmp_path)
    attrs = CelebADataModule(image_size=32, batch_size=8, data_root=str(tmp_path), target="attr")
    attrs.setup("test")
    _, y = first_batch(attrs, "test")  # images 000005 and 000006, i.e. rows 4 and 5
    assert y.shape == (2, 40)
    assert y.tolist() == [[int((i + k) % 3 == 0) for k in range(40)] for i in (4, 5)]
    identity = CelebADataModule(image_size=32, batch_size=8, data_root=str(tmp_path), target="identity")
    identity.setup("fit")
    assert first_batch(identity, "val")[1].tolist() == [103]


# --- LSUN: an LMDB database per category and split, values are encoded images


def write_lsun(root, category, split, count, format="JPEG"):
    import lmdb

    environment = lmdb.open(str(root / f"{category}_{split}_lmdb"), map_size=1 << 24)
    with environment.begin(write=True) as txn:
        for index in range(count):
            buffer = io.BytesIO()
            Image.fromarray(random_images(1, 40 + index, 60)[0]).save(buffer, format=format)
            txn.put(f"{index:040x}".encode(), buffer.getvalue())
    environment.close()


def test_lsun_reads_lmdb_databases(tmp_path):
    write_lsun(tmp_path, "bedroom", "train", 5)
    write_lsun(tmp_path, "bedroom", "val", 2, format="PNG")
    datamodule = LSUNDataModule("bedroom", image_size=32, batch_size=4, data_root=str(tmp_path), num_workers=0)
    datamodule.prepare_data()
    datamodule.setup(None)
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (5, 2, 2)
    x, y = first_batch(datamodule)
    assert x.shape == (4, 3, 32, 32) and x.min() >= -1 and x.max() <= 1 and y.tolist() == [0] * 4
    # A copy in this process and forked DataLoader workers must each get a usable handle.
    copy = pickle.loads(pickle.dumps(datamodule.val_set))
    torch.testing.assert_close(copy[1][0], datamodule.val_set[1][0])
    in_workers = torch.utils.data.DataLoader(datamodule.train_set, batch_size=5, num_workers=2)
    in_this_process = torch.utils.data.DataLoader(datamodule.train_set, batch_size=5)
    torch.testing.assert_close(next(iter(in_workers))[0], next(iter(in_this_process))[0])


def test_lsun_without_lmdb_says_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lmdb", None)
    with pytest.raises(ZooDataError, match="pip install lmdb") as error:
        LSUNDataModule("bedroom", data_root=str(tmp_path)).prepare_data()
    assert "\n" not in str(error.value)


# --- a user's folder of images, flat or nested


def write_folder(root, layout):
    for relative, mode in layout.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode, (48, 30), color=(200 if mode == "L" else (200, 10, 10, 255)[: len(mode)])).save(path)
    (root / "notes.txt").write_text("not an image")


def test_image_folder_flat(tmp_path):
    write_folder(tmp_path, {f"img{i}.{'png' if i % 2 else 'jpg'}": "RGB" for i in range(10)})
    datamodule = ImageFolderDataModule(str(tmp_path), image_size=16, batch_size=4, val_fraction=0.2, test_fraction=0.1)
    datamodule.setup("fit")
    sizes = (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set))
    assert sizes == (7, 2, 1)
    x, y = first_batch(datamodule)
    assert x.shape == (4, 3, 16, 16) and y.tolist() == [0] * 4
    assert x[:, 0].mean() > 0.5 and x[:, 1].mean() < -0.5  # red survives, in (-1, 1)
    again = ImageFolderDataModule(str(tmp_path), val_fraction=0.2, test_fraction=0.1)
    again.setup("fit")
    assert again.val_set.paths == datamodule.val_set.paths  # the split is deterministic
    other = ImageFolderDataModule(str(tmp_path), val_fraction=0.2, split_seed=1)
    other.setup("fit")
    assert ImageFolderDataModule(str(tmp_path), val_fraction=0.2).test_fraction == 0.0
    assert other.test_set is None and len(other.val_set) == 2


def test_image_folder_nested_grey_and_rgba(tmp_path):
    layout = {"cats/a.png": "RGBA", "cats/deep/b.jpg": "RGB", "dogs/c.png": "L", "top.png": "RGB"}
    write_folder(tmp_path, layout)
    datamodule = ImageFolderDataModule(str(tmp_path), image_size=8, channels=1, batch_size=8, val_fraction=0.0)
    datamodule.setup("fit")
    assert datamodule.classes == ["", "cats", "dogs"]
    by_name = {p.name: label for p, label in zip(datamodule.train_set.paths, datamodule.train_set.labels)}
    assert by_name == {"a.png": 1, "b.jpg": 1, "c.png": 2, "top.png": 0}
    x, _ = first_batch(datamodule)
    assert x.shape == (4, 1, 8, 8) and datamodule.sample_shape == (1, 8, 8)


def test_transform_resizes_shorter_side_then_centre_crops():
    image = torch.zeros(3, 20, 40, dtype=torch.uint8)
    image[:, :, 6:34] = 255  # white centre band a little wider than the crop's 20 source columns
    out = ImageTransform(image_size=10, channels=3, value_range=(0.0, 1.0))(image)
    assert out.shape == (3, 10, 10) and torch.all(out == 1.0)  # squashing would keep black edges
    grey = ImageTransform(image_size=10, channels=1, value_range=(-1.0, 1.0))(image)
    assert grey.shape == (1, 10, 10) and torch.allclose(grey, torch.ones(1), atol=1e-3)


# --- missing data: one line naming the folder and what to put there


@pytest.mark.parametrize(
    "build, names",
    [
        (lambda root: CIFAR10DataModule(data_root=root), ["cifar-10-batches-py", "data_batch_1", "test_batch"]),
        (lambda root: STL10DataModule(data_root=root), ["stl10_binary", "train_X.bin", "unlabeled_X.bin"]),
        (lambda root: CelebADataModule(data_root=root), ["celeba", "img_align_celeba", "list_eval_partition.txt"]),
        (lambda root: LSUNDataModule("church_outdoor", data_root=root), ["church_outdoor_train_lmdb"]),
        (lambda root: ImageFolderDataModule(folder=root), ["no images"]),
    ],
)
def test_missing_data_is_one_line_naming_the_folder(tmp_path, build, names):
    datamodule = build(str(tmp_path))
    for step in (datamodule.prepare_data, datamodule.setup):
        with pytest.raises(ZooDataError) as error:
            step()
        message = str(error.value)
        assert "\n" not in message and str(tmp_path) in message
        assert all(name in message for name in names), message
