"""Bad input stops with one line naming the value and the fix, before any training starts."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.test_security import CreatesFile, write_tiny_checkpoint
from zoo.checkpoints import check_resume_checkpoint, read_checkpoint
from zoo.cli import main as zoo_main
from zoo.errors import ZooConfigError, ZooDataError


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("real") / "real.ckpt")


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


# ------------------------------------------------------------------------------------- models
def _vanilla(**kwargs):
    from zoo.models.vanilla import VanillaGAN

    return VanillaGAN(**{"data_shape": (1, 4, 4), "latent_dim": 2, "g_hidden": (4,), "d_hidden": (4,), "d_pieces": 2, **kwargs})


def _dcgan(**kwargs):
    from zoo.models.dcgan import DCGAN

    return DCGAN(**{"image_size": 32, "channels": 1, "latent_dim": 2, "g_width": 2, "d_width": 2, **kwargs})


def _fgan(**kwargs):
    from zoo.models.fgan import FGAN

    return FGAN(**{"data_shape": (1, 4, 4), "latent_dim": 2, "g_hidden": (4,), "v_hidden": (4,), **kwargs})


@pytest.mark.parametrize(
    "build, option, value, expected",
    [
        (_vanilla, "latent_dim", -5, "model.latent_dim must be a positive integer, got -5"),
        (_vanilla, "latent_dim", 0, "model.latent_dim must be a positive integer, got 0"),
        (_vanilla, "g_hidden", (4, 0), "model.g_hidden must list positive layer widths, got [4, 0]"),
        (_vanilla, "d_hidden", (-3,), "model.d_hidden must list positive layer widths, got [-3]"),
        (_vanilla, "d_pieces", 0, "model.d_pieces must be a positive integer"),
        (_vanilla, "d_input_dropout", 1.0, "model.d_input_dropout is a drop probability in [0, 1), got 1.0"),
        (_vanilla, "d_hidden_dropout", -0.1, "model.d_hidden_dropout is a drop probability in [0, 1), got -0.1"),
        (_vanilla, "data_shape", (1, 0, 4), "model.data_shape must be positive sizes"),
        (_vanilla, "g_init_range", -0.05, "model.g_init_range must be positive"),
        (_dcgan, "latent_dim", -5, "model.latent_dim must be a positive integer, got -5"),
        (_dcgan, "g_width", 0, "model.g_width must be a positive integer, got 0"),
        (_dcgan, "d_width", -1, "model.d_width must be a positive integer, got -1"),
        (_fgan, "latent_dim", 0, "model.latent_dim must be a positive integer, got 0"),
        (_fgan, "g_hidden", (0,), "model.g_hidden must list positive layer widths, got [0]"),
        (_fgan, "v_hidden", (4, -1), "model.v_hidden must list positive layer widths, got [4, -1]"),
    ],
)
def test_model_values_out_of_range_fail_in_one_line(build, option, value, expected):
    with pytest.raises(ZooConfigError) as error:
        build(**{option: value})
    assert expected in one_line(error)


def test_zoo_fit_with_a_negative_latent_dim_stops_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")
    assert zoo_main(["fit", "--config", config, "--model.init_args.latent_dim", "-5", "--trainer.max_epochs", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["zoo: error: model.latent_dim must be a positive integer, got -5"]
    assert not (tmp_path / "runs").exists()


# -------------------------------------------------------------------------------- zoo eval
@pytest.mark.parametrize("count", ["0", "-3"])
def test_zoo_eval_rejects_a_sample_count_below_one(count, real_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["eval", "--ckpt", str(real_checkpoint), "--metrics", "parzen", "--num-samples", count, "--out", str(out)]
    assert zoo_main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"--num-samples must be a positive count, got {count}" in lines[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------ MNIST
def idx_bytes(data: bytes, *shape: int) -> bytes:
    """An IDX file of unsigned bytes: 0, 0, type 0x08, the number of dimensions, sizes, data."""
    return bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def write_mnist(root: Path, test_images: bytes, test_labels: bytes, suffix: str = "") -> Path:
    """An MNIST/raw folder: the given test files, placeholder train files (not read for the test split)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    files = {"t10k-images-idx3-ubyte": test_images, "t10k-labels-idx1-ubyte": test_labels,
             "train-images-idx3-ubyte": b"", "train-labels-idx1-ubyte": b""}
    for name, content in files.items():
        (raw / f"{name}{suffix}").write_bytes(gzip.compress(content) if suffix == ".gz" else content)
    return raw


def valid_test_split() -> tuple[bytes, bytes, torch.Tensor]:
    pixels = torch.randint(0, 256, (10_000, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = bytes(i % 10 for i in range(10_000))
    return idx_bytes(pixels.numpy().tobytes(), 10_000, 28, 28), idx_bytes(labels, 10_000), pixels


def test_mnist_reads_the_gz_archives_alone(tmp_path):
    from zoo.data.mnist import MNISTDataModule, load_mnist_tensors

    images, labels, pixels = valid_test_split()
    raw = write_mnist(tmp_path, images, labels, suffix=".gz")
    assert sorted(p.suffix for p in raw.iterdir()) == [".gz"] * 4
    loaded, targets = load_mnist_tensors(tmp_path, train=False)
    assert torch.equal(loaded, pixels.unsqueeze(1).float() / 255.0)
    assert targets.dtype == torch.int64 and targets[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    datamodule = MNISTDataModule(data_root=str(tmp_path))
    datamodule.setup("test")
    assert len(datamodule.test_set) == 10_000


def test_a_truncated_mnist_file_fails_in_one_line(tmp_path):
    from zoo.data.mnist import load_mnist_tensors

    images, labels, _ = valid_test_split()
    raw = write_mnist(tmp_path, images[:5_000], labels)
    with pytest.raises(ZooDataError) as error:
        load_mnist_tensors(tmp_path, train=False)
    message = one_line(error)
    assert str(raw / "t10k-images-idx3-ubyte") in message and "is truncated: 5000 bytes" in message
    assert "replace it with the original file" in message


def test_a_truncated_gz_archive_fails_in_one_line(tmp_path):
    from zoo.data.mnist import load_mnist_tensors

    images, labels, _ = valid_test_split()
    raw = write_mnist(tmp_path, images, labels, suffix=".gz")
    archive = raw / "t10k-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:2_000])
    with pytest.raises(ZooDataError) as error:
        load_mnist_tensors(tmp_path, train=False)
    assert f"MNIST file {archive} cannot be read" in one_line(error)


def test_a_file_that_is_not_idx_fails_in_one_line(tmp_path):
    from zoo.data.mnist import load_mnist_tensors

    images, _, _ = valid_test_split()
    write_mnist(tmp_path, images, b"<html>404 Not Found</html>")
    with pytest.raises(ZooDataError, match=r"t10k-labels-idx1-ubyte is not an IDX file of 1-D unsigned bytes") as error:
        load_mnist_tensors(tmp_path, train=False)
    one_line(error)


def test_mnist_files_of_the_wrong_size_fail_in_one_line(tmp_path):
    from zoo.data.mnist import load_mnist_tensors

    write_mnist(tmp_path, idx_bytes(bytes(5 * 28 * 28), 5, 28, 28), idx_bytes(bytes(5), 5))
    with pytest.raises(ZooDataError, match=r"t10k files hold \[5, 28, 28\] images and 5 labels, expected \[10000, 28, 28\]") as error:
        load_mnist_tensors(tmp_path, train=False)
    one_line(error)


# ---------------------------------------------------------------------------- image folders
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"{i}.png")
    return folder


def test_an_empty_or_non_image_file_in_an_image_folder_fails_at_setup(tmp_path):
    from zoo.data.folders import ImageFolderDataModule

    folder = image_folder(tmp_path)
    (folder / "a-empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    with pytest.raises(ZooDataError) as error:
        ImageFolderDataModule(str(folder), image_size=8).setup("fit")
    message = one_line(error)
    assert f"2 of 5 files in {folder}/ are empty or not images; the first, {folder / 'a-empty.jpg'}, is empty" in message
    assert "delete or replace them" in message


def test_a_clean_image_folder_passes_the_setup_check(tmp_path):
    from zoo.data.folders import ImageFolderDataModule

    datamodule = ImageFolderDataModule(str(image_folder(tmp_path)), image_size=8, val_fraction=0.0)
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 3


def test_an_image_damaged_after_its_header_fails_in_one_line_when_loaded(tmp_path):
    from zoo.data.folders import ImageFolderDataModule

    folder = image_folder(tmp_path)
    (folder / "3.png").write_bytes((folder / "0.png").read_bytes()[:20])
    datamodule = ImageFolderDataModule(str(folder), image_size=8, val_fraction=0.0)
    datamodule.setup("fit")
    with pytest.raises(ZooDataError) as error:
        datamodule.train_set[3]
    assert f"cannot decode image {folder / '3.png'}" in one_line(error)


# --------------------------------------------------------------------------- resume (fit --ckpt_path)
def test_resume_accepts_a_zoo_checkpoint_of_the_configured_class(real_checkpoint):
    check_resume_checkpoint(str(real_checkpoint), "zoo.models.vanilla.VanillaGAN")
    check_resume_checkpoint(str(real_checkpoint), "VanillaGAN")
    check_resume_checkpoint(str(real_checkpoint), None)


def test_resume_from_another_model_class_names_both(real_checkpoint):
    with pytest.raises(ZooConfigError) as error:
        check_resume_checkpoint(str(real_checkpoint), "zoo.models.dcgan.DCGAN")
    message = one_line(error)
    assert "holds a zoo.models.vanilla.VanillaGAN checkpoint but the config asks for zoo.models.dcgan.DCGAN" in message
    assert "data_shape" not in message


def test_resume_from_a_missing_truncated_or_non_checkpoint_file(real_checkpoint, tmp_path):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(real_checkpoint.read_bytes()[:1_000])
    (tmp_path / "notes.ckpt").write_text("hello")
    cases = {tmp_path / "missing.ckpt": "checkpoint not found", truncated: "is truncated or not a PyTorch checkpoint",
             tmp_path / "notes.ckpt": "is truncated or not a PyTorch checkpoint"}
    for path, expected in cases.items():
        with pytest.raises(ZooConfigError) as error:
            check_resume_checkpoint(str(path), "zoo.models.vanilla.VanillaGAN")
        assert expected in one_line(error) and str(path) in str(error.value)


def test_resume_from_a_foreign_or_weights_only_file(real_checkpoint, tmp_path):
    checkpoint = read_checkpoint(real_checkpoint)
    torch.save(checkpoint["state_dict"], tmp_path / "state_dict.pt")
    with pytest.raises(ZooConfigError, match="is not a Lightning checkpoint") as error:
        check_resume_checkpoint(str(tmp_path / "state_dict.pt"), "zoo.models.vanilla.VanillaGAN")
    one_line(error)
    weights = {k: v for k, v in checkpoint.items() if k not in ("optimizer_states", "lr_schedulers", "callbacks")}
    torch.save(weights, tmp_path / "weights.ckpt")
    with pytest.raises(ZooConfigError, match=r"holds weights but no training state \(optimizer_states missing\)") as error:
        check_resume_checkpoint(str(tmp_path / "weights.ckpt"), "zoo.models.vanilla.VanillaGAN")
    one_line(error)
    del checkpoint["zoo"], checkpoint["hyper_parameters"]
    torch.save(checkpoint, tmp_path / "anonymous.ckpt")
    with pytest.raises(ZooConfigError, match="does not say which model wrote it"):
        check_resume_checkpoint(str(tmp_path / "anonymous.ckpt"), "zoo.models.vanilla.VanillaGAN")


def test_resume_refuses_a_pickle_payload_unrun(real_checkpoint, tmp_path):
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["payload"] = CreatesFile(tmp_path / "ran")
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(ZooConfigError, match="refused to load"):
        check_resume_checkpoint(str(tmp_path / "evil.ckpt"), "zoo.models.vanilla.VanillaGAN")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("problem", ["missing", "truncated", "text", "other class"])
def test_zoo_fit_with_a_bad_resume_checkpoint_stops_in_one_line_before_building_anything(problem, real_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "resume.ckpt"
    if problem == "truncated":
        path.write_bytes(real_checkpoint.read_bytes()[:2000])
    elif problem == "text":
        path.write_text("not a checkpoint\n")
    config = "dcgan/mnist.yaml" if problem == "other class" else "quickstart.yaml"
    path = real_checkpoint if problem == "other class" else path
    config_path = str(Path(__file__).resolve().parents[1] / "configs" / config)
    assert zoo_main(["fit", "--config", config_path, "--ckpt_path", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("zoo: error:") and str(path.name) in line
    if problem == "other class":
        assert "VanillaGAN" in line and "DCGAN" in line and "data_shape" not in line
    assert not (tmp_path / "runs").exists()
