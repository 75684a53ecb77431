"""`zoo game-probe`: D's outputs, both players' gradient norms, G's spread and saturation at a checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import quiet_trainer
from zoo.cli import main
from zoo.data.digits import DigitsDataModule
from zoo.eval.game_probe import probe, run_labels, saturated_share
from zoo.models.fgan import FGAN
from zoo.provenance import absolute_paths


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("game") / "tv-seed0" / "checkpoints"
    torch.manual_seed(0)
    model = FGAN("total_variation", data_shape=(1, 8, 8), latent_dim=8, g_hidden=(32,), v_hidden=(32, 32))
    trainer = quiet_trainer(max_steps=6, limit_val_batches=0, enable_checkpointing=True,
                            callbacks=[ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)])
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=64))
    return folder / "last.ckpt"


def with_last_bias(checkpoint, tmp_path, player: str, value: float):
    """A copy of ``checkpoint`` whose ``player``'s last layer has every bias at ``value``."""
    raw = torch.load(checkpoint, weights_only=True)
    last = [key for key in raw["state_dict"] if key.startswith(f"{player}.") and key.endswith(".bias")][-1]
    raw["state_dict"][last] = torch.full_like(raw["state_dict"][last], value)
    path = tmp_path / f"{player}-{value}.ckpt"
    torch.save(raw, path)
    return path


def test_a_saturated_total_variation_critic_leaves_neither_player_a_gradient(checkpoint, tmp_path):
    healthy = probe(checkpoint, batches=2)
    assert healthy["d_gradient_norm"] > 1e-2 and healthy["g_gradient_norm"] > 1e-3
    # V ≫ 0 on every input puts ½ tanh(V) on its flat top, for real and generated samples alike
    stuck = probe(with_last_bias(checkpoint, tmp_path, "discriminator", 40.0), batches=2)
    assert stuck["d_output_fake_mean"] > 30 and stuck["d_output_real_mean"] > 30
    assert stuck["d_gradient_norm"] < 1e-6 and stuck["g_gradient_norm"] < 1e-6
    assert stuck["g_loss"] == pytest.approx(-0.5)
    assert len(stuck["per_batch"]["d_loss"]) == stuck["batches"] == 2


@pytest.mark.parametrize("bias, end", [(60.0, 1.0), (-60.0, 0.0)])
def test_a_generator_pinned_to_an_end_of_its_sigmoid_is_all_saturated_and_spreads_nothing(checkpoint, tmp_path, bias, end):
    healthy = probe(checkpoint, batches=1)
    assert healthy["g_saturated_share"] < 0.5 and healthy["g_spread"] > 0.01
    pinned = probe(with_last_bias(checkpoint, tmp_path, "generator", bias), batches=1)
    assert pinned["g_saturated_share"] == 1.0 and pinned["g_spread"] < 1e-6
    assert pinned["g_gradient_norm"] < 1e-6 < healthy["g_gradient_norm"]


def test_saturated_share_counts_values_within_a_thousandth_of_the_range_ends():
    samples = torch.tensor([-1.0, -0.9985, -0.997, 0.0, 0.9975, 0.999, 1.0])
    assert saturated_share(samples, (-1.0, 1.0)) == pytest.approx(4 / 7)


def test_the_command_prints_a_row_per_run_and_writes_the_probes_with_provenance(checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["game-probe", "--ckpt", str(checkpoint), "--batches", "1", "--out", str(out)]) == 0
    assert "| tv-seed0 | 3 |" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["probes"][0]["run"] == "tv-seed0" and record["probes"][0]["model"] == "FGAN"
    assert record["commit"] and not absolute_paths(record)
    assert main(["game-probe", "--ckpt", str(checkpoint), "--batches", "0"]) == 2
    assert "--batches must be >= 1" in capsys.readouterr().err


def test_runs_are_named_by_their_folders_less_the_folders_they_share(tmp_path):
    runs = tmp_path / "runs"
    assert run_labels([str(runs / "gan-seed0" / "checkpoints" / "last.ckpt"), str(runs / "kl-seed0" / "checkpoints" / "last.ckpt")]) \
        == ["gan-seed0", "kl-seed0"]
    assert run_labels([str(runs / "dhalf_k0" / "seed0" / "checkpoints" / "last.ckpt"), str(runs / "dhalf_k10" / "seed0" / "checkpoints" / "last.ckpt"),
                       str(tmp_path / "saved.ckpt")]) == ["runs/dhalf_k0/seed0", "runs/dhalf_k10/seed0", "saved"]
    assert run_labels([str(runs / "dhalf_k0" / "seed0" / "checkpoints" / "last.ckpt")]) == ["seed0"]


def _fit_and_save(model, data, folder, steps):
    trainer = quiet_trainer(max_steps=steps, limit_val_batches=0, enable_checkpointing=True,
                            callbacks=[ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)])
    trainer.fit(model, datamodule=data)
    return folder / "last.ckpt"


def test_an_unrolled_generator_is_measured_against_the_current_discriminator(tmp_path):
    from zoo.data.toy2d import MixtureDataModule
    from zoo.models.unrolled import UnrolledGAN

    torch.manual_seed(0)
    model = UnrolledGAN(unroll_steps=3, latent_dim=8, g_hidden=(16,), d_hidden=(16,), d_lr=1e-2)
    unrolled = _fit_and_save(model, MixtureDataModule("ring", batch_size=64, train_size=512, val_size=64, test_size=64),
                             tmp_path, steps=8)
    raw = torch.load(unrolled, weights_only=True)
    raw["hyper_parameters"]["unroll_steps"] = 0
    plain = tmp_path / "k0.ckpt"
    torch.save(raw, plain)
    measured, baseline = probe(unrolled, batches=2), probe(plain, batches=2)
    assert measured["g_loss"] == pytest.approx(baseline["g_loss"], rel=1e-6)
    assert measured["g_gradient_norm"] == pytest.approx(baseline["g_gradient_norm"], rel=1e-5) and measured["g_gradient_norm"] > 0


def test_a_semi_supervised_discriminator_is_measured_with_its_labelled_batch(mnist_root, tmp_path):
    from zoo.data.semisupervised import SemiSupervisedMNISTDataModule
    from zoo.models.improved import SemiSupervisedGAN

    torch.manual_seed(0)
    model = SemiSupervisedGAN(latent_dim=4, g_hidden=(16,), d_hidden=(16, 8), g_lr=0.01, d_lr=0.01)
    data = SemiSupervisedMNISTDataModule(num_labels=20, batch_size=20, data_root=str(mnist_root))
    measured = probe(_fit_and_save(model, data, tmp_path, steps=2), batches=1)
    # D's loss is the supervised cross-entropy on the labelled batch plus the unsupervised loss: at
    # least the first, which is ≈ log 10 for a D that has taken one step
    assert 1.0 < measured["d_loss"] and measured["d_gradient_norm"] > 0 and measured["g_gradient_norm"] > 0
