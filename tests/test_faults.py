"""Faults lose nothing: NaN runs stop and keep their good checkpoints, signals save and exit
non-zero, saves are atomic, runs never share folders, and resuming applies new learning rates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from tests.conftest import REPO, quiet_trainer, subprocess_env, tiny_vanilla
from zoo.atomic import atomic_torch_save, atomic_write, atomic_write_json
from zoo.callbacks.checkpoint import ZooCheckpoint
from zoo.data.digits import DigitsDataModule
from zoo.callbacks.interrupts import GracefulStop
from zoo.errors import ZooInterrupted, ZooNonFiniteError

TINY_MODEL = {
    "class_path": "zoo.models.vanilla.VanillaGAN",
    "init_args": {"data_shape": [1, 8, 8], "latent_dim": 8, "g_hidden": [16], "d_hidden": [16], "d_pieces": 2, "optimizer": "adam"},
}


def _config(tmp_path: Path, name: str, epochs: int, **trainer: object) -> Path:
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": epochs, "limit_val_batches": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger",
                                                              "init_args": {"save_dir": str(tmp_path / "runs"), "name": name}},
                    **trainer},
        "model": TINY_MODEL,
        "data": {"class_path": "zoo.data.digits.DigitsDataModule", "init_args": {"batch_size": 16}},
        "samples": {"every_n_epochs": 1000},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _zoo(tmp_path: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=tmp_path, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("zoo: error:")]


# ------------------------------------------------------------------------------- non-finite
def _fit_until_poisoned(tmp_path: Path, check_finite: bool) -> tuple[Path, pytest.ExceptionInfo]:
    from tests.ddp_helpers import PoisonWeights

    torch.manual_seed(0)
    checkpoint = ZooCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=-1, filename="{epoch}")
    trainer = quiet_trainer(max_epochs=6, enable_checkpointing=True, callbacks=[checkpoint, PoisonWeights(epoch=3)], limit_train_batches=3)
    with pytest.raises(ZooNonFiniteError) as raised:
        trainer.fit(tiny_vanilla(optimizer="adam", check_finite=check_finite), datamodule=DigitsDataModule(batch_size=16))
    return tmp_path, raised


@pytest.mark.parametrize("check_finite", [True, False])
def test_a_run_that_turns_nan_stops_and_keeps_only_finite_checkpoints(tmp_path, check_finite):
    folder, raised = _fit_until_poisoned(tmp_path, check_finite)
    message = str(raised.value)
    assert "\n" not in message
    assert ("discriminator loss" in message and "epoch 3" in message) if check_finite else "NaN" in message
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["epoch=0.ckpt", "epoch=1.ckpt", "epoch=2.ckpt", "last.ckpt"]
    for path in folder.glob("*.ckpt"):
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), path.name
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2


def test_a_nan_run_exits_non_zero_with_one_line(tmp_path):
    poison = {"class_path": "tests.ddp_helpers.PoisonWeights", "init_args": {"epoch": 1}}
    result = _zoo(tmp_path, "fit", "--config", str(_config(tmp_path, "nan", 4, limit_train_batches=3, callbacks=[poison])))
    assert result.returncode == 2
    assert len(_error_lines(result.stderr)) == 1 and "non-finite discriminator loss" in result.stderr


# ---------------------------------------------------------------------------------- signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_a_checkpoint_exits_non_zero_and_prints_how_to_resume(tmp_path, signum):
    config = _config(tmp_path, "signal", 10_000)
    process = subprocess.Popen([sys.executable, "-m", "zoo.cli", "fit", "--config", str(config)], cwd=tmp_path,
                               env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "runs" / "signal" / "version_0" / "metrics.csv"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)  # the CSV appears once training has taken steps
    assert metrics.exists(), "the run took no training step in 300 s; the signal would land before the zoo's handler"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr[-2000:]
    (line,) = _error_lines(stderr)
    assert signal.Signals(signum).name in line and "resume with: zoo fit --config" in line
    last = Path(line.split("saved ", 1)[1].split(";", 1)[0])
    assert last.name == "last.ckpt" and last.exists()
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["zoo"]["generator_steps"] > 0
    resumed = _zoo(tmp_path, *line.split("resume with: zoo ", 1)[1].split(), "--trainer.max_epochs", str(checkpoint["epoch"] + 2))
    assert resumed.returncode == 0, resumed.stderr[-2000:]


class _KillSelf(pl.Callback):
    """Sends this process a real SIGTERM from ``hook`` in epoch 1, once."""

    def __init__(self, hook: str) -> None:
        self.sent = False
        setattr(self, hook, self._kill)

    def _kill(self, trainer, *args) -> None:
        if trainer.current_epoch == 1 and not self.sent and not trainer.sanity_checking:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


# Lightning checks its own SIGTERM flag after validation batches and at epoch ends, after the zoo's
# batch-end hook: a signal landing there used to end the run with a bare SystemExit (exit 0, no save).
@pytest.mark.parametrize("hook", ["on_validation_batch_end", "on_train_epoch_end", "on_validation_end"])
def test_a_sigterm_anywhere_in_the_loop_saves_and_stops_the_zoos_way(tmp_path, hook):
    stop = GracefulStop(resume_hint="test")
    trainer = quiet_trainer(max_epochs=4, limit_train_batches=3, limit_val_batches=2, num_sanity_val_steps=1,
                            callbacks=[_KillSelf(hook), stop], default_root_dir=tmp_path)
    model = tiny_vanilla(optimizer="adam")
    after_fit = []
    signal.signal(signal.SIGTERM, lambda signum, frame: after_fit.append(signum))
    try:
        with pytest.raises(ZooInterrupted) as stopped:
            trainer.fit(model, datamodule=DigitsDataModule(batch_size=32))
        os.kill(os.getpid(), signal.SIGTERM)  # reaches the handler from before the fit again
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["zoo"]["generator_steps"] == model.generator_steps > 3
    assert after_fit == [signal.SIGTERM]


# ------------------------------------------------------------------------------ atomic saves
def test_a_save_cut_short_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1}, path)

    def dies_halfway(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # the kill arrives mid-write

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left behind


def test_a_record_write_cut_short_leaves_the_previous_record_whole(tmp_path):
    # run records (train clock, session, curve) are written as a SIGTERM lands; a torn one would
    # make the next --resume fail to parse it
    path = tmp_path / "train_seconds.json"
    atomic_write_json(path, {"seconds": 1.0})

    def dies_halfway(handle):
        handle.write(b'{"seconds": 2')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_halfway)
    assert json.loads(path.read_text()) == {"seconds": 1.0}
    atomic_write_json(path, {"seconds": 3.0})
    assert json.loads(path.read_text()) == {"seconds": 3.0}
    assert [p.name for p in tmp_path.iterdir()] == ["train_seconds.json"]


def test_checkpoints_written_by_zoo_fit_go_through_the_atomic_writer(tmp_path, monkeypatch):
    import zoo.callbacks.checkpoint as checkpoint_module

    calls = []
    real = checkpoint_module.atomic_torch_save
    monkeypatch.setattr(checkpoint_module, "atomic_torch_save", lambda obj, path: (calls.append(Path(path)), real(obj, path)))
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(_config(tmp_path, "atomic", 1, limit_train_batches=2))]) == 0
    assert calls and all(p.suffix == ".ckpt" for p in calls)


# ------------------------------------------------------------------------------ run folders
def test_two_wandb_runs_in_a_row_get_their_own_folders(tmp_path):
    config = _config(tmp_path, "wandb", 1, limit_train_batches=2)
    wandb_logger = ["--config", str(REPO / "configs" / "loggers" / "wandb.yaml"), "--trainer.logger.init_args.save_dir", "runs"]
    env_runs = []
    for _ in range(2):
        result = _zoo(tmp_path, "fit", "--config", str(config), *wandb_logger, "--samples.every_n_epochs", "1")
        assert result.returncode == 0, result.stderr[-3000:]
        env_runs.append(result)
    folders = sorted((tmp_path / "runs" / "gan-zoo").glob("version_*"))
    assert [f.name for f in folders] == ["version_0", "version_1"]
    for folder in folders:
        assert (folder / "config.yaml").exists()
        assert list(folder.rglob("samples/*.png")), f"no samples in {folder}"
        assert list(folder.rglob("*.ckpt")), f"no checkpoint in {folder}"
    assert not (tmp_path / "runs" / "config.yaml").exists() and not (tmp_path / "runs" / "samples").exists()


def test_a_new_run_into_a_folder_holding_checkpoints_is_refused_before_anything_changes(tmp_path):
    folder = tmp_path / "shared-checkpoints"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"another run's checkpoint")
    result = _zoo(tmp_path, "fit", "--config", str(_config(tmp_path, "clash", 1, limit_train_batches=2)), "--checkpoint.dirpath", str(folder))
    assert result.returncode == 2
    (line,) = _error_lines(result.stderr)
    assert "already holds checkpoints" in line and "--ckpt_path" in line
    assert (folder / "last.ckpt").read_bytes() == b"another run's checkpoint"


# ------------------------------------------------------------------------- resume overrides
def test_resuming_applies_a_new_learning_rate_and_refuses_a_new_architecture(tmp_path):
    config = _config(tmp_path, "override", 1, limit_train_batches=2)
    ckpt = tmp_path / "ckpts"
    assert _zoo(tmp_path, "fit", "--config", str(config), "--checkpoint.dirpath", str(ckpt)).returncode == 0
    last = ckpt / "last.ckpt"
    before = torch.load(last, weights_only=True)["optimizer_states"][0]["param_groups"][0]["lr"]

    resumed = _zoo(tmp_path, "fit", "--config", str(config), "--ckpt_path", str(last), "--trainer.max_epochs", "2",
                   "--model.init_args.g_lr", "0.01", "--checkpoint.dirpath", str(tmp_path / "ckpts2"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "g_lr 0.1 → 0.01 (applied to the optimizer)" in resumed.stderr
    after = torch.load(tmp_path / "ckpts2" / "last.ckpt", weights_only=True)
    assert before == pytest.approx(0.1, rel=1e-3) and after["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.01, rel=1e-3)
    assert after["optimizer_states"][1]["param_groups"][0]["lr"] == pytest.approx(0.1, rel=1e-3)  # D's rate untouched

    refused = _zoo(tmp_path, "fit", "--config", str(config), "--ckpt_path", str(last), "--trainer.max_epochs", "2",
                   "--model.init_args.g_hidden", "[32]", "--checkpoint.dirpath", str(tmp_path / "ckpts3"))
    assert refused.returncode == 2
    (line,) = _error_lines(refused.stderr)
    assert "g_hidden" in line and "architecture" in line


def test_a_resumed_run_overwrites_its_own_last_checkpoint(tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    config, folder = str(_config(tmp_path, "again", 1, limit_train_batches=2)), tmp_path / "ckpt"
    assert main(["fit", "--config", config, "--checkpoint.dirpath", str(folder)]) == 0
    saved = torch.load(folder / "last.ckpt", weights_only=True)
    saved["callbacks"] = {}  # as when the checkpoint callback changed class, or a signal handler saved the file
    torch.save(saved, folder / "last.ckpt")
    assert main(["fit", "--config", config, "--checkpoint.dirpath", str(folder), "--ckpt_path", str(folder / "last.ckpt"),
                 "--trainer.max_epochs", "2"]) == 0
    assert not list(folder.glob("last-v*.ckpt"))
    assert torch.load(folder / "last.ckpt", weights_only=True)["zoo"]["generator_steps"] == 4
