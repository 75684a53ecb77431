"""``zoo reproduce TABLE --status`` reads where each run of the run store stands, and writes nothing."""

from __future__ import annotations

import json
import os

import pytest
import torch

from zoo.cli import main
from zoo.reproduce.lock import table_lock
from zoo.reproduce.status import describe


def _write(path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_status_reports_epoch_runs_step_runs_kept_results_and_running_jobs(tmp_path):
    folder = tmp_path / "full"
    _write(folder / "row-seed0" / "run.json", {"epochs_done": 3, "segments": [
        {"commit": "abc1234def", "epochs": [0, 3], "wall_time_s": 7200.0, "interrupted": True, "stopped_in_epoch": 3, "epochs_finished": 3}]})
    _write(folder / "row-seed0" / "curve.json", [{"epoch": 4, "mean": 10.0}, {"epoch": 5, "mean": 12.5}])
    (folder / "row-seed0" / "checkpoints").mkdir()
    torch.save({"epoch": 5, "zoo": {"generator_steps": 500}}, folder / "row-seed0" / "checkpoints" / "last.ckpt")
    _write(folder / "new-seed0" / "run.json", {"epochs_done": 0, "segments": []})  # its first epoch is under way
    _write(folder / "k0" / "seed0" / "identity.json", {"generator_steps": 2000})
    _write(folder / "k0" / "seed0" / "result.json", {"modes": 3})
    _write(folder / "k0" / "seed1" / "identity.json", {"generator_steps": 2000})
    _write(folder / "k0" / "seed1" / "train_seconds.json", {"seconds": 600.0})
    (folder / "k0" / "seed1" / "checkpoints").mkdir()
    torch.save({"epoch": 0, "zoo": {"generator_steps": 7}}, folder / "k0" / "seed1" / "checkpoints" / "last.ckpt")
    (folder / "k0" / "seed0" / "logs").mkdir()
    torch.save({}, folder / "k0" / "seed0" / "logs" / "trace.pt")  # a run's own files, not kept results
    torch.save({}, folder / "k0" / "seed0" / "trace.pt")
    torch.save({}, folder / "seed0_k5.pt")

    with table_lock(folder, "a-table", "seed3"):
        lines = describe(folder)
    assert lines == [
        "k0/seed0: finished: 2000 generator steps, scored",
        "k0/seed1: partial: 7 of 2000 generator steps, trained 10 min",
        "new-seed0: started, no checkpoint yet",
        "row-seed0: 5 epochs, 2.0 h in 1 session ended (+ a session running or killed since epoch 3); curve at epoch 5: 12.5; "
        "last ended session at commit abc1234, interrupted after 3 finished epochs",
        "seed0_k5.pt: kept result",
        f"running now: seed3 (pid {os.getpid()})",
    ]
    assert describe(folder) == lines[:-1]  # the lock is released with its job
    record = json.loads((folder / "row-seed0" / "run.json").read_text())
    del record["segments"][0]["epochs_finished"]  # older records lack it
    (folder / "row-seed0" / "run.json").write_text(json.dumps(record))
    assert describe(folder)[3].endswith("interrupted in epoch index 3")
    assert describe(tmp_path / "nothing") == []


def test_zoo_reproduce_status_prints_the_store_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "store" / "unrolled-stacked-mnist" / "full" / "dhalf_k0" / "seed0" / "identity.json", {"generator_steps": 2000})
    assert main(["reproduce", "unrolled-stacked-mnist", "--status", "--runs", str(tmp_path / "store")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("unrolled-stacked-mnist/full: 1 run")
    assert printed[1] == "  dhalf_k0/seed0: not started (budget 2000 generator steps)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_status_without_a_table_prints_every_table_that_has_runs(tmp_path, capsys):
    store = tmp_path / "store"
    _write(store / "unrolled-stacked-mnist" / "full" / "dhalf_k0" / "seed0" / "identity.json", {"generator_steps": 2000})
    _write(store / "unrolled-mixtures" / "full" / "ring_k10" / "seed1" / "identity.json", {"generator_steps": 100_000})
    _write(store / "fgan-table4" / "quick" / "gan-seed0" / "run.json", {"epochs_done": 0, "segments": []})  # another budget
    assert main(["reproduce", "--status", "--runs", str(store)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{store / 'unrolled-mixtures' / 'full'}: 1 run",
                       "  ring_k10/seed1: not started (budget 100000 generator steps)",
                       f"{store / 'unrolled-stacked-mnist' / 'full'}: 1 run",
                       "  dhalf_k0/seed0: not started (budget 2000 generator steps)"]
    assert main(["reproduce", "--status", "--runs", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'empty'}: no full runs of any table yet"
    with pytest.raises(SystemExit) as stop:  # no table and no --status: a usage error naming both ways out
        main(["reproduce", "--runs", str(store)])
    assert stop.value.code == 2 and "name a table, or give --status alone" in capsys.readouterr().err


def test_a_checkpoint_saved_mid_epoch_by_a_signal_counts_only_the_epochs_it_finished(tmp_path, monkeypatch):
    import signal

    import pytorch_lightning as pl

    from tests.conftest import REPO
    from zoo.callbacks.interrupts import GracefulStop
    from zoo.cli import run_lightning_cli
    from zoo.errors import ZooInterrupted
    from zoo.reproduce.runs import saved_position

    class TerminateInThirdEpoch(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.current_epoch == 2 and trainer.fit_loop.epoch_loop.batch_progress.current.completed == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_epochs", "5",
            "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1", "--trainer.limit_train_batches", "4",
            "--checkpoint.dirpath", str(tmp_path / "checkpoints"), "--trainer.logger.init_args.save_dir", str(tmp_path)]
    try:
        run_lightning_cli(args, extra_callbacks=[GracefulStop(), TerminateInThirdEpoch()])
    except ZooInterrupted:
        pass
    position = saved_position(tmp_path / "checkpoints" / "last.ckpt")
    assert (position["stopped_in_epoch"], position["epochs_finished"]) == (2, 2)  # in the third epoch, two finished


def test_status_gives_a_running_sessions_pace_and_the_time_left_to_its_budget(tmp_path):
    import time

    run = tmp_path / "full" / "row-seed0"
    _write(run / "run.json", {"epochs_done": 10, "segments": [{"commit": "abc1234def", "epochs": [0, 10], "wall_time_s": 600.0}]})
    (run / "checkpoints").mkdir()
    torch.save({"epoch": 14, "zoo": {"generator_steps": 7000}}, run / "checkpoints" / "last.ckpt")
    began = time.time() - 1000
    _write(run / "session.json", {"started_at": began, "from_epoch": 10, "budget_epochs": 100})
    os.utime(run / "checkpoints" / "last.ckpt", (began + 160, began + 160))  # 4 epochs in 160 s
    line = describe(tmp_path / "full")[0]
    begun = time.strftime("%Y-%m-%d %H:%M", time.localtime(began))
    assert f"(+ a session running or killed since epoch 10, begun {begun}: 40 s an epoch, about 57 min to 100 epochs at that pace)" in line
    torch.save({"epoch": 10, "zoo": {"generator_steps": 5000}}, run / "checkpoints" / "last.ckpt")
    assert "since epoch" not in describe(tmp_path / "full")[0]  # no epoch past the last ended session


def test_a_session_leaves_its_session_file_only_while_it_trains(tmp_path, monkeypatch):
    import zoo.cli
    from zoo.reproduce.runs import SESSION_FILE, CurveSpec, RowRun
    from zoo.reproduce.tables import QUICK_BUDGET, TABLES

    seen = []

    def interrupted_fit(*args, **kwargs):
        seen.append(json.loads((tmp_path / "run" / SESSION_FILE).read_text()))
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.cli, "run_lightning_cli", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        RowRun(tmp_path / "run", TABLES["gan2014-table1"].rows[0], 0, []).train(
            QUICK_BUDGET, CurveSpec(1, "gan2014"), None, False, False)
    assert seen[0]["from_epoch"] == 0 and seen[0]["budget_epochs"] == QUICK_BUDGET.max_epochs
    assert not (tmp_path / "run" / SESSION_FILE).exists()


def test_status_of_a_parzen_table_gives_each_stopped_rows_budget_and_time_to_it(tmp_path, capsys):
    from zoo.reproduce.parzen import run_base_name
    from zoo.reproduce.runs import seed_run_folder
    from zoo.reproduce.selection import slug
    from zoo.reproduce.tables import TABLES

    table = TABLES["gan2014-table1"]
    stopped, finished = table.rows
    budget = stopped.budget.max_epochs
    folder = tmp_path / "store" / table.name / "full"
    for row, done in ((stopped, 20), (finished, finished.budget.max_epochs)):
        run = seed_run_folder(folder, run_base_name(row), 0)  # where the table trains the row
        _write(run / "run.json", {"epochs_done": done, "segments": [
            {"commit": "abc1234def", "epochs": [0, 10], "wall_time_s": 100.0},
            {"commit": "abc1234def", "epochs": [10, done], "wall_time_s": 30.0 * (done - 10)}]})
        (run / "checkpoints").mkdir()
        torch.save({"epoch": done, "zoo": {"generator_steps": 500 * done}}, run / "checkpoints" / "last.ckpt")
    assert main(["reproduce", table.name, "--status", "--runs", str(tmp_path / "store")]) == 0
    lines = {line.strip().split(":")[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    hours = (budget - 20) * 30 / 3600  # the last session's pace, not the first's
    assert f"-seed0: 20 of {budget} epochs, " in lines[f"{slug(stopped.name)}-seed0"]
    assert f"; about {hours:.1f} h to go at its last session's pace (30 s an epoch);" in lines[f"{slug(stopped.name)}-seed0"]
    assert f" of {finished.budget.max_epochs} epochs, " in lines[f"{slug(finished.name)}-seed0"]
    assert "to go" not in lines[f"{slug(finished.name)}-seed0"]
    plain = describe(folder)  # without the table's budgets, no budget is claimed
    assert f"{slug(stopped.name)}-seed0: 20 epochs, 7 min in 2 sessions ended; last ended session" in plain[0] + plain[1]


def test_status_of_improved_gan_gives_each_seeds_budget(tmp_path, capsys):
    from zoo.reproduce import improved
    from zoo.reproduce.runs import seed_run_folder

    budget = improved.plan_for(quick=False).budget.max_epochs
    run = seed_run_folder(tmp_path / "store" / improved.TABLE / "full", improved.run_base_name(100), 1)
    _write(run / "run.json", {"epochs_done": 20, "segments": [  # the last session a signal stopped after 30 epochs
        {"commit": "abc1234def", "epochs": [0, 20], "wall_time_s": 1000.0},
        {"commit": "abc1234def", "epochs": [20, 20], "interrupted": True, "epochs_finished": 50, "wall_time_s": 1800.0}]})
    (run / "checkpoints").mkdir()
    torch.save({"epoch": 50, "zoo": {"generator_steps": 30000}}, run / "checkpoints" / "last.ckpt")
    assert main(["reproduce", improved.TABLE, "--status", "--runs", str(tmp_path / "store")]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith(f"  labels100-seed1: 50 of {budget} epochs, 47 min in 2 sessions ended; about ")
    assert f"about {(budget - 50) * 60 / 3600:.1f} h to go at its last session's pace (60 s an epoch)" in line


def test_status_of_improved_gan_gives_a_data_seed_runs_budget_too(tmp_path, capsys):
    from zoo.reproduce import improved
    from zoo.reproduce.runs import seed_run_folder

    budget = improved.plan_for(quick=False).budget.max_epochs
    folder = tmp_path / "store" / improved.TABLE / "full"
    for name in (improved.run_base_name(100, data_seed=1), "labels7-data1"):  # 7 labels: no plan of ours
        run = seed_run_folder(folder, name, 11)
        _write(run / "run.json", {"epochs_done": 20, "segments": [
            {"commit": "abc1234def", "epochs": [0, 20], "wall_time_s": 800.0}]})
        (run / "checkpoints").mkdir()
        torch.save({"epoch": 20, "zoo": {"generator_steps": 12000}}, run / "checkpoints" / "last.ckpt")
    assert main(["reproduce", improved.TABLE, "--status", "--runs", str(tmp_path / "store")]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert lines[0].startswith(f"  labels100-data1-seed11: 20 of {budget} epochs, 13 min in 1 session ended")
    assert lines[1].startswith("  labels7-data1-seed11: 20 epochs, ")
