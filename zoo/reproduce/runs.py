"""The run store of ``zoo reproduce``: one folder per trained row, kept outside the work tree so a
long reproduction survives a fresh checkout, and continued where it stopped with ``--resume``.

A row's folder holds ``checkpoints/last.ckpt``, ``curve.json`` (the learning curve) and
``run.json``: what the row trains (config hash, seed, extra options) and one segment per
invocation (the commit it ran at, epochs before and after, wall time). While a session trains,
``session.json`` says when it began, at which commit and on which device, from which epoch and
towards how many, so that ``--status`` can give its pace; it goes when the session ends. A session
killed outright leaves it behind, and the next session records from it the killed one's segment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_json
from zoo.errors import ZooConfigError
from zoo.provenance import REPO, device_description, git_commit
from zoo.reproduce.tables import Budget, Row

RUNS_ENV = "ZOO_RUNS"
SESSION_FILE = "session.json"  # the session training now (or killed): when it began, from which epoch, towards how many


def run_store() -> Path:
    """``$ZOO_RUNS``, else ``$XDG_CACHE_HOME/zoo/runs``, else ``~/.cache/zoo/runs``."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "zoo" / "runs"


def portable_path(path: Path, store: Path) -> str:
    """``path`` without this machine's prefix: ``$ZOO_RUNS/…`` inside the store, else repo-relative."""
    path = Path(path).resolve()
    for root, label in ((Path(store).resolve(), f"${RUNS_ENV}"), (REPO, ".")):
        try:
            return f"{label}/{path.relative_to(root).as_posix()}"
        except ValueError:
            continue
    return path.name


def config_path(config: str) -> Path:
    path = Path(config)
    if not path.is_absolute() and not path.exists():
        path = REPO / config
    if not path.exists():
        raise ZooConfigError(f"config {config} not found (run from the repository root)")
    return path


@dataclass
class CurveSpec:
    """How often and how thoroughly the learning curve scores a row: a harness ``metric`` under
    ``protocol``, or with ``logged`` a metric the model logs itself."""

    every_n_epochs: int
    protocol: str | None
    num_samples: int | None = None
    max_test_points: int | None = None
    metric: str = "parzen"
    logged: bool = False
    also: tuple[str, ...] = ()  # logged metrics recorded beside ``metric`` at each point


@dataclass
class RowState:
    checkpoint: Path
    epochs_done: int
    complete: bool
    curve: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    epochs_in_checkpoint: int = 0  # ahead of epochs_done after a session that was stopped or killed

    @property
    def epochs_reached(self) -> int:
        """Epochs trained, counting those of a session that was stopped or killed (they are in the
        checkpoint before they are in ``epochs_done``): what a table reports."""
        return max(self.epochs_done, self.epochs_in_checkpoint)


def saved_position(checkpoint: Path) -> dict[str, Any]:
    """Where a run's ``last.ckpt`` stands: the epoch index it was saved in, the epochs it has
    finished and the generator steps it has taken.

    Lightning saves an epoch-end checkpoint before it counts that epoch complete, so the finished
    epochs are the fit loop's *processed* count: the epoch index + 1 at an epoch's end, the index
    itself mid-epoch (a signal's save)."""
    if not checkpoint.exists():
        return {}
    import torch

    # Memory-mapped: every state read needs two numbers of a checkpoint of up to 33 MB.
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    progress = saved.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    return {"stopped_in_epoch": int(saved["epoch"]), "epochs_finished": int(progress.get("processed", saved["epoch"])),
            "stopped_at_generator_step": int(saved["zoo"]["generator_steps"])}


def stored_state(folder: Path, max_epochs: int | None = None) -> RowState | None:
    """What a row's folder holds, read without training (``None`` before its first checkpoint);
    ``complete`` once ``epochs_done`` reaches ``max_epochs`` (never without one)."""
    folder = Path(folder)
    record_path, curve_path, checkpoint = folder / "run.json", folder / "curve.json", folder / "checkpoints" / "last.ckpt"
    if not record_path.exists() or not checkpoint.exists():
        return None
    record = json.loads(record_path.read_text())
    curve = json.loads(curve_path.read_text()) if curve_path.exists() else []
    done = record.get("epochs_done", 0)
    return RowState(checkpoint, done, max_epochs is not None and done >= max_epochs, curve, record.get("segments", []),
                    saved_position(checkpoint).get("epochs_finished", 0))


def seed_run_folder(table_folder: Path, name: str, seed: int) -> Path:
    """Where the run of row ``name`` under ``seed`` lives in a table's folder: ``<name>-seed<N>``."""
    return Path(table_folder) / f"{name}-seed{seed}"


def row_name_of(run_folder_name: str) -> str:
    """The row name in a folder name that :func:`seed_run_folder` made (other names unchanged)."""
    return re.sub(r"-seed\d+$", "", run_folder_name)


class RowRun:
    """The folder of one row of one table, trained under one seed."""

    def __init__(self, run_dir: Path, row: Row, seed: int, extra: list[str]) -> None:
        self.dir, self.row, self.seed, self.extra = Path(run_dir), row, seed, list(extra)
        self.checkpoint = self.dir / "checkpoints" / "last.ckpt"
        self.record_path, self.curve_path = self.dir / "run.json", self.dir / "curve.json"

    def identity(self) -> dict[str, Any]:
        config = config_path(self.row.config)
        return {"config": self.row.config, "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
                "seed": self.seed, "extra": self.extra}

    def record(self) -> dict[str, Any]:
        return json.loads(self.record_path.read_text()) if self.record_path.exists() else {}

    def _save_record(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.record_path, record)

    def state(self, budget: Budget) -> RowState | None:
        return stored_state(self.dir, budget.max_epochs)

    def check_resumable(self) -> None:
        """Refuse to continue a run that trains something else (another config, seed or options)."""
        saved = {k: self.record().get(k) for k in ("config_sha256", "seed", "extra")}
        wanted = {k: v for k, v in self.identity().items() if k in saved}
        changed = [k for k in saved if saved[k] != wanted[k]]
        if changed:
            raise ZooConfigError(
                f"{self.dir} was trained with another {', '.join(changed)}: pass --retrain to start it over"
            )

    def _record_killed_session(self) -> None:
        """Add the segment of a session killed outright (SIGKILL, a machine taken away), which had no
        chance to write it: its session file still names its commit, device and start, and the
        checkpoint how far it got. A killed session that saved no epoch trained nothing that lasts."""
        session_file = self.dir / SESSION_FILE
        if not session_file.exists() or not self.record_path.exists():
            return
        session = json.loads(session_file.read_text())
        position = saved_position(self.checkpoint)
        if position.get("epochs_finished", 0) > session["from_epoch"]:
            segment = {"commit": session.get("commit", "unknown (its session file predates commits)"),
                       **({"device": session["device"]} if "device" in session else {}),
                       "epochs": [session["from_epoch"], session["from_epoch"]], "interrupted": True, "killed": True,
                       **position, "wall_time_s": round(self.checkpoint.stat().st_mtime - session["started_at"], 1)}
            record = self.record()
            record["segments"].append(segment)
            self._save_record(record)
        session_file.unlink()

    def train(self, budget: Budget, curve: CurveSpec, deadline: float | None, resume: bool, retrain: bool) -> RowState:
        """Train until ``budget`` or ``deadline``, continuing the saved run when ``resume``."""
        from zoo.callbacks.curve import LearningCurve
        from zoo.callbacks.fit_start import OnFitStart
        from zoo.callbacks.interrupts import GracefulStop
        from zoo.cli import run_lightning_cli

        self._record_killed_session()
        state = self.state(budget)
        if state is not None and not retrain:
            self.check_resumable()
            if state.complete:
                return state
            if not resume:
                raise ZooConfigError(
                    f"{self.dir} holds a partial run ({state.epochs_reached}/{budget.max_epochs} epochs): "
                    f"add --resume to continue it or --retrain to start over"
                )
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
            self._save_record({**self.identity(), "epochs_done": 0, "segments": []})
        before = state.epochs_reached if state is not None and not retrain else 0  # where training resumes
        args = [
            "fit", "--config", str(config_path(self.row.config)), *budget.overrides(), *self.extra,
            "--seed_everything", str(self.seed),
            "--trainer.logger.init_args.save_dir", str(self.dir), "--trainer.logger.init_args.name", "logs",
            "--checkpoint.dirpath", str(self.dir / "checkpoints"),
        ]
        if self.checkpoint.exists():
            args += ["--ckpt_path", str(self.checkpoint)]
        stop = GracefulStop(deadline, resume_hint="the same `zoo reproduce` command with --resume")
        learning_curve = LearningCurve(str(self.curve_path), curve.every_n_epochs, curve.metric, curve.protocol,
                                       curve.num_samples, curve.max_test_points, seed=self.seed, logged=curve.logged,
                                       also=curve.also)
        started, commit = time.time(), git_commit()
        segment: dict[str, Any] = {"commit": commit, "epochs": [before, before]}
        session = self.dir / SESSION_FILE
        session_record = {"started_at": started, "from_epoch": before, "budget_epochs": budget.max_epochs, "commit": commit}
        atomic_write_json(session, session_record)

        def note_device(trainer: Any) -> None:
            # as fit starts, so that a session a signal stops names it too, and one killed outright
            segment["device"] = session_record["device"] = device_description(trainer.strategy.root_device)
            atomic_write_json(session, session_record)

        try:
            cli = run_lightning_cli(args, extra_callbacks=[stop, learning_curve, OnFitStart(note_device)])
            segment["epochs"][1] = int(cli.trainer.current_epoch)
        except BaseException:
            segment.update(interrupted=True, **saved_position(self.checkpoint))  # the mid-epoch state a signal saved
            raise
        finally:
            record = self.record()
            record["epochs_done"] = segment["epochs"][1]
            record["segments"].append({**segment, "wall_time_s": round(time.time() - started, 1)})
            self._save_record(record)
            session.unlink(missing_ok=True)
        return self.state(budget)
