"""The `zoo` command: configs that parse, a real quick run, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from zoo.cli import main

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def run_zoo(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quickstart_config_trains_writes_samples_and_a_resumable_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(REPO / "configs" / "quickstart.yaml")
    short = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1"]
    code, out, err = run_zoo(["fit", "--config", config, *short, *QUIET], capsys)
    assert code == 0, err
    run = tmp_path / "runs" / "quickstart" / "version_0"
    assert (run / "samples" / "final.png").stat().st_size > 0
    assert (run / "metrics.csv").exists()
    last = run / "checkpoints" / "last.ckpt"
    assert last.exists()
    assert "generator steps" in out and "val/d_loss" in out

    code, out, err = run_zoo(
        ["fit", "--config", config, "--trainer.max_epochs", "3", "--trainer.limit_train_batches", "3",
         "--trainer.limit_val_batches", "1", "--ckpt_path", str(last), *QUIET], capsys)
    assert code == 0, err
    assert "│ generator steps     │      9 │" in out  # 6 before the resume, 3 after


@pytest.mark.parametrize(
    "override, fragment",
    [
        (["--model.class_path", "zoo.models.nope.Nope"], "zoo.models.nope.Nope"),
        (["--data.class_path", "zoo.data.digits.Nope"], "zoo.data.digits.Nope"),
        (["--model.init_args.d_steps_per_g_step", "0"], "d_steps_per_g_step"),
        (["--model.init_args.no_such_option", "1"], "no_such_option"),
        (["--data.init_args.batch_size", "-3"], "batch_size"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--model.init_args.data_shape", "[1,28,28]"], "data_shape"),
    ],
)
def test_bad_configuration_is_one_line(override, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_zoo(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *override, *QUIET], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("zoo: error:")]
    assert len(lines) == 1 and fragment in lines[0]
    assert "Traceback" not in err


def test_missing_mnist_names_the_folder_and_the_four_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "empty"))
    code, _, err = run_zoo(["fit", "--config", str(REPO / "configs" / "vanilla" / "mnist.yaml"), *QUIET], capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("zoo: error:")]
    assert str(tmp_path / "empty" / "MNIST" / "raw") in line
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in line


CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if "loggers" not in p.parts)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_config_builds_its_model_and_data(config: Path):
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.cli import TRAINER_DEFAULTS, ZooCLI

    cli = ZooCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                 trainer_defaults=TRAINER_DEFAULTS, run=False, args=["--config", str(config), "--trainer.logger", "false"])
    assert cli.model.generator is not None and cli.model.discriminator is not None
    data_shape = cli.model.hparams.get("data_shape")
    if data_shape is not None:
        assert tuple(data_shape) == tuple(cli.datamodule.sample_shape)
