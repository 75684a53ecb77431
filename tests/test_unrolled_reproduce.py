"""`zoo reproduce unrolled-mixtures` at a tiny budget: rows, goals, files, and resume semantics."""

from __future__ import annotations

import json

import pytest

from zoo.errors import ZooConfigError
from zoo.reproduce import unrolled
from zoo.reproduce.step_runs import StepBudget
from zoo.reproduce.unrolled import reproduce

TINY = StepBudget(generator_steps=4, trace_every=2, samples=400, seeds=(0, 1))
ROWS = dict(mixtures=("ring",), unroll_steps=(0, 5))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    runs = tmp_path_factory.mktemp("store")
    return runs, reproduce({"ring": TINY}, runs, **ROWS)


def _no_training(*args, **kwargs):
    raise AssertionError("a finished seed was trained again")


def test_rows_hold_per_seed_and_mean_scores(store):
    _, record = store
    assert [(r["mixture"], r["unroll_steps"]) for r in record["rows"]] == [("ring", 0), ("ring", 5)]
    for row in record["rows"]:
        assert row["num_modes"] == 8 and row["generator_steps"] == 4
        assert row["config"] == f"configs/unrolled/ring_k{row['unroll_steps']}.yaml"
        for key in ("modes_covered", "high_quality_fraction", "kl_to_uniform"):
            per_seed = row[key]["per_seed"]
            assert len(per_seed) == 2 and per_seed == [s[key] for s in row["seeds"]]
            if None in per_seed:  # KL of a seed without a single high-quality sample
                assert key == "kl_to_uniform" and row[key]["mean"] is None
            else:
                assert row[key]["mean"] == pytest.approx(sum(per_seed) / 2)
        for seed in row["seeds"]:
            assert 0 <= seed["modes_covered"] <= 8 and 0.0 <= seed["high_quality_fraction"] <= 1.0
            assert len(seed["trained_at_commit"].removesuffix("+dirty")) == 40 and seed["trained_on"].startswith("cpu")
            assert sum(seed["counts"]) == round(seed["high_quality_fraction"] * TINY.samples)
            assert list(seed["trace_modes_covered"]) == ["0", "2", "4"]
    assert record["goals"]["ring_k10_all_modes_every_seed"] is None  # K = 10 was not run
    assert isinstance(record["goals"]["ring_k0_never_all_modes"], bool)
    assert record["seeds"]["training"] == [0, 1] and record["sample_counts"]["scored_per_seed"] == 400


def test_the_quality_trace_scores_each_snapshot_and_is_filled_in_for_seeds_scored_without_it(store):
    import torch

    from zoo.data.toy2d import MixtureDataModule
    from zoo.eval.modes import count_modes

    runs, record = store
    seed = record["rows"][1]["seeds"][0]
    trace = torch.load(runs / "ring_k5" / "seed0" / "trace.pt", weights_only=True)
    ring = MixtureDataModule("ring")
    assert seed["trace_high_quality_fraction"] == {
        str(step): count_modes(samples, ring.centres, ring.std)["high_quality_share"] for step, samples in trace.items()}
    older = {k: v for k, v in seed.items() if k != "trace_high_quality_fraction"}
    assert unrolled._with_trace_scores(older, "ring", unrolled._trace_file(runs, "ring", 5, 0)) == seed
    assert "| ring | 5 | " + " | ".join(", ".join(f"{s['trace_high_quality_fraction'][step]:.2f}" for s in record["rows"][1]["seeds"])
                                     for step in ("0", "2", "4")) + " |" in unrolled.markdown(record)


def test_outputs_have_the_figure_and_no_absolute_paths(store, tmp_path):
    runs, record = store
    paths = unrolled.write_outputs(record, runs, tmp_path / "out")
    text = paths["json"].read_text()
    assert json.loads(text)["table"] == "unrolled-mixtures"
    assert str(runs) not in text and str(tmp_path) not in text and "/home/" not in text
    from PIL import Image

    width, height = Image.open(paths["png"]).size  # one line (ring, K = 0) of three snapshots, 2 inches each
    assert (width, height) == (3 * 200, 200)
    assert "| ring | 5 |" in paths["md"].read_text()


def test_finished_seeds_are_read_back_not_retrained(store, monkeypatch):
    runs, record = store
    monkeypatch.setattr("zoo.cli.run_lightning_cli", _no_training)
    again = reproduce({"ring": TINY}, runs, **ROWS)
    assert again["rows"] == record["rows"]


def test_partial_seed_needs_resume_and_continues_from_its_checkpoint(store):
    runs, record = store
    seed_dir = runs / "ring_k5" / "seed1"
    (seed_dir / "result.json").unlink()
    with pytest.raises(ZooConfigError, match="partial run: add --resume"):
        reproduce({"ring": TINY}, runs, **ROWS)
    again = reproduce({"ring": TINY}, runs, resume=True, **ROWS)
    continued = again["rows"][1]["seeds"][1]
    assert continued["continued_from_checkpoint"] is True
    original = record["rows"][1]["seeds"][1]
    for key in ("modes_covered", "high_quality_fraction", "kl_to_uniform", "counts", "trace_modes_covered",
                "trace_high_quality_fraction"):
        assert continued[key] == original[key], key
    # the training time sums both sessions (the first one's is kept in the run folder)
    assert continued["train_wall_time_s"] > original["train_wall_time_s"]
    assert json.loads((seed_dir / "train_seconds.json").read_text())["seconds"] == continued["train_wall_time_s"]


def test_another_budget_is_refused_without_retrain(store):
    runs, _ = store
    other = StepBudget(generator_steps=6, trace_every=2, samples=400, seeds=(0,))
    with pytest.raises(ZooConfigError, match="another config or budget: pass --retrain"):
        reproduce({"ring": other}, runs, **ROWS)


def test_command_line_writes_the_result_files(store, tmp_path, monkeypatch):
    from zoo.reproduce.command import main

    runs, _ = store
    monkeypatch.setattr(unrolled, "QUICK", TINY)
    monkeypatch.setattr(unrolled, "MIXTURES", ROWS["mixtures"])
    monkeypatch.setattr(unrolled, "UNROLL_STEPS", ROWS["unroll_steps"])
    monkeypatch.setattr("zoo.cli.run_lightning_cli", _no_training)
    quick_store = runs.parent / "command-store"
    (quick_store / "unrolled-mixtures").mkdir(parents=True)
    (quick_store / "unrolled-mixtures" / "quick").symlink_to(runs)
    assert main(["unrolled-mixtures", "--quick", "--runs", str(quick_store), "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "unrolled-mixtures.json").read_text())
    assert record["quick"] is True and len(record["rows"]) == 2
    assert (tmp_path / "unrolled-mixtures.png").exists()


def test_a_row_trains_as_its_own_job_and_no_train_assembles_what_finished(tmp_path):
    budget = StepBudget(generator_steps=4, trace_every=2, samples=400, seeds=(0,))
    one = reproduce({"ring": budget}, tmp_path, rows=("ring-k5",), **ROWS)
    assert [(r["mixture"], r["unroll_steps"]) for r in one["rows"]] == [("ring", 5)] and one["complete"]
    assert not (tmp_path / "ring_k0").exists()  # the other row was left to its own job
    assembled = reproduce({"ring": budget}, tmp_path, train=False, **ROWS)
    assert [r["unroll_steps"] for r in assembled["rows"]] == [5] and assembled["unfinished_rows"] == ["ring, K = 0"]
    assert assembled["rows"][0]["seeds"] == one["rows"][0]["seeds"] and not (tmp_path / "ring_k0").exists()
    longer = StepBudget(generator_steps=6, trace_every=2, samples=400, seeds=(0,))
    with pytest.raises(ZooConfigError, match="another config or budget"):  # never assembled under another budget
        reproduce({"ring": longer}, tmp_path, train=False, **ROWS)


def test_one_seed_of_a_row_trains_as_its_own_job_and_stands_in_the_full_rows_table(store, tmp_path, monkeypatch):
    import shutil

    from zoo.reproduce.command import main

    runs, record = store
    table = tmp_path / "runs" / unrolled.TABLE / "quick"
    shutil.copytree(runs / "ring_k0" / "seed0", table / "ring_k0" / "seed0")  # seed 0 finished earlier
    monkeypatch.setattr(unrolled, "QUICK", TINY)
    monkeypatch.setattr(unrolled, "MIXTURES", ("ring",))
    monkeypatch.setattr(unrolled, "UNROLL_STEPS", (0,))
    common = ["unrolled-mixtures", "--quick", "--runs", str(tmp_path / "runs")]
    assert main([*common, "--rows", "ring-k0", "--seeds", "1", "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "unrolled-mixtures.json").read_text())
    assert [s["seed"] for s in one["rows"][0]["seeds"]] == [1] and one["budget"]["ring"]["seeds"] == [1]
    assert main([*common, "--no-train", "--out", str(tmp_path / "all")]) == 0  # the budget's seeds 0 and 1
    both = json.loads((tmp_path / "all" / "unrolled-mixtures.json").read_text())["rows"][0]
    assert both["seeds"] == [record["rows"][0]["seeds"][0], one["rows"][0]["seeds"][0]]
    assert both["seeds"][1]["modes_covered"] == record["rows"][0]["seeds"][1]["modes_covered"]  # seed 1 alone = seed 1 of two


def test_a_deadline_leaves_rows_unfinished_and_resume_finishes_them(tmp_path):
    import time

    budget = StepBudget(generator_steps=4, trace_every=2, samples=400, seeds=(0,))
    stopped = reproduce({"ring": budget}, tmp_path, deadline=time.time() - 1, **ROWS)  # out of time before the first row
    assert stopped["complete"] is False and stopped["rows"] == []
    assert stopped["unfinished_rows"] == ["ring, K = 0", "ring, K = 5"]
    assert "Not finished: ring, K = 0, ring, K = 5;" in unrolled.markdown(stopped)
    assert "png" not in unrolled.write_outputs(stopped, tmp_path, tmp_path / "out")  # no rows, no figure
    done = reproduce({"ring": budget}, tmp_path, resume=True, **ROWS)
    assert done["complete"] is True and done["unfinished_rows"] == []
    assert [(r["mixture"], r["unroll_steps"]) for r in done["rows"]] == [("ring", 0), ("ring", 5)]


def test_once_the_deadline_stops_a_run_no_other_run_starts(tmp_path, monkeypatch):
    # GracefulStop ends a run an epoch before the deadline; the next seed must not take that epoch.
    import time

    from zoo.reproduce import step_runs

    deadline = time.time() + 3600
    calls = []

    def fake_train_seed(config, seed, budget, run_dir, score, resume, retrain, given_deadline):
        calls.append((run_dir.parent.name, seed, given_deadline))
        stopped = given_deadline is not None and time.time() >= given_deadline
        return None if stopped or (run_dir.parent.name == "a" and seed == 1) else {"seed": seed}

    monkeypatch.setattr(step_runs, "train_seed", fake_train_seed)
    budget = StepBudget(generator_steps=4, trace_every=2, samples=10, seeds=(0, 1, 2))
    jobs = {"a": (tmp_path / "a.yaml", tmp_path / "a"), "b": (tmp_path / "b.yaml", tmp_path / "b")}
    finished, unfinished = step_runs.train_rows(jobs, budget, score=None, resume=True, retrain=False, deadline=deadline)
    assert finished == {} and unfinished == ["a", "b"]
    assert [(row, seed) for row, seed, _ in calls] == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert [d for *_, d in calls][:2] == [deadline, deadline]
    assert all(d is not None and d <= time.time() for *_, d in calls[2:])  # finished seeds still read back


def test_a_deadline_between_batches_stops_a_seed_that_resume_finishes_as_if_never_stopped(store, tmp_path, monkeypatch):
    import time

    import torch

    from zoo.callbacks import interrupts
    from zoo.reproduce import step_runs

    class DeadlineAfterStep2(interrupts.GracefulStop):
        def on_train_batch_end(self, trainer, pl_module, *args):
            if pl_module.generator_steps == 2 and self.deadline is not None:
                self.deadline = time.time() - 1
            super().on_train_batch_end(trainer, pl_module, *args)

    _, record = store
    config, run_dir = unrolled.config_path("ring", 5), tmp_path / "seed1"
    monkeypatch.setattr(interrupts, "GracefulStop", DeadlineAfterStep2)
    assert step_runs.train_seed(config, 1, TINY, run_dir, unrolled.score, False, False, deadline=time.time() + 3600) is None
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["zoo"]["generator_steps"] == 2
    assert not (run_dir / "result.json").exists()
    monkeypatch.undo()
    done = step_runs.train_seed(config, 1, TINY, run_dir, unrolled.score, resume=True, retrain=False)
    assert done["continued_from_checkpoint"] is True
    original = record["rows"][1]["seeds"][1]
    for key in ("modes_covered", "high_quality_fraction", "kl_to_uniform", "counts"):
        assert done[key] == original[key], key


def test_the_footer_names_the_devices_that_trained_the_seeds_and_the_rows_of_the_less_used_ones():
    from zoo.reproduce.step_runs import training_time
    from zoo.reproduce.unrolled_stacked import row_label

    def row(d_size, steps, device, seconds):
        return {"d_size": d_size, "unroll_steps": steps, "seeds": [{"trained_on": device, "train_wall_time_s": seconds}] * 3}

    rows = [row(0.5, 0, "cpu: A", 600.0), row(0.5, 5, "cpu: A", 600.0), row(0.5, 10, "cuda: B", 400.0)]
    footer = training_time(rows, row_label)
    assert footer.startswith("training 1.3 h of wall time over 9 runs: 6 on cpu: A; 3 on cuda: B (D 0.5, K = 10)")
    assert "cpu: A (" not in footer  # the most used device's rows go without saying


def test_each_mixture_trains_and_reports_under_its_own_budget(tmp_path):
    ring = StepBudget(generator_steps=4, trace_every=2, samples=400, seeds=(0,))
    grid = StepBudget(generator_steps=2, trace_every=2, samples=500, seeds=(0,))
    record = reproduce({"ring": ring, "grid": grid}, tmp_path, mixtures=("ring", "grid"), unroll_steps=(0,))
    steps = {r["mixture"]: (r["generator_steps"], r["budget"]["generator_steps"]) for r in record["rows"]}
    assert steps == {"ring": (4, 4), "grid": (2, 2)}
    assert record["budget"]["grid"]["samples"] == 500 and record["sample_counts"]["scored_per_seed"] is None
    assert sum(record["rows"][1]["seeds"][0]["counts"]) == round(record["rows"][1]["seeds"][0]["high_quality_fraction"] * 500)
    assert "ring: 4 generator steps per run" in unrolled.markdown(record)
    assert "grid: 2 generator steps per run" in unrolled.markdown(record)
    ring_only = {**record, "rows": [r for r in record["rows"] if r["mixture"] == "ring"]}  # as --rows ring-k0 writes it
    assert "ring: 4 generator steps per run" in unrolled.markdown(ring_only) and "grid:" not in unrolled.markdown(ring_only)


def test_a_lost_rows_seeds_are_carried_over_and_the_figure_draws_the_rows_held(tmp_path):
    import shutil

    from zoo.reproduce.carry import CarriedRows, ResultFile

    budget = {"ring": StepBudget(generator_steps=4, trace_every=2, samples=400, seeds=(0,))}
    table = dict(mixtures=("ring",), unroll_steps=(0, 10))
    record = reproduce(budget, tmp_path, **table)
    shutil.rmtree(tmp_path / "ring_k0")
    origin = {"file": "results/unrolled-mixtures.json", "commit": record["commit"]}
    again = reproduce(budget, tmp_path, train=False, carry=CarriedRows(ResultFile(record, origin)), **table)
    assert again["complete"] and again["rows"][1]["seeds"] == record["rows"][1]["seeds"]  # K = 10 read from the store
    assert again["rows"][0]["seeds"] == [{**s, "carried_over_from": origin} for s in record["rows"][0]["seeds"]]
    assert again["notes"][0].startswith("carried over from results/unrolled-mixtures.json") and again["notes"][0].endswith(
        "more trained than in this run store: ring, K = 0 (seed 0)")
    assert [(m, k, file.parent.name) for m, k, file in unrolled.figure_panels(again, tmp_path)] == [("ring", 10, "seed0")]
    assert "png" in unrolled.write_outputs(again, tmp_path, tmp_path / "out")
    without = reproduce(budget, tmp_path, train=False, **table)
    assert not without["complete"] and without["unfinished_rows"] == ["ring, K = 0"]
    (tmp_path / "ring_k10" / "seed0" / "result.json").unlink()  # a run the store has not finished yields to a finished one
    unfinished = reproduce(budget, tmp_path, train=False, carry=CarriedRows(ResultFile(record, origin)), **table)
    assert unfinished["complete"] and unfinished["rows"][1]["seeds"] == [{**s, "carried_over_from": origin} for s in record["rows"][1]["seeds"]]
