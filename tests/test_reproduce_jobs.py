"""`zoo reproduce --jobs N`: rows (or seeds) as parallel child processes, then one table from the run store."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from zoo.errors import ZooConfigError
from zoo.reproduce.command import main
from zoo.reproduce.parallel import Job, check_jobs, child_command, table_parts, threads_per_job


def _args(**overrides) -> argparse.Namespace:
    base = dict(table="unrolled-mixtures", rows=None, seeds=None, quick=True, resume=False, retrain=False,
                allow_dirty=False, no_train=False, jobs=2, seed=0, data_seed=None)
    return argparse.Namespace(**{**base, **overrides})


def test_parts_are_rows_or_seeds_as_the_table_selects_them():
    assert table_parts(_args(rows=["Ring-K10", "grid-k0"])) == ("--rows", ["ring-k10", "grid-k0"])
    assert table_parts(_args(table="improved-gan-mnist", seeds=[4, 2])) == ("--seeds", ["4", "2"])
    flag, rows = table_parts(_args(table="fgan-table4"))
    assert flag == "--rows" and "kullback-leibler" in rows and len(rows) == 9


def test_a_device_splits_the_unrolled_rows_by_seed_and_writes_the_table_from_what_its_jobs_trained():
    from zoo.reproduce.selection import device_assembly, device_jobs

    jobs = device_jobs("unrolled-stacked-mnist", ["half-k10", "Half-K1"])
    assert jobs == [["--rows", row, "--seeds", str(seed)] for row in ("half-k10", "half-k1") for seed in (0, 1, 2)]
    assert device_assembly("unrolled-stacked-mnist", ["half-k10", "half-k1"]) == \
        ["--rows", "half-k10", "half-k1", "--seeds", "0", "1", "2"]
    assert device_jobs("improved-gan-mnist", quick=True) == [["--seeds", "0"], ["--seeds", "1"]]
    assert device_assembly("fgan-table4", quick=True) == ["--rows", "gan", "kullback-leibler"]
    with pytest.raises(ZooConfigError, match="lapgan-mnist trains as one job"):
        device_jobs("lapgan-mnist")


def test_jobs_are_refused_where_they_cannot_run():
    with pytest.raises(ZooConfigError, match="at least 1"):
        check_jobs(_args(jobs=0))
    with pytest.raises(ZooConfigError, match="--no-train trains nothing"):
        check_jobs(_args(no_train=True))
    with pytest.raises(ZooConfigError, match="--jobs applies to"):
        check_jobs(_args(table="fgan-table3"))


def test_each_job_gets_its_share_of_the_cores_and_the_time_left(tmp_path):
    assert threads_per_job(jobs=64, parts=2) == max(1, threads_per_job(jobs=1, parts=1) // 2)
    assert threads_per_job(jobs=10**6, parts=10**6) == 1
    job = Job("--rows", "ring-k5", tmp_path / "jobs" / "ring-k5")
    command = child_command(_args(resume=True), job, tmp_path, seconds_left=3725.9)
    assert command[command.index("--rows") + 1] == "ring-k5" and command[command.index("--max-time") + 1] == "01:02:05"
    assert "--resume" in command and "--quick" in command and "--retrain" not in command
    assert command[command.index("--out") + 1] == str(job.folder / "tables")
    assert "--max-time" not in child_command(_args(), job, tmp_path, seconds_left=None)


def test_two_rows_train_as_one_thread_jobs_and_make_one_table(tmp_path, capsys):
    store, out = tmp_path / "store", tmp_path / "out"
    code = main(["unrolled-mixtures", "--quick", "--jobs", "2", "--rows", "ring-k0", "ring-k5",
                 "--runs", str(store), "--out", str(out)])
    assert code == 0, capsys.readouterr()
    record = json.loads((out / "unrolled-mixtures.json").read_text())
    assert [r["unroll_steps"] for r in record["rows"]] == [0, 5] and record["complete"] is True
    # each seed trained in its own process, with one of this machine's threads per job when it has 2 or more
    threads = threads_per_job(2, 2)
    assert all(seed["trained_on"].endswith(f"{threads} torch threads") for r in record["rows"] for seed in r["seeds"])
    for row in ("ring-k0", "ring-k5"):
        assert "Seed set to 0" in (store / "unrolled-mixtures" / "quick" / "jobs" / row / "log.txt").read_text()


def test_a_crashed_job_fails_the_command_and_names_its_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "no-mnist-here"))
    started = time.time()
    code = main(["improved-gan-mnist", "--quick", "--jobs", "2", "--seeds", "0", "1",
                 "--runs", str(tmp_path / "store"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and time.time() - started < 120
    for seed in ("0", "1"):
        log = Path(tmp_path / "store" / "improved-gan-mnist" / "quick" / "jobs" / seed / "log.txt")
        assert f"--seeds {seed} failed with exit code 2; see {log}" in err and "MNIST" in log.read_text()


def test_sigterm_reaches_the_jobs_which_save_their_runs(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-m", "zoo.cli", "reproduce", "unrolled-mixtures", "--jobs", "1",
                               "--rows", "ring-k10", "--allow-dirty", "--runs", str(store), "--out", str(tmp_path / "out")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = store / "unrolled-mixtures" / "full" / "jobs" / "ring-k10" / "log.txt"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "Trainable params" in log.read_text()):
        time.sleep(0.5)
    time.sleep(2)  # into the first epoch
    parent.send_signal(signal.SIGTERM)
    _, err = parent.communicate(timeout=120)
    assert parent.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "--resume" in err
    assert "stopped by SIGTERM" in log.read_text()
    assert (store / "unrolled-mixtures" / "full" / "ring_k10" / "seed0" / "checkpoints" / "last.ckpt").exists()


def test_a_staged_plan_trains_its_seeds_stage_by_stage_and_skips_the_seeds_already_there(tmp_path, monkeypatch):
    import sys

    from zoo.reproduce import improved, parallel

    monkeypatch.setattr(improved, "QUICK", improved.Plan(labels=(100,), seeds=(0, 1, 2), milestones=(1, 2)))
    reached = tmp_path / "reached"
    reached.mkdir()
    (reached / "1").write_text("2")  # seed 1 is done, seed 2 is at the first milestone
    (reached / "2").write_text("1")
    monkeypatch.setattr(improved, "epochs_trained",
                        lambda store, table, seed, quick, data_seed=None: int((reached / str(seed)).read_text() or 0)
                        if (reached / str(seed)).exists() else 0)
    real_command = parallel.child_command
    commands = []

    def fake_child(args, job, store, seconds_left):  # "trains" to the stage it is given, as the real child would
        commands.append(real_command(args, job, store, seconds_left))
        write = f"import pathlib, time; time.sleep(0.3); pathlib.Path({str(reached / job.part)!r}).write_text('{job.up_to_epoch}')"
        return [sys.executable, "-c", write]

    monkeypatch.setattr(parallel, "child_command", fake_child)
    args = _args(table="improved-gan-mnist", retrain=False, jobs=2, up_to_epoch=None)
    jobs = parallel.run_jobs(args, tmp_path / "store", deadline=None)
    assert [(job.part, job.up_to_epoch, job.exit_code) for job in jobs] == [("0", 1, 0), ("0", 2, 0), ("2", 2, 0)]
    first, second = [job for job in jobs if job.up_to_epoch == 1], [job for job in jobs if job.up_to_epoch == 2]
    assert max(job.started + job.seconds for job in first) <= min(job.started for job in second) + 0.2  # one stage, then the next
    assert [c[c.index("--up-to-epoch") + 1] for c in commands] == ["1", "2", "2"]
    # --retrain starts each seed afresh in the first stage only, and --up-to-epoch stops the stages there
    retrain = _args(table="improved-gan-mnist", retrain=True, up_to_epoch=1)
    assert parallel.job_stages(retrain) == (1,)
    later = Job("--seeds", "0", tmp_path / "jobs" / "0", up_to_epoch=2, first_stage=False)
    assert "--retrain" not in real_command(retrain, later, tmp_path, None)
    assert "--retrain" in real_command(retrain, Job("--seeds", "0", tmp_path, 1, True), tmp_path, None)
    assert parallel.job_stages(_args()) == (None,)  # other tables: each job trains its part to the end
    with pytest.raises(ZooConfigError, match=r"--up-to-epoch must be one of the plan's milestones 1, 2, got 3"):
        parallel.job_stages(_args(table="improved-gan-mnist", up_to_epoch=3))


def test_up_to_epoch_stops_every_seed_at_that_milestone(tmp_path, monkeypatch):
    from zoo.reproduce import improved
    from zoo.reproduce.runs import RowState

    trained = []

    class FakeRun:
        def __init__(self, folder, labels, seed, plan, quick):
            self.seed = seed

        def state(self, budget):
            return None

        def train(self, budget, curve, deadline, resume, retrain):
            trained.append((self.seed, budget.max_epochs))
            return RowState(tmp_path / "last.ckpt", budget.max_epochs, False, [], [])

    monkeypatch.setattr(improved, "FULL", improved.Plan(labels=(100,), seeds=(0, 1), milestones=(2, 5, 9)))
    monkeypatch.setattr(improved, "_run", FakeRun)
    improved.reproduce(tmp_path, quick=False, resume=False, retrain=False, deadline=None, require_clean=False, up_to_epoch=5)
    assert trained == [(0, 2), (1, 2), (0, 5), (1, 5)]
    with pytest.raises(ZooConfigError, match="^--up-to-epoch applies to improved-gan-mnist, .*, not fgan-table4$"):
        main(["fgan-table4", "--up-to-epoch", "50", "--runs", str(tmp_path)])
