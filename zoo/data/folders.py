"""Image sets read file by file: CelebA, LSUN (an LMDB database per category) and any image folder.

DCGAN (Radford, Metz & Chintala, 2016) trained on LSUN bedrooms (§4.1) and on faces (§4.2); CelebA
(Liu et al., 2015) is the face set later GAN work settled on.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from zoo.data.base import DATA_ENV
from zoo.data.images import (
    ImageDataModule,
    ImageFileDataset,
    ImageTransform,
    check_image_files,
    list_image_files,
    pil_to_uint8,
    seeded_split,
)
from zoo.errors import ZooDataError, require

CELEBA_FOLDER = "celeba"
CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITIONS = {"train": 0, "val": 1, "test": 2}  # codes in list_eval_partition.txt
CELEBA_TARGET_FILES = {"none": None, "attr": "list_attr_celeba.txt", "identity": "identity_CelebA.txt"}
CELEBA_FACE_CROP = 108


def read_celeba_table(path: Path, header_lines: int) -> tuple[list[str], list[list[int]]]:
    """A CelebA annotation file: ``filename v1 v2 …`` rows (space-separated) after ``header_lines``."""
    names, rows = [], []
    with open(path) as handle:
        for line in handle.read().splitlines()[header_lines:]:
            if line.strip():
                fields = line.split()
                names.append(fields[0])
                rows.append([int(v) for v in fields[1:]])
    return names, rows


class CelebADataModule(ImageDataModule):
    """CelebA aligned-and-cropped faces (178×218 JPEGs), with the dataset's official partitions.

    Files: ``<data_root>/celeba/img_align_celeba/*.jpg`` and ``list_eval_partition.txt`` (plus
    ``list_attr_celeba.txt`` for ``target="attr"``, ``identity_CelebA.txt`` for ``"identity"``), the
    layout ``torchvision.datasets.CelebA`` downloads to. The files are read directly: torchvision's
    reader insists on the published MD5 of every annotation file, even those it does not need.

    Preprocessing: a centre crop of ``face_crop × face_crop`` pixels (default 108, the crop that
    the widely used DCGAN CelebA code takes, keeping the face and dropping most background), then
    resize to ``image_size``. ``face_crop=None`` skips it (resize the shorter side, centre-crop).

    Splits: train / val / test = partition codes 0 / 1 / 2 (162,770 / 19,867 / 19,962 images).
    Labels: 0 (``target="none"``), the 40 attributes as 0/1 (``"attr"``) or the identity number.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
        download: bool = False,
        face_crop: int | None = CELEBA_FACE_CROP,
        target: str = "none",
    ) -> None:
        super().__init__(image_size, channels, batch_size, num_workers, value_range, data_root, seed, download)
        require(face_crop is None or face_crop > 0, f"data.face_crop must be positive or null, got {face_crop}")
        require(target in CELEBA_TARGET_FILES, f"data.target must be one of none, attr, identity, got {target!r}")
        self.face_crop, self.target = face_crop, target

    @property
    def folder(self) -> Path:
        return self.data_root / CELEBA_FOLDER

    def check_files(self) -> None:
        needed = ["list_eval_partition.txt"] + [n for n in [CELEBA_TARGET_FILES[self.target]] if n]
        missing = [n for n in needed if not (self.folder / n).is_file()]
        if not (self.folder / CELEBA_IMAGES).is_dir():
            missing.insert(0, f"{CELEBA_IMAGES}/")
        if missing:
            raise ZooDataError(
                f"CelebA not found ({', '.join(missing)} missing): place {CELEBA_IMAGES}/ (the aligned "
                f"JPEGs, img_align_celeba.zip unpacked) and {', '.join(needed)} in {self.folder}/ "
                f"(set data.data_root or ${DATA_ENV} to the folder holding celeba/, or data.download=true)"
            )

    def download_files(self) -> None:
        from torchvision.datasets import CelebA

        CelebA(str(self.data_root), split="all", target_type=[], download=True)

    def _labels(self, names: list[str]) -> list[int] | torch.Tensor:
        if self.target == "none":
            return [0] * len(names)
        header = 2 if self.target == "attr" else 0  # attr file: image count, then attribute names
        table_names, rows = read_celeba_table(self.folder / CELEBA_TARGET_FILES[self.target], header)
        by_name = dict(zip(table_names, rows))
        missing = [n for n in names if n not in by_name]
        if missing:
            table = CELEBA_TARGET_FILES[self.target]
            raise ZooDataError(f"{self.folder / table} has no row for {missing[0]} ({len(missing)} images lack one)")
        values = torch.tensor([by_name[n] for n in names], dtype=torch.int64)
        return (values + 1) // 2 if self.target == "attr" else values[:, 0].tolist()  # attr: -1/1 → 0/1

    def _split(self, partitions: dict[str, int], split: str, transform: ImageTransform) -> ImageFileDataset:
        names = [n for n, code in partitions.items() if code == CELEBA_PARTITIONS[split]]
        paths = [self.folder / CELEBA_IMAGES / n for n in names]
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise ZooDataError(
                f"CelebA is incomplete: {len(absent)} images of list_eval_partition.txt are not in "
                f"{self.folder / CELEBA_IMAGES}/ (first: {absent[0].name})"
            )
        return ImageFileDataset(paths, self._labels(names), transform)

    def setup(self, stage: str | None = None) -> None:
        self.check_files()
        names, codes = read_celeba_table(self.folder / "list_eval_partition.txt", 0)
        partitions = {name: row[0] for name, row in zip(names, codes)}
        transform = self.make_transform(pre_crop=self.face_crop)
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.train_set = self._split(partitions, "train", transform)
            self.val_set = self._split(partitions, "val", transform)
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = self._split(partitions, "test", transform)


_LMDB_ENVIRONMENTS: dict[str, tuple[int, object]] = {}  # database path -> (pid, open environment)


def open_lmdb_readonly(path: Path):
    """This process's read-only handle on an LMDB database, opened once per process.

    py-lmdb refuses a second open of the same files in one process, and an LMDB handle must not be
    used after a fork: a DataLoader worker closes the copy it inherited and opens its own.
    """
    import lmdb

    key = str(path.resolve())
    owner = _LMDB_ENVIRONMENTS.get(key)
    if owner is not None and owner[0] == os.getpid():
        return owner[1]
    if owner is not None:
        owner[1].close()
    environment = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
    _LMDB_ENVIRONMENTS[key] = (os.getpid(), environment)
    return environment


class LMDBImageDataset(Dataset):
    """The images (encoded JPEG/PNG/WebP values) of one LSUN LMDB database, labels 0.

    Read directly with ``lmdb`` rather than through ``torchvision.datasets.LSUN``, which writes a
    ``_cache_*`` key file into the current directory, accepts only the ten scene categories and
    uses its LMDB handle in forked DataLoader workers (see :func:`open_lmdb_readonly`).
    """

    def __init__(self, path: Path, transform: ImageTransform) -> None:
        self.path, self.transform = path, transform
        with open_lmdb_readonly(path).begin(write=False) as txn:
            self.keys = list(txn.cursor().iternext(keys=True, values=False))

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with open_lmdb_readonly(self.path).begin(write=False) as txn:
            encoded = txn.get(self.keys[index])
        with Image.open(io.BytesIO(encoded)) as image:
            pixels = pil_to_uint8(image, self.transform.channels)
        return self.transform(pixels), 0


class LSUNDataModule(ImageDataModule):
    """One LSUN scene category (Yu et al., 2015), e.g. ``"bedroom"`` as in DCGAN §4.1.

    Files: ``<data_root>/<category>_train_lmdb/`` and ``<category>_val_lmdb/``, each an LMDB
    database (``data.mdb``, ``lock.mdb``) as unpacked from ``<category>_train_lmdb.zip``; the
    ``lmdb`` package reads them (``pip install lmdb``). No download: the archives are fetched with
    the LSUN project's own script.

    Splits: train = ``<category>_train_lmdb``; val = ``<category>_val_lmdb`` (300 images); test =
    the val database too, since LSUN publishes no labelled per-category test set. Labels are 0.
    """

    def __init__(
        self,
        category: str = "bedroom",
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        data_root: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, batch_size, num_workers, value_range, data_root, seed, False)
        require(bool(category) and "/" not in category, f"data.category must name an LSUN category, got {category!r}")
        self.category = category

    def database(self, split: str) -> Path:
        return self.data_root / f"{self.category}_{split}_lmdb"

    def check_files(self) -> None:
        try:
            import lmdb  # noqa: F401
        except ImportError:
            raise ZooDataError("LSUN needs the lmdb package to read its databases: pip install lmdb") from None
        missing = [self.database(s).name for s in ("train", "val") if not (self.database(s) / "data.mdb").is_file()]
        if missing:
            raise ZooDataError(
                f"LSUN {self.category} not found ({', '.join(missing)}/data.mdb missing): place "
                f"{self.category}_train_lmdb/ and {self.category}_val_lmdb/ (LMDB folders with data.mdb, "
                f"unpacked from the LSUN zips) in {self.data_root}/ "
                f"(set data.data_root or ${DATA_ENV} to the folder holding them)"
            )

    def setup(self, stage: str | None = None) -> None:
        self.check_files()
        transform = self.make_transform()
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.train_set = LMDBImageDataset(self.database("train"), transform)
            self.val_set = LMDBImageDataset(self.database("val"), transform)
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = self.val_set or LMDBImageDataset(self.database("val"), transform)


class ImageFolderDataModule(ImageDataModule):
    """Any folder of images: every image file below ``folder`` (recursively, in any layout).

    Unlike ``torchvision.datasets.ImageFolder`` it needs no class subfolders: a flat folder works.
    Labels: the index of a file's top-level subfolder in sorted order, with files lying directly in
    ``folder`` counting as a class of their own (sorted first); a flat folder is all label 0.

    Setup reads the first bytes of every file and stops, in one line, if any is empty or does not
    start like an image (delete or replace those files: skipping them would silently change the
    splits). Splits: a seeded permutation of the sorted file list (``split_seed``, independent of the
    training seed) gives ``round(val_fraction * N)`` validation and ``round(test_fraction * N)``
    test images; the rest train. With ``test_fraction=0`` there is no test split.
    """

    def __init__(
        self,
        folder: str,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        split_seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, batch_size, num_workers, value_range, None, seed, False)
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            require(0.0 <= value < 1.0, f"data.{name} must be in [0, 1), got {value}")
        self.folder = Path(folder).expanduser()
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.classes: list[str] = []

    def check_files(self) -> None:
        if not self.folder.is_dir() or not list_image_files(self.folder):
            raise ZooDataError(
                f"no images found in {self.folder}/: put image files there "
                f"(.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, .ppm, in any subfolders) or set data.folder"
            )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        self.check_files()
        paths = list_image_files(self.folder)
        check_image_files(paths, self.folder)
        groups = [p.relative_to(self.folder).parts for p in paths]
        groups = [parts[0] if len(parts) > 1 else "" for parts in groups]
        self.classes = sorted(set(groups))
        class_index = {name: i for i, name in enumerate(self.classes)}
        labels = [class_index[g] for g in groups]
        train, val, test = seeded_split(len(paths), (self.val_fraction, self.test_fraction), self.split_seed)
        transform = self.make_transform()

        def subset(indices: list[int]) -> ImageFileDataset:
            return ImageFileDataset([paths[i] for i in indices], [labels[i] for i in indices], transform)

        self.train_set, self.val_set = subset(train), subset(val)
        self.test_set = subset(test) if test else None
