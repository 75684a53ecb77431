"""Two CPU processes under DDP, started by `zoo fit --trainer.devices 2` with no other flag."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import subprocess_env
from zoo.core.strategy import gan_strategy


def test_gan_strategy_picks_find_unused_parameters_only_when_needed():
    assert gan_strategy("auto", 1) == "auto"
    assert gan_strategy("auto", "auto", accelerator="cpu") == "auto"  # one CPU process, no process group
    assert gan_strategy("auto", 2) == "ddp_find_unused_parameters_true"
    assert gan_strategy("auto", "0,1") == "ddp_find_unused_parameters_true"
    assert gan_strategy("auto", 1, num_nodes=2) == "ddp_find_unused_parameters_true"
    assert gan_strategy("ddp", 4) == "ddp_find_unused_parameters_true"
    assert gan_strategy("ddp_spawn", 2) == "ddp_spawn_find_unused_parameters_true"
    assert gan_strategy("deepspeed", 2) == "deepspeed"


@pytest.mark.ddp
def test_two_ranks_hold_identical_weights_after_training(tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 2, "max_epochs": 2, "limit_train_batches": 4, "limit_val_batches": 1,
            "logger": False, "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(tmp_path),
            "callbacks": [{"class_path": "tests.ddp_helpers.DumpRankWeights", "init_args": {"out_dir": str(tmp_path / "weights")}}],
        },
        "model": {
            "class_path": "zoo.models.vanilla.VanillaGAN",
            "init_args": {"data_shape": [1, 8, 8], "latent_dim": 8, "g_hidden": [16], "d_hidden": [16], "d_pieces": 2,
                          "optimizer": "adam", "ema_decay": 0.9, "d_steps_per_g_step": 2},
        },
        "data": {"class_path": "zoo.data.digits.DigitsDataModule", "init_args": {"batch_size": 16}},
        "checkpoint": {"dirpath": str(tmp_path / "ckpt")},
    }
    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = subprocess_env()
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "fit", "--config", str(config_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "weights" / "rank0.pt")
    rank1 = torch.load(tmp_path / "weights" / "rank1.pt")
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["counters"] == rank1["counters"] == {"generator_steps": 4, "discriminator_steps": 8}
    for name, value in rank0["state"].items():
        torch.testing.assert_close(value, rank1["state"][name], rtol=0, atol=0, msg=f"{name} differs across ranks")
