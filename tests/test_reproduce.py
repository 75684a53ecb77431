"""`zoo reproduce … --quick` runs the whole pipeline: train, score, report."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

from tests.conftest import REPO
from zoo.cli import main
from zoo.errors import ZooConfigError
from zoo.reproduce.command import parse_duration
from zoo.reproduce.parzen import verdict
from zoo.reproduce.runs import CurveSpec, RowRun
from zoo.reproduce.tables import FGAN_TABLE4, TABLES, Budget, Row


def test_verdict_uses_two_combined_standard_errors():
    assert verdict(224.0, 1.0, 225.0, 2.0) == "reproduced"
    assert verdict(210.0, 1.0, 225.0, 2.0) == "not reproduced"
    assert verdict(210.0, 1.0, None, None) == "no paper value"


def test_verdict_names_a_paper_value_above_the_real_data_ceiling():
    ceiling = {"mean": 267.3, "stderr": 2.0}
    assert verdict(102.2, 1.4, 305.0, 9.0, ceiling) == (
        "not reproduced; the paper's value is above real data's 267.3 under this protocol")
    # 280 ± 9 is within two combined standard errors (2 × 9.2) of the ceiling: no claim about the protocol.
    assert verdict(102.2, 1.4, 280.0, 9.0, ceiling) == "not reproduced"
    assert verdict(-190.7, 1.4, -708.0, 18.1, ceiling) == "not reproduced; ours is above the paper's value"
    assert verdict(-750.0, 1.4, -708.0, 18.1, ceiling) == "not reproduced"
    assert verdict(266.0, 1.0, 270.0, 2.0, ceiling) == "reproduced"


def test_every_row_points_at_a_config_that_exists():
    for table in TABLES.values():
        for row in table.rows:
            assert (REPO / row.config).exists(), row.config
    assert len(FGAN_TABLE4.rows) == 9


def test_fgan_table4_quick_writes_json_markdown_and_chart(tmp_path, monkeypatch, mnist_root, capsys):
    monkeypatch.chdir(REPO)
    out, runs = tmp_path / "results", tmp_path / "runs"
    # Two rows trained as their own job, then the table assembled from the store without training.
    assert main(["reproduce", "fgan-table4", "--quick", "--rows", "Kullback-Leibler", "gan", "--out", str(out), "--runs", str(runs)]) == 0
    assert sorted(p.name for p in (runs / "fgan-table4" / "quick").iterdir() if p.is_dir()) == ["gan-seed0", "kullback-leibler-seed0"]
    assert [r["name"] for r in json.loads((out / "fgan-table4.json").read_text())["rows"]] == ["Kullback-Leibler", "GAN"]
    checkpoint = runs / "fgan-table4" / "quick" / "gan-seed0" / "checkpoints" / "last.ckpt"
    stamp = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["reproduce", "fgan-table4", "--quick", "--no-train", "--out", str(out), "--runs", str(runs)]) == 3  # unfinished
    assert "have not reached their budget in the run store: train them with --resume" in capsys.readouterr().err
    assembled = json.loads((out / "fgan-table4.json").read_text())
    assert [r["status"] for r in assembled["rows"]].count("complete") == 2 and not assembled["complete"]
    assert checkpoint.stat().st_mtime_ns == stamp and len(list((runs / "fgan-table4" / "quick").iterdir())) == 2 + 2  # + locks
    assert main(["reproduce", "fgan-table4", "--quick", "--out", str(out), "--runs", str(runs)]) == 0  # trains the other seven
    assert checkpoint.stat().st_mtime_ns == stamp
    record = json.loads((out / "fgan-table4.json").read_text())
    assert record["quick"] is True and len(record["rows"]) == 9
    for key in ("commit", "device", "seeds", "wall_time_s", "sample_counts", "protocol"):
        assert key in record
    for row in record["rows"]:
        assert row["ours"]["n_samples"] == 512 and row["ours"]["n_points"] == 1_000
        assert row["ours"]["generator_steps"] == 2
    assert record["real_data"]["paper"] == {"mean": 502.0, "stderr": 5.99}
    markdown = (out / "fgan-table4.md").read_text()
    assert "| Kullback-Leibler |" in markdown and "502.0 ± 6.0" in markdown
    # Jensen-Shannon is GAN's objective plus a constant: it trains at the next seed, or it would repeat the GAN row.
    assert {r["name"]: r["seed"] for r in record["rows"]}["Jensen-Shannon"] == 1 and "| Jensen-Shannon (seed 1) |" in markdown
    js, gan = (torch.load(runs / "fgan-table4" / "quick" / f"{name}/checkpoints/last.ckpt", weights_only=True)["state_dict"]
               for name in ("jensen-shannon-seed1", "gan-seed0"))
    assert not torch.equal(js["generator.net.0.weight"], gan["generator.net.0.weight"])
    assert (out / "fgan-table4.png").stat().st_size > 0

    # a store that lost the GAN row: the earlier result file lends it, scored as it was, and the table says so
    import shutil

    from zoo.reproduce.carry import CarriedRows, ResultFile
    from zoo.reproduce.parzen import reproduce_parzen_table
    from zoo.reproduce.report import markdown as table_markdown

    shutil.rmtree(runs / "fgan-table4" / "quick" / "gan-seed0")
    origin = {"file": "results/fgan-table4.json", "commit": record["commit"]}
    again = reproduce_parzen_table(FGAN_TABLE4, True, runs, 0, retrain=False, train=False, carry=CarriedRows(ResultFile(record, origin)))
    earlier = {r["name"]: r for r in record["rows"]}
    gan = {k: v for k, v in earlier["GAN"].items() if k != "checkpoint"}
    assert again["complete"] and again["rows"][0] == {**gan, "carried_over_from": origin, "checkpoint_when_scored": earlier["GAN"]["checkpoint"]}
    assert all(r["ours"] == earlier[r["name"]]["ours"] and "carried_over_from" not in r for r in again["rows"][1:])
    assert f"- carried over from results/fgan-table4.json (written at commit {record['commit'][:7]}), more trained than in this run store: GAN\n" \
        in table_markdown(again)
    further = {**record, "rows": [{**r, "ours": {**r["ours"], "epochs": r["ours"]["epochs"] + 1}} for r in record["rows"]]}
    ahead = reproduce_parzen_table(FGAN_TABLE4, True, runs, 0, retrain=False, train=False, carry=CarriedRows(ResultFile(further, origin)))
    assert all(r["carried_over_from"] == origin for r in ahead["rows"])  # each trained one epoch further than the store's run
    other_budget = {**record, "rows": [{**r, "budget": {**r["budget"], "max_epochs": 5}} for r in record["rows"]]}
    lost = reproduce_parzen_table(FGAN_TABLE4, True, runs, 0, retrain=False, train=False, carry=CarriedRows(ResultFile(other_budget, origin)))
    assert lost["rows"][0]["status"] == "not started"  # a row trained past this budget is another experiment


def test_every_row_of_the_alternating_f_gan_table_trains_with_alternating_updates_at_batch_512(tmp_path, monkeypatch, mnist_root):
    from zoo.cli import run_lightning_cli
    from zoo.reproduce.runs import config_path
    from zoo.reproduce.tables import TABLES

    monkeypatch.chdir(tmp_path)
    rows = TABLES["fgan-table4-alternating"].rows
    assert len(rows) == 9 and len({row.extra for row in rows}) == 1  # every row gets the same options: try one
    cli = run_lightning_cli(["fit", "--config", str(config_path(rows[0].config)), *rows[0].extra, "--trainer.fast_dev_run", "true"])
    assert cli.model.hparams["update"] == "alternating" and cli.datamodule.hparams.batch_size == 512


def test_a_row_stopped_by_its_deadline_resumes_where_it_stopped_and_is_then_reused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    row = Row("quickstart", str(REPO / "configs" / "quickstart.yaml"), None, None, Budget(3, 2))
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1"]
    run = RowRun(tmp_path / "run", row, seed=0, extra=quiet)
    curve = CurveSpec(every_n_epochs=1, protocol=None, num_samples=64)

    first = run.train(row.budget, curve, deadline=time.time(), resume=False, retrain=False)  # out of time after one epoch
    assert (first.epochs_done, first.complete) == (1, False)
    with pytest.raises(ZooConfigError, match="--resume"):
        run.train(row.budget, curve, deadline=None, resume=False, retrain=False)
    done = run.train(row.budget, curve, deadline=None, resume=True, retrain=False)
    assert (done.epochs_done, done.complete) == (3, True)
    assert [p["epoch"] for p in done.curve] == [1, 2, 3]
    assert [s["epochs"] for s in done.segments] == [[0, 1], [1, 3]]
    assert all(s["device"].startswith("cpu: ") for s in done.segments)  # where each segment trained
    assert all(p["generator_steps"] == 2 * p["epoch"] for p in done.curve)

    # a session killed by a signal leaves epochs_done at its start; its checkpoint says how far it got
    record = json.loads(run.record_path.read_text())
    run.record_path.write_text(json.dumps({**record, "epochs_done": 1}))
    killed = run.state(row.budget)
    assert (killed.epochs_done, killed.epochs_reached) == (1, 3)  # last.ckpt was saved at the end of epoch index 2
    run.record_path.write_text(json.dumps(record))

    stamp = done.checkpoint.stat().st_mtime_ns
    again = run.train(row.budget, curve, deadline=None, resume=True, retrain=False)
    assert again.checkpoint.stat().st_mtime_ns == stamp
    other_seed = RowRun(tmp_path / "run", row, seed=1, extra=quiet)
    with pytest.raises(ZooConfigError, match="seed"):
        other_seed.train(row.budget, curve, deadline=None, resume=True, retrain=False)


def test_a_session_killed_outright_gets_its_segment_from_its_session_file_when_the_run_goes_on(tmp_path, monkeypatch):
    from zoo.reproduce.report import segment_epochs
    from zoo.reproduce.runs import SESSION_FILE

    monkeypatch.chdir(tmp_path)
    row = Row("quickstart", str(REPO / "configs" / "quickstart.yaml"), None, None, Budget(3, 2))
    run = RowRun(tmp_path / "run", row, seed=0, extra=["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1"])
    curve = CurveSpec(every_n_epochs=1, protocol=None, num_samples=64)
    run.train(row.budget, curve, deadline=time.time(), resume=False, retrain=False)  # one epoch, recorded
    session = {}

    def kill_at_the_third_epoch_end(*args, **kwargs):  # what SIGKILL leaves: a checkpoint and a session file
        session.update(json.loads((run.dir / SESSION_FILE).read_text()))
        raise SystemExit("killed")

    import zoo.cli

    fit = zoo.cli.run_lightning_cli
    monkeypatch.setattr(zoo.cli, "run_lightning_cli", lambda args, extra_callbacks: (fit(args, extra_callbacks=extra_callbacks), kill_at_the_third_epoch_end()))
    before_kill = json.loads(run.record_path.read_text())
    with pytest.raises(SystemExit):
        run.train(row.budget, curve, deadline=None, resume=True, retrain=False)
    assert session["from_epoch"] == 1 and session["device"].startswith("cpu: ") and session["commit"]
    run.record_path.write_text(json.dumps(before_kill))  # SIGKILL runs no finally: the record never heard of it
    (run.dir / SESSION_FILE).write_text(json.dumps(session))
    monkeypatch.setattr(zoo.cli, "run_lightning_cli", fit)

    done = run.train(row.budget, curve, deadline=None, resume=True, retrain=False)
    first, killed, last = done.segments
    assert segment_epochs(first) == (0, 1) and segment_epochs(killed) == (1, 3) and segment_epochs(last) == (3, 3)
    assert killed["killed"] and (killed["commit"], killed["device"]) == (session["commit"], session["device"])
    assert 0 < killed["wall_time_s"] < 600 and done.complete and not (run.dir / SESSION_FILE).exists()


def test_a_session_a_signal_stops_still_names_its_device(tmp_path, monkeypatch):
    import pytorch_lightning as pl

    import zoo.cli

    class Interrupt(pl.Callback):  # what a ctrl-C in the first batch looks like to the session
        def on_train_batch_end(self, *args):
            raise KeyboardInterrupt

    fit = zoo.cli.run_lightning_cli
    monkeypatch.setattr(zoo.cli, "run_lightning_cli", lambda args, extra_callbacks: fit(args, extra_callbacks=[*extra_callbacks, Interrupt()]))
    monkeypatch.chdir(tmp_path)
    row = Row("quickstart", str(REPO / "configs" / "quickstart.yaml"), None, None, Budget(3, 2))
    run = RowRun(tmp_path / "run", row, seed=0, extra=["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1"])
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        run.train(row.budget, CurveSpec(every_n_epochs=1, protocol=None, num_samples=64), deadline=None, resume=False, retrain=False)
    (segment,) = json.loads(run.record_path.read_text())["segments"]
    assert segment["interrupted"] and segment["device"].startswith("cpu: ")


def test_improved_gan_mnist_seeds_reach_each_milestone_in_turn_and_rows_compare_them_at_one_epoch(tmp_path, monkeypatch):
    from zoo.reproduce import improved
    from zoo.reproduce.runs import RowState

    calls, epochs = [], {}

    class FakeRun:  # a run that trains instantly, or stops at the deadline like the real one
        def __init__(self, folder, labels, seed, plan, quick):
            self.seed = seed

        def state(self, budget):
            done = epochs.get(self.seed)
            curve = [{"epoch": e, "mean": 100.0 * self.seed + e} for e in range(1, (done or 0) + 1)]
            return None if done is None else RowState(tmp_path / "last.ckpt", done, done >= budget.max_epochs, curve, [])

        def train(self, budget, curve, deadline, resume, retrain):
            done = epochs.get(self.seed, 0)
            if done >= budget.max_epochs and not retrain:
                return self.state(budget)  # finished runs are read back
            calls.append((self.seed, budget.max_epochs, resume, retrain))
            if done not in (0, *plan.milestones) and not resume:
                raise AssertionError("a run interrupted between milestones continues only with --resume")
            epochs[self.seed] = budget.max_epochs if len(calls) < stop_after else done + 1
            return self.state(budget)

    plan = improved.Plan(labels=(100,), seeds=(0, 1), milestones=(2, 5))
    monkeypatch.setattr(improved, "FULL", plan)
    monkeypatch.setattr(improved, "_run", FakeRun)
    monkeypatch.setattr(improved, "checkpoint_mistakes", lambda checkpoint: {"generator_steps": 0, "errors": 0, "top_confusions": []})
    stop_after = 4  # the deadline cuts seed 1's second stage short
    record = improved.reproduce(tmp_path, quick=False, resume=False, retrain=True, deadline=None, require_clean=False)
    assert calls == [(0, 2, False, True), (1, 2, False, True), (0, 5, True, False), (1, 5, True, False)]
    (row,) = record["rows"]
    assert [s["epochs"] for s in row["per_seed"]] == [5, 3] and row["status"] == "partial" and not record["complete"]
    assert row["epochs"] == 3 and row["ours_errors"] == (3 + 103) / 2  # both seeds read at epoch 3
    assert row["verdict"] == "not reproduced"  # 53 errors lie outside the paper's 93 ± 6.5
    assert record["budget"] == {"max_epochs": 5, "train_batches": None, "milestones": [2, 5]}
    calls.clear()
    stop_after = 99
    with pytest.raises(AssertionError, match="only with --resume"):
        improved.reproduce(tmp_path, quick=False, resume=False, retrain=False, deadline=None, require_clean=False)
    calls.clear()
    record = improved.reproduce(tmp_path, quick=False, resume=True, retrain=False, deadline=None, require_clean=False, train=False)
    assert calls == [] and record["rows"][0]["epochs"] == 3  # reported as it stands
    record = improved.reproduce(tmp_path, quick=False, resume=True, retrain=False, deadline=None, require_clean=False, seeds=[1])
    assert calls == [(1, 5, True, False)] and record["complete"] and record["rows"][0]["seeds"] == [1]
    record = improved.reproduce(tmp_path, quick=False, resume=True, retrain=False, deadline=None, require_clean=False)
    assert calls == [(1, 5, True, False)] and record["complete"] and record["rows"][0]["epochs"] == 5


def test_data_seed_trains_every_seed_on_one_labelled_subset_in_runs_and_files_of_its_own(tmp_path, capsys):
    from zoo.reproduce import improved
    from zoo.reproduce.carry import CarriedRows

    plan = improved.plan_for(quick=False, seeds=[11, 21], data_seed=1)
    runs = [improved._run(tmp_path, 100, seed, plan, quick=False) for seed in plan.seeds]
    assert [run.extra[run.extra.index("--data.init_args.seed") + 1] for run in runs] == ["1", "1"]
    assert [run.seed for run in runs] == [11, 21]  # the training seed stays each run's own
    assert [run.dir.name for run in runs] == ["labels100-data1-seed11", "labels100-data1-seed21"]
    own = improved._run(tmp_path, 100, 1, improved.plan_for(quick=False), quick=False)
    assert own.dir.name == "labels100-seed1" and own.extra[own.extra.index("--data.init_args.seed") + 1] == "1"
    assert improved.result_stem("improved-gan-mnist", 1) == "improved-gan-mnist-data1"
    assert improved.result_stem("improved-gan-mnist", None) == "improved-gan-mnist"
    with pytest.raises(ZooConfigError, match="--carry-over .* --data-seed"):
        improved.reproduce(tmp_path, quick=True, resume=False, retrain=False, deadline=None, require_clean=False,
                           train=False, carry=CarriedRows(), data_seed=1)
    assert main(["reproduce", "gan2014-table1", "--data-seed", "1", "--runs", str(tmp_path)]) == 2
    assert "--data-seed applies to improved-gan-mnist" in capsys.readouterr().err
    empty = improved.reproduce(tmp_path / "store", quick=False, resume=False, retrain=False, deadline=None,
                               require_clean=False, train=False, seeds=[11], data_seed=1)
    paths = improved.write_outputs({**empty, "wall_time_s": 1.0}, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["improved-gan-mnist-data1.json", "improved-gan-mnist-data1.md"]
    assert "batch order of data seed 1: a control" in paths["md"].read_text()


def test_a_seed_stopped_mid_stage_reports_its_errors_at_the_epoch_they_were_measured(tmp_path, monkeypatch):
    from zoo.reproduce import improved
    from zoo.reproduce.runs import RowState

    class Interrupted:  # epochs_done still at the stage's start (50); the curve went on to epoch 68
        def __init__(self, folder, labels, seed, plan, quick):
            pass

        def state(self, budget):
            curve = [{"epoch": e, "mean": 300.0 - e} for e in range(1, 69)]
            return RowState(tmp_path / "last.ckpt", 50, False, curve, [])

    monkeypatch.setattr(improved, "FULL", improved.Plan(labels=(100,), seeds=(0,), milestones=(50, 100)))
    monkeypatch.setattr(improved, "_run", Interrupted)
    monkeypatch.setattr(improved, "checkpoint_mistakes", lambda checkpoint: {"generator_steps": 40_766, "errors": 231,
                                                                              "top_confusions": [{"true": 7, "predicted": 2, "count": 125}]})
    record = improved.reproduce(tmp_path, quick=False, resume=False, retrain=False, deadline=None, require_clean=False, train=False)
    (seed,) = record["rows"][0]["per_seed"]
    assert (seed["errors"], seed["epochs"]) == (232.0, 68)
    assert "seed 0 232 at epoch 68" in improved.markdown(record)
    assert "seed 0, 231 errors at generator step 40766: 7 → 2 ×125" in improved.markdown(record)


def test_top_confusions_counts_true_and_predicted_pairs_most_frequent_first():
    from zoo.eval.confusions import top_confusions

    labels = torch.tensor([7, 7, 7, 1, 1, 4, 4, 2])
    predicted = torch.tensor([2, 2, 1, 1, 2, 9, 9, 2])
    assert top_confusions(predicted, labels, top=2) == [{"true": 7, "predicted": 2, "count": 2}, {"true": 4, "predicted": 9, "count": 2}]
    assert sum(c["count"] for c in top_confusions(predicted, labels, top=10)) == 6  # the two right answers never count


def test_improved_verdict_is_the_papers_error_bar():
    from zoo.reproduce.improved import _verdict

    assert _verdict(99.5, (93, 6.5)) == _verdict(86.5, (93, 6.5)) == "within the paper's error bar"
    assert _verdict(99.6, (93, 6.5)) == "not reproduced" and _verdict(None, (93, 6.5)) == "not started"
    assert _verdict(80.0, None) == "no paper value"


def test_curve_trend_reads_the_later_half_against_its_own_spread():
    from zoo.reproduce.report import curve_trend, describe_trend

    def curve(values):
        return [{"mean": v, "generator_steps": 10 * i} for i, v in enumerate(values)]

    noisy_plateau = [-300, -200, -120, -60, -50, -45, -55, -48, -52, -47, -53, -50]
    assert curve_trend(curve(noisy_plateau))["direction"] == "flat"
    climbing = [-300, -250, -200, -150, -118, -95, -94, -82, -54, -61]  # the late shift beats the scatter
    trend = curve_trend(curve(climbing))
    assert trend["direction"] == "rising" and trend["since_generator_step"] == 50 and trend["points"] == 5
    assert trend["shift"] == pytest.approx((-82 - 54 - 61) / 3 - (-95 - 94) / 2)
    assert curve_trend(curve([-v for v in climbing]))["direction"] == "falling"
    assert describe_trend(curve_trend(curve([1.0, 2.0, 3.0]))) == "too short to tell"
    stuck = [{"mean": -144.7 + 0.01 * i, "stderr": 0.8} for i in range(10)]  # a drift far inside the estimate's error
    assert curve_trend(stuck)["direction"] == "flat"
    assert describe_trend(trend).startswith("rising (+")
    logarithmic = [{"mean": 150 + 12.5 * math.log2(steps), "generator_steps": steps} for steps in range(500, 10_001, 500)]
    assert curve_trend(logarithmic)["per_doubling"] == pytest.approx(12.5)  # what a doubled budget would add
    assert describe_trend(curve_trend(logarithmic)).endswith("; +12.5 per doubling of training)")
    assert curve_trend([{"mean": 5.0 + i, "epoch": 2**i} for i in range(8)])["per_doubling"] == pytest.approx(1.0)  # no steps: epochs
    assert "per doubling" not in describe_trend(curve_trend(curve(noisy_plateau)))  # no pace for a flat curve


def test_max_time_parses_hours_minutes_seconds():
    assert parse_duration("01:30:00") == 5400 and parse_duration("90") == 90 and parse_duration("2:30") == 150
    with pytest.raises(ZooConfigError):
        parse_duration("an hour")


def test_improved_gan_mnist_quick_trains_scores_and_reports_test_errors(tmp_path, monkeypatch, mnist_root):
    monkeypatch.chdir(REPO)
    out = tmp_path / "results"
    assert main(["reproduce", "improved-gan-mnist", "--quick", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    record = json.loads((out / "improved-gan-mnist.json").read_text())
    (row,) = record["rows"]
    assert (row["labels"], row["paper_errors"], row["paper_errors_std"]) == (100, 93, 6.5)
    (seed,) = row["per_seed"]
    assert seed["epochs"] == 1 and seed["curve"][0]["generator_steps"] == 2 and row["epochs"] == 1
    assert 0 <= row["ours_errors"] <= 10_000 and row["ours_errors"] == seed["errors"]
    assert "| 100 | 93 ± 6.5 |" in (out / "improved-gan-mnist.md").read_text()
    assert (out / "improved-gan-mnist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # each seed's curve
    # the current D's errors ride along each curve point, beside its moving average's
    assert seed["errors_current_d"] == seed["curve"][-1]["also"]["val/errors_current_d"]
    assert 0 <= seed["errors_current_d"] <= 10_000
    assert f"(current D: {seed['errors_current_d']:.0f})" in (out / "improved-gan-mnist.md").read_text()
    assert [device.split(":")[0] for device in record["trained_on"]] == ["cpu"]  # where the seeds trained
    # the full test set at the last checkpoint, and its most frequent mistakes
    mistakes = seed["at_checkpoint"]
    counts = [c["count"] for c in mistakes["top_confusions"]]
    assert 0 < sum(counts) <= mistakes["errors"] <= 10_000 and counts == sorted(counts, reverse=True)
    assert all(c["true"] != c["predicted"] for c in mistakes["top_confusions"])
    assert mistakes["generator_steps"] == seed["curve"][-1]["generator_steps"]  # a finished run's last point
    assert f"seed 0, {mistakes['errors']} errors at generator step {mistakes['generator_steps']}:" in (out / "improved-gan-mnist.md").read_text()
    # the softplus deviation is a table of its own, with its own config and run folder
    assert main(["reproduce", "improved-gan-mnist-softplus", "--quick", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    softplus = json.loads((out / "improved-gan-mnist-softplus.json").read_text())
    assert softplus["config"] == "configs/improved/mnist_100_softplus.yaml" and "softplus" in softplus["title"]
    # so is the schedule of the code's first commit, which scores D itself: no average to set it beside
    assert main(["reproduce", "improved-gan-mnist-first-schedule", "--quick", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    first = json.loads((out / "improved-gan-mnist-first-schedule.json").read_text())
    assert first["config"] == "configs/improved/mnist_100_first_schedule.yaml" and "first commit's schedule" in first["title"]
    (seed,) = first["rows"][0]["per_seed"]
    assert seed["errors_current_d"] is None and 0 <= seed["errors"] <= 10_000
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "improved-gan-mnist", "improved-gan-mnist-first-schedule", "improved-gan-mnist-softplus"]
    from zoo.reproduce import improved, tables
    assert tuple(improved.TABLES) == tables.tables_of_kind("seeds")  # one list of names, one of configs: they must agree


def test_a_session_a_signal_stopped_lists_the_epochs_its_checkpoint_finished():
    from zoo.reproduce.report import segment_epochs

    # as run.json records a session stopped by SIGTERM in epoch 904: its finished epochs stay at the start
    stopped = {"commit": "c", "epochs": [602, 602], "interrupted": True, "stopped_in_epoch": 904, "epochs_finished": 904,
               "stopped_at_generator_step": 452139, "wall_time_s": 8427.8}
    assert segment_epochs(stopped) == (602, 904)
    assert segment_epochs({"commit": "c", "epochs": [667, 1000], "wall_time_s": 8353.9}) == (667, 1000)


def test_the_improved_figure_draws_each_seed_its_current_d_where_averaged_and_the_paper_band():
    from zoo.reproduce.improved_figure import seed_curves_figure

    def seed(number, errors, current=None):
        curve = [{"epoch": e, "mean": errors + 10 * (3 - e), **({"also": {"cur": current}} if current else {})} for e in (1, 2, 3)]
        return {"seed": number, "errors": errors, "epochs": 3, "errors_current_d": current, "curve": curve}

    record = {"table": "improved-gan-mnist", "quick": False, "rows": [
        {"labels": 100, "paper_errors": 93, "paper_errors_std": 6.5, "per_seed": [seed(0, 120, current=130), seed(1, 250)]}]}
    fig = seed_curves_figure(record, "cur")
    (axis,) = fig.axes
    solid = [line for line in axis.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in axis.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in solid] == [[140, 130, 120], [270, 260, 250]]
    assert [list(line.get_ydata()) for line in dashed] == [[130, 130, 130]]  # only the averaged seed has a current D
    assert axis.get_yscale() == "log" and axis.get_xlabel() == "epoch"
    (band,) = [patch for patch in axis.patches]
    assert band.get_label() == "paper: 93 ± 6.5"
    assert [t.get_text() for t in axis.get_legend().get_texts()][:2] == ["seed 0: 120 at epoch 3", "seed 1: 250 at epoch 3"]
