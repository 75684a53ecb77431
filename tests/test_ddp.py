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


def _ddp_config(tmp_path, name: str, epochs: int, callbacks: list) -> str:
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 2, "max_epochs": epochs, "limit_train_batches": 4, "limit_val_batches": 1,
            "logger": False, "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(tmp_path / name),
            "callbacks": callbacks,
        },
        "model": {
            "class_path": "zoo.models.vanilla.VanillaGAN",
            "init_args": {"data_shape": [1, 8, 8], "latent_dim": 8, "g_hidden": [16], "d_hidden": [16], "d_pieces": 2,
                          "optimizer": "adam", "ema_decay": 0.9, "d_steps_per_g_step": 2},
        },
        "data": {"class_path": "zoo.data.digits.DigitsDataModule", "init_args": {"batch_size": 16}},
        "checkpoint": {"dirpath": str(tmp_path / name / "ckpt"), "save_top_k": -1},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _zoo_fit(tmp_path, config: str, *extra: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "fit", "--config", config, *extra],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _dump(out_dir) -> dict:
    return {"class_path": "tests.ddp_helpers.DumpRankWeights", "init_args": {"out_dir": str(out_dir)}}


@pytest.mark.ddp
def test_two_ranks_train_one_model_on_disjoint_data_with_their_own_noise_and_resume_exactly(tmp_path):
    draws = {"class_path": "tests.ddp_helpers.RecordRankDraws", "init_args": {"out_dir": str(tmp_path / "draws")}}
    _zoo_fit(tmp_path, _ddp_config(tmp_path, "straight", 4, [_dump(tmp_path / "straight"), draws]))
    rank0 = torch.load(tmp_path / "straight" / "rank0.pt")
    rank1 = torch.load(tmp_path / "straight" / "rank1.pt")
    # All-reduce keeps the replicas equal; necessary, but it says nothing about what they trained on.
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["counters"] == rank1["counters"] == {"generator_steps": 8, "discriminator_steps": 16}
    for name, value in rank0["state"].items():
        torch.testing.assert_close(value, rank1["state"][name], rtol=0, atol=0, msg=f"{name} differs across ranks")

    seen = [torch.load(tmp_path / "draws" / f"draws{rank}.pt") for rank in (0, 1)]
    n_train = len(set(seen[0][0]["indices"]) | set(seen[1][0]["indices"]))
    for epoch in range(4):
        assert not torch.equal(seen[0][epoch]["z"], seen[1][epoch]["z"]), f"ranks drew the same noise in epoch {epoch}"
        first, second = seen[0][epoch]["indices"], seen[1][epoch]["indices"]
        assert len(set(first) & set(second)) <= 1, "the ranks' shards overlap beyond the sampler's padding"
        assert len(set(first) | set(second)) == n_train
    assert seen[0][0]["indices"] != seen[0][1]["indices"], "the data order did not change between epochs"
    assert not torch.equal(seen[0][0]["z"], seen[0][1]["z"])

    halfway = next((tmp_path / "straight" / "ckpt").glob("epoch=001-*.ckpt"))
    _zoo_fit(tmp_path, _ddp_config(tmp_path, "resumed", 4, [_dump(tmp_path / "resumed")]), "--ckpt_path", str(halfway))
    for rank in (0, 1):
        straight = torch.load(tmp_path / "straight" / f"rank{rank}.pt")
        resumed = torch.load(tmp_path / "resumed" / f"rank{rank}.pt")
        assert resumed["counters"] == straight["counters"]
        for name, value in straight["state"].items():
            torch.testing.assert_close(resumed["state"][name], value, rtol=0, atol=0, msg=f"rank {rank}: {name} differs after resume")
