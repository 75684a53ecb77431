"""A checkpoint is untrusted input: reading one must never run code it carries or names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import quiet_trainer, subprocess_env, tiny_vanilla
from zoo.checkpoints import load_datamodule, load_gan, load_run, read_checkpoint, resolve_class
from zoo.errors import ZooConfigError


def write_tiny_checkpoint(path: Path) -> Path:
    """A checkpoint written by a real (two-step) ``Trainer.fit`` of a tiny GAN on the digits."""
    from zoo.data.digits import DigitsDataModule

    torch.manual_seed(0)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1)
    trainer.fit(tiny_vanilla(), DigitsDataModule(batch_size=16))
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("real") / "real.ckpt")


class CreatesFile:
    """Unpickling this runs ``open(marker, "w")``: a stand-in for any code a payload could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def run_zoo(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "zoo.cli", *args]
    return subprocess.run(command, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=120)


def marker_command(marker: Path) -> list[str]:
    return [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]


def assert_refused_in_one_line(result: subprocess.CompletedProcess, marker: Path, *words: str) -> None:
    assert not marker.exists(), "the checkpoint ran code"
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoo: error: ") and all(word in lines[0] for word in words), lines[0]


def test_a_checkpoint_of_a_real_fit_reads_as_plain_data(real_checkpoint):
    raw = torch.load(real_checkpoint, map_location="cpu", weights_only=True)
    assert raw["zoo"]["model_class"] == "zoo.models.vanilla.VanillaGAN" and "optimizer_states" in raw
    checkpoint = read_checkpoint(real_checkpoint)
    model = load_gan(real_checkpoint)
    assert model.generator_steps == raw["zoo"]["generator_steps"] >= 1
    datamodule = load_datamodule(checkpoint)
    assert type(datamodule).__name__ == "DigitsDataModule" and datamodule.batch_size == 16


def test_a_run_loads_its_gan_and_data_from_one_read_of_the_file(real_checkpoint, monkeypatch):
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(args[0]) or real_load(*args, **kwargs))
    model, datamodule = load_run(real_checkpoint)
    assert len(reads) == 1
    assert torch.equal(next(model.parameters()), next(load_gan(real_checkpoint).parameters()))
    assert type(datamodule).__name__ == "DigitsDataModule" and datamodule.batch_size == 16


def test_a_path_among_the_hyper_parameters_is_plain_data(real_checkpoint, tmp_path):
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["zoo"]["datamodule_hparams"]["data_root"] = tmp_path
    torch.save(checkpoint, tmp_path / "path.ckpt")
    assert read_checkpoint(tmp_path / "path.ckpt")["zoo"]["datamodule_hparams"]["data_root"] == tmp_path


@pytest.mark.parametrize("command", [["eval", "--metrics", "parzen"], ["latent", "sheet", "--out", "sheet.png"]])
def test_a_pickle_payload_in_a_checkpoint_is_refused_unrun(command, real_checkpoint, tmp_path):
    marker = tmp_path / "payload-ran"
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["payload"] = CreatesFile(marker)
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    result = run_zoo([*command, "--ckpt", str(tmp_path / "evil.ckpt")], tmp_path)
    assert_refused_in_one_line(result, marker, "refused", "io.open")


def test_zoo_eval_refuses_a_datamodule_class_that_is_not_a_datamodule(real_checkpoint, tmp_path):
    marker = tmp_path / "popen-ran"
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["zoo"]["datamodule_class"] = "subprocess.Popen"
    checkpoint["zoo"]["datamodule_hparams"] = {"args": marker_command(marker)}
    torch.save(checkpoint, tmp_path / "plain.ckpt")
    result = run_zoo(["eval", "--ckpt", str(tmp_path / "plain.ckpt"), "--metrics", "parzen"], tmp_path)
    assert_refused_in_one_line(result, marker, "refused", "subprocess.Popen", "LightningDataModule")


def test_zoo_latent_refuses_a_model_class_that_is_not_a_zoo_gan(real_checkpoint, tmp_path):
    marker = tmp_path / "popen-ran"
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["zoo"]["model_class"] = "subprocess.Popen"
    checkpoint["hyper_parameters"] = {"_class_path": "subprocess.Popen", "args": marker_command(marker)}
    torch.save(checkpoint, tmp_path / "plain.ckpt")
    result = run_zoo(["latent", "sheet", "--ckpt", str(tmp_path / "plain.ckpt"), "--out", "s.png"], tmp_path)
    assert_refused_in_one_line(result, marker, "refused", "subprocess.Popen", "TwoPlayerGAN")


def test_load_gan_imports_no_module_outside_the_zoo(real_checkpoint, tmp_path):
    # `import this` prints the Zen of Python: importing a module named by a file runs its code.
    assert "this" not in sys.modules
    checkpoint = read_checkpoint(real_checkpoint)
    checkpoint["zoo"]["model_class"] = "this.Anything"
    torch.save(checkpoint, tmp_path / "import.ckpt")
    with pytest.raises(ZooConfigError, match="refused model class 'this.Anything'"):
        load_gan(tmp_path / "import.ckpt")
    assert "this" not in sys.modules


@pytest.mark.parametrize("class_path", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_load_datamodule_calls_nothing_it_refuses(class_path, real_checkpoint, tmp_path):
    marker = tmp_path / "ran"
    checkpoint = read_checkpoint(real_checkpoint)
    code = f"open({str(marker)!r}, 'w')"
    checkpoint["zoo"]["datamodule_class"] = class_path
    checkpoint["zoo"]["datamodule_hparams"] = {"command": f"{sys.executable} -c \"{code}\"", "source": code,
                                               "args": marker_command(marker)}
    with pytest.raises(ZooConfigError, match=f"refused datamodule class '{class_path}'.*LightningDataModule"):
        load_datamodule(checkpoint)
    assert not marker.exists()


def test_resolve_class_accepts_only_subclasses_of_the_base():
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.core.gan import TwoPlayerGAN
    from zoo.models.vanilla import VanillaGAN

    assert resolve_class("zoo.models.vanilla.VanillaGAN", TwoPlayerGAN) is VanillaGAN
    assert resolve_class("zoo.models.vanilla.VanillaGAN", LightningModule) is VanillaGAN
    with pytest.raises(ZooConfigError, match="not a LightningDataModule subclass"):
        resolve_class("zoo.models.vanilla.VanillaGAN", LightningDataModule)
    with pytest.raises(ZooConfigError, match="not a dotted name"):
        resolve_class("os.system; rm", TwoPlayerGAN)
    with pytest.raises(ZooConfigError, match="cannot be found"):
        resolve_class("zoo.models.vanilla.NoSuchGAN", TwoPlayerGAN)


def test_resolve_class_imports_no_module_outside_the_zoo():
    assert "antigravity" not in sys.modules  # importing it opens a web browser
    with pytest.raises(ZooConfigError, match="refused model class 'antigravity.Fly'.*zoo"):
        resolve_class("antigravity.Fly", object, "model")
    assert "antigravity" not in sys.modules
