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


def test_the_summary_puts_the_parzen_score_beside_real_data_under_the_same_protocol(tmp_path, capsys, monkeypatch):
    from zoo.data.digits import DigitsDataModule
    from zoo.eval.harness import Distributed, parzen_metric
    from zoo.eval.parzen import DEFAULT_SIGMAS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    evaluation = tmp_path / "evaluation.yaml"
    evaluation.write_text("trainer:\n  callbacks:\n    - class_path: zoo.callbacks.Evaluation\n"
                          "      init_args: {metrics: [parzen], protocol: null, num_samples: 300, every_n_epochs: 1}\n")
    args = ["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--config", str(evaluation), "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", *QUIET]
    code, out, err = run_zoo(args, capsys)
    assert code == 0, err

    data = DigitsDataModule()
    data.setup()
    split = {name: data.split_tensors(name).flatten(1) for name in ("train", "val", "test")}
    real = parzen_metric(split["train"][:300], split["val"], split["test"], DEFAULT_SIGMAS, Distributed(), None)
    rows = _table_rows(out)
    assert rows["Parzen, real data"] == f"{real['mean']:.2f} ± {real['stderr']:.2f}"  # as many real images as samples
    assert rows["Parzen, this model"].startswith(f"{float(rows['eval/parzen']):.2f} ± ")
    assert "real data: 300 training images" in " ".join(out.split())
    assert len(list((tmp_path / "cache" / "parzen-real").glob("*.json"))) == 1  # computed once, then read

    code, out, err = run_zoo(args, capsys)  # the cached score, as computed the first time
    assert code == 0 and _table_rows(out)["Parzen, real data"] == f"{real['mean']:.2f} ± {real['stderr']:.2f}"


def _table_rows(out: str) -> dict[str, str]:
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    return {row[0]: row[1] for row in cells if len(row) == 2}


def test_zoo_help_loads_neither_torch_nor_lightning():
    import subprocess
    import sys

    code = "import sys, zoo.cli; zoo.cli.main(['--help']); print(sorted(m for m in ('torch', 'pytorch_lightning', 'wandb') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "fit, validate, test" in result.stdout
    assert result.stdout.strip().endswith("[]")


def test_lightning_tips_and_the_pytree_deprecation_are_silenced_and_other_messages_kept(caplog):
    import logging
    import warnings

    from pytorch_lightning.utilities import rank_zero_info
    from torch.utils._pytree import LeafSpec

    from zoo.quiet import quiet_lightning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()
        LeafSpec()  # what Lightning 2.6 builds on every logged value
        warnings.warn("LightningCLI's args parameter is intended to run from within Python like if it were from the "
                      "command line. To prevent mistakes ...", UserWarning)  # every row of `zoo reproduce`
        warnings.warn("a warning that matters", UserWarning)
    assert [str(w.message) for w in caught] == ["a warning that matters"]
    with caplog.at_level(logging.INFO):
        for line in ("💡 Tip: For seamless cloud logging, try installing [litlogger]", "GPU available: False, used: False",
                     "TPU available: False, using: 0 TPU cores", "resuming with a changed option: g_lr 0.1 → 0.01"):
            rank_zero_info(line)
    assert [record.getMessage() for record in caplog.records] == ["resuming with a changed option: g_lr 0.1 → 0.01"]


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


# Logger, sweep and overlay files are not run configs (tests/test_wandb.py builds the sweep's command;
# the LAPGAN overlay is trained on top of its base config by tests/test_lapgan_reproduce.py).
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if not {"loggers", "sweeps", "overlays"} & set(p.parts))


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
