"""`zoo reproduce lapgan-mnist` at a tiny budget: matched budgets, scored rows, files and resume semantics."""

from __future__ import annotations

import json

import pytest

from zoo.errors import ZooConfigError
from zoo.reproduce import lapgan
from zoo.reproduce.lapgan import MatchedBudget, reproduce

TINY = MatchedBudget(gan_epochs=3, level_epochs=1, train_batches=1, samples=200, test_points=200, gan_curve_every=3)
ROWS = ("gan", "lapgan")


@pytest.fixture(scope="module")
def store(tmp_path_factory, mnist_root):
    runs, out = tmp_path_factory.mktemp("store"), tmp_path_factory.mktemp("out")
    return runs, out, reproduce(TINY, runs, out, quick=True, rows=ROWS)


def _no_training(*args, **kwargs):
    raise AssertionError("a finished run was trained again")


def test_rows_are_scored_under_gan2014_with_matched_generator_updates(store):
    _, out, record = store
    gan, lap = record["rows"]["gan"], record["rows"]["lapgan"]
    assert gan["generator_steps"] == lap["generator_steps"] == 3  # 3 GAN epochs, or 3 levels × 1 epoch, of one batch
    for row in (gan, lap):
        assert row["status"] == "complete" and row["samples"] == 200 and row["test_points"] == 200
        assert row["stderr"] > 0 and row["sigma"] > 0 and row["std"] == pytest.approx(row["stderr"] * 200**0.5)
    assert lap["budget"]["runs"] == 3 and gan["budget"]["runs"] == 1
    found = record["finding"]["lapgan"]
    assert found["minus_gan"] == pytest.approx(lap["mean"] - gan["mean"])
    assert record["protocol"] == "gan2014" and (out / record["figures"]["lapgan"]).is_file()


def test_level_0_keeps_the_papers_sgd_and_the_convolutional_levels_train_with_adam(store):
    from zoo.checkpoints import read_checkpoint

    runs, _, _ = store
    optimizers = [read_checkpoint(runs / "lapgan-mnist" / "quick" / f"lapgan-level{k}-seed0" / "checkpoints" / "last.ckpt")
                  ["hyper_parameters"]["optimizer"] for k in range(3)]
    assert optimizers == ["sgd", "adam", "adam"]


def test_finished_runs_are_read_back_not_retrained(store, monkeypatch):
    runs, out, record = store
    monkeypatch.setattr("zoo.cli.run_lightning_cli", _no_training)
    again = reproduce(TINY, runs, out, quick=True, rows=ROWS)
    for name in ROWS:
        assert again["rows"][name]["mean"] == record["rows"][name]["mean"]


def test_a_partial_level_needs_resume(store):
    runs, out, _ = store
    record_path = runs / "lapgan-mnist" / "quick" / "lapgan-level2-seed0" / "run.json"
    saved = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**saved, "epochs_done": 0}))
    with pytest.raises(ZooConfigError, match="partial run"):
        reproduce(TINY, runs, out, quick=True, rows=ROWS)
    again = reproduce(TINY, runs, out, quick=True, rows=ROWS, resume=True)
    assert again["rows"]["lapgan"]["status"] == "complete"
    assert json.loads(record_path.read_text())["epochs_done"] == 1


def test_command_line_writes_the_result_files(store, tmp_path, monkeypatch):
    from zoo.reproduce.command import main

    runs, _, _ = store
    monkeypatch.setattr(lapgan, "QUICK", TINY)
    monkeypatch.setattr(lapgan, "ROWS", ROWS)
    monkeypatch.setattr("zoo.cli.run_lightning_cli", _no_training)
    assert main(["lapgan-mnist", "--quick", "--runs", str(runs), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "lapgan-mnist.json").read_text()
    assert json.loads(text)["rows"]["lapgan"]["checkpoint"].startswith("$ZOO_RUNS/")
    assert str(runs) not in text and str(tmp_path) not in text
    assert "| lapgan |" in (tmp_path / "lapgan-mnist.md").read_text()


def test_a_budget_that_is_not_matched_is_refused():
    with pytest.raises(ZooConfigError, match="matched budget"):
        MatchedBudget(gan_epochs=4, level_epochs=1)
