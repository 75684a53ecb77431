"""``zoo reproduce TABLE --jobs N``: the table's rows (or seeds) trained as up to N child processes,
each with its share of the CPU threads, then the table written from the run store as ``--no-train``
writes it.

Small nets gain little from a second thread: their steps are mostly Python and autograd overhead.
``benchmarks/parallel_jobs.py`` measures what side-by-side one-thread jobs gain on a machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooConfigError, ZooInterrupted
from zoo.reproduce import selection
from zoo.reproduce.tables import KINDS, check_option

POLL_SECONDS = 1.0


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


@dataclass
class Job:
    """One child ``zoo reproduce`` process training one part (``--rows ROW`` or ``--seeds SEED``) of a table."""

    flag: str
    part: str
    folder: Path
    up_to_epoch: int | None = None  # a stage of a staged plan; None: the part's whole budget
    first_stage: bool = True
    process: subprocess.Popen | None = None
    started: float = 0.0
    exit_code: int | None = None
    seconds: float = 0.0

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"


def table_parts(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The flag and the parts a ``--jobs`` run splits ``args.table`` into: its selected rows, or seeds."""
    check_option(args.table, "--jobs")
    parts = selection.table_parts(args.table, args.rows, args.seeds, args.quick)
    assert parts is not None  # every table that takes --jobs trains in parts
    return parts


def check_jobs(args: argparse.Namespace) -> None:
    """Refuse a ``--jobs`` request that cannot run, in one line, before any job starts."""
    if args.jobs is None:
        return
    if args.jobs < 1:
        raise ZooConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.no_train:
        raise ZooConfigError("--jobs trains the table's parts in parallel; --no-train trains nothing: pass one of them")
    table_parts(args)


def threads_per_job(jobs: int, parts: int) -> int:
    """This machine's cores (those the process may use) shared out among the jobs that run at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, min(jobs, parts)))


def child_command(args: argparse.Namespace, job: Job, store: Path, seconds_left: float | None) -> list[str]:
    """The ``zoo reproduce`` command line that trains ``job``'s part into ``store``, within ``seconds_left``."""
    command = [sys.executable, "-m", "zoo.cli", "reproduce", args.table, job.flag, job.part,
               "--runs", str(store), "--out", str(job.folder / "tables"), "--seed", str(args.seed)]
    command += [flag for flag, on in (("--quick", args.quick), ("--resume", args.resume),
                                      ("--retrain", args.retrain and job.first_stage), ("--allow-dirty", args.allow_dirty)) if on]
    if args.data_seed is not None:
        command += ["--data-seed", str(args.data_seed)]
    if job.up_to_epoch is not None:
        command += ["--up-to-epoch", str(job.up_to_epoch)]
    if seconds_left is not None:
        whole = int(seconds_left)
        command += ["--max-time", f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"]
    return command


def job_stages(args: argparse.Namespace) -> tuple[int | None, ...]:
    """The milestones a seeds table's jobs train to, one after another (every seed to 50 epochs, then
    to 100, …), so that a table stopped by time still compares its seeds at one epoch; ``(None,)`` for
    the other tables, whose jobs each train their part to its end."""
    if KINDS[args.table] != "seeds":
        return (None,)
    from zoo.reproduce import improved

    return improved.stages_up_to(improved.plan_for(args.quick, table=args.table), getattr(args, "up_to_epoch", None))


def _behind(args: argparse.Namespace, store: Path, part: str, stage: int | None, first_stage: bool) -> bool:
    """Whether ``part`` has yet to reach ``stage`` (always, for an unstaged job or one that retrains)."""
    if stage is None or (args.retrain and first_stage):
        return True
    from zoo.reproduce import improved

    return improved.epochs_trained(store, args.table, int(part), args.quick, args.data_seed) < stage


def run_jobs(args: argparse.Namespace, store: Path, deadline: float | None) -> list[Job]:
    """Train every part of ``args.table`` in up to ``args.jobs`` child processes at once, stage by
    stage for a staged plan (:func:`job_stages`); returns the jobs, with their exit codes (``None``:
    not started, the deadline had passed). Each part's output goes to
    ``<store>/<table>/<full|quick>/jobs/<part>/log.txt``. SIGTERM and Ctrl-C reach the running
    children, which save their runs as they do when run alone."""
    flag, parts = table_parts(args)
    threads = threads_per_job(args.jobs, len(parts))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    jobs_folder = store / args.table / ("quick" if args.quick else "full") / "jobs"
    stages = job_stages(args)
    running: list[Job] = []
    done: list[Job] = []
    print(f"zoo reproduce: {len(parts)} parts of {args.table} in up to {args.jobs} jobs of {threads} threads; "
          f"logs in {jobs_folder}")

    def forward(signum: int, frame: Any) -> None:
        for job in running:
            job.process.send_signal(signum)
        raise _Stopped(signum)

    def run_stage(waiting: list[Job]) -> None:
        """Up to ``args.jobs`` of ``waiting`` at a time, until every one has ended."""
        while waiting or running:
            while waiting and len(running) < args.jobs:
                job = waiting.pop(0)
                seconds_left = None if deadline is None else deadline - time.time()
                if seconds_left is not None and seconds_left < 1:
                    done.append(job)  # out of time: left for --resume
                    continue
                job.folder.mkdir(parents=True, exist_ok=True)
                with job.log.open("w" if job.first_stage else "a") as log:
                    job.process = subprocess.Popen(child_command(args, job, store, seconds_left), env=env,
                                                   stdout=log, stderr=subprocess.STDOUT)
                job.started = time.time()
                running.append(job)
            time.sleep(POLL_SECONDS)
            for job in [j for j in running if j.process.poll() is not None]:
                job.exit_code, job.seconds = job.process.returncode, round(time.time() - job.started, 1)
                running.remove(job)
                done.append(job)
                to = "" if job.up_to_epoch is None else f" (to epoch {job.up_to_epoch})"
                print(f"zoo reproduce: {job.flag} {job.part}{to}: exit {job.exit_code} after {job.seconds:.0f} s")

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        for stage in stages:
            crashed = {job.part for job in failed(done)}  # not started again at a later stage
            first = stage == stages[0]
            run_stage([Job(flag, part, jobs_folder / part, stage, first) for part in parts
                       if part not in crashed and _behind(args, store, part, stage, first)])
            if deadline is not None and time.time() >= deadline:
                break
    except (KeyboardInterrupt, _Stopped) as stop:  # Ctrl-C reaches the children by itself, SIGTERM by forward()
        for job in running:
            job.process.wait()
        signum = stop.signum if isinstance(stop, _Stopped) else signal.SIGINT
        raise ZooInterrupted(f"stopped by {signal.Signals(signum).name}; each job saved its run: "
                             "resume with the same command and --resume", exit_code=128 + int(signum)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return sorted(done, key=lambda job: parts.index(job.part))


def failed(jobs: list[Job]) -> list[Job]:
    """The jobs that crashed: neither finished (exit 0) nor stopped by the time limit (exit 3)."""
    return [job for job in jobs if job.exit_code not in (None, 0, 3)]
