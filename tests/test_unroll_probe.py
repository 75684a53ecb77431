"""`zoo unroll-probe`: G's loss and gradient with D looked ahead K steps, against K = 0, at a checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import quiet_trainer
from zoo.cli import main
from zoo.data.toy2d import MixtureDataModule
from zoo.eval.unroll_probe import probe
from zoo.models.unrolled import UnrolledGAN
from zoo.provenance import absolute_paths


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    torch.manual_seed(0)
    model = UnrolledGAN(unroll_steps=1, latent_dim=8, g_hidden=(16, 16), d_hidden=(16,), g_lr=1e-3, d_lr=1e-2)
    data = MixtureDataModule("ring", batch_size=64, train_size=1024, val_size=128, test_size=128)
    trainer = quiet_trainer(max_steps=40, limit_val_batches=0, enable_checkpointing=True,
                            callbacks=[ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)])
    trainer.fit(model, datamodule=data)
    return folder / "last.ckpt"


def by_variant(record):
    return {(row["unroll_steps"], row["second_order"]): row for row in record["rows"]}


def test_looking_ahead_moves_gs_loss_and_the_second_order_term_turns_its_gradient(checkpoint):
    rows = by_variant(probe(checkpoint, steps=(1, 3), batches=2))
    assert set(rows) == {(0, True), (1, True), (3, True), (1, False), (3, False)}
    assert rows[0, True]["cosine_with_k0"] == pytest.approx(1.0)
    for k in (1, 3):  # both orders evaluate G against the same ω^K; only the gradient differs
        first, second = rows[k, False], rows[k, True]
        assert first["per_batch"]["generator_loss"] == pytest.approx(second["per_batch"]["generator_loss"], rel=1e-6)
        assert first["gradient_norm"] != pytest.approx(second["gradient_norm"], rel=1e-3)
        assert first["generator_loss"] != pytest.approx(rows[0, True]["generator_loss"], rel=1e-3)
        assert -1.0 <= second["cosine_with_k0"] <= 1.0


def test_with_ds_learning_rate_at_zero_looking_ahead_changes_nothing(checkpoint, tmp_path):
    raw = torch.load(checkpoint, weights_only=True)
    for group in raw["optimizer_states"][1]["param_groups"]:
        group["lr"] = 0.0
    frozen = tmp_path / "frozen.ckpt"
    torch.save(raw, frozen)
    rows = by_variant(probe(frozen, steps=(1, 3), batches=2))
    for row in rows.values():
        assert row["generator_loss"] == pytest.approx(rows[0, True]["generator_loss"], rel=1e-6)
        assert row["cosine_with_k0"] == pytest.approx(1.0, abs=1e-5)


def test_the_command_prints_a_table_and_writes_the_probe_with_its_provenance(checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["unroll-probe", "--ckpt", str(checkpoint), "--steps", "2", "--batches", "1", "--out", str(out)]) == 0
    assert "| 2, first order |" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert [(r["unroll_steps"], r["second_order"]) for r in record["probes"][0]["rows"]] == [(0, True), (2, True), (2, False)]
    assert record["probes"][0]["batches"] == 1 and record["commit"] and not absolute_paths(record)
    assert main(["unroll-probe", "--ckpt", str(checkpoint), "--steps", "0"]) == 2  # K = 0 is the baseline itself
    assert "--steps must be >= 1" in capsys.readouterr().err


def test_a_huge_eps_for_ds_adam_stalls_its_look_ahead_and_the_state_normaliser_is_reported(checkpoint):
    plain = probe(checkpoint, steps=(1,), batches=1)
    states = torch.load(checkpoint, weights_only=True)["optimizer_states"][1]
    beta2 = states["param_groups"][0]["betas"][1]
    roots = torch.cat([(s["exp_avg_sq"] / (1 - beta2 ** float(s["step"]))).sqrt().flatten() for s in states["state"].values()])
    assert plain["d_sqrt_v_hat"]["min"] == pytest.approx(roots.min().item(), rel=1e-6)
    assert plain["d_sqrt_v_hat"]["median"] == pytest.approx(roots.double().median().item(), rel=1e-6)
    assert plain["d_eps"] == plain["d_eps_saved"] == states["param_groups"][0]["eps"]
    stalled = probe(checkpoint, steps=(1,), batches=1, d_eps=1e6)  # Adam's step: lr · m̂ / (√v̂ + 10⁶) ≈ 0
    assert stalled["d_eps"] == 1e6 and stalled["d_eps_saved"] == plain["d_eps_saved"]
    rows = by_variant(stalled)
    assert rows[1, True]["generator_loss"] == pytest.approx(rows[0, True]["generator_loss"], rel=1e-5)
    assert rows[1, True]["cosine_with_k0"] == pytest.approx(1.0, abs=1e-4)
    assert by_variant(plain)[1, True]["cosine_with_k0"] < 1.0 - 1e-4  # with its own ε it does look ahead


def test_the_command_probes_again_for_each_eps_asked(checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["unroll-probe", "--ckpt", str(checkpoint), "--steps", "1", "--batches", "1", "--d-eps", "1e-3",
                 "--out", str(out)]) == 0
    assert "(ε 0.001, replacing its 1e-08)" in capsys.readouterr().out
    assert [p["d_eps"] for p in json.loads(out.read_text())["probes"]] == [1e-8, 1e-3]
