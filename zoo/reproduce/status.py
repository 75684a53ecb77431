"""``zoo reproduce TABLE --status``: what the run store holds for a table, read without training,
scoring or writing anything: where each row of a long, interrupted reproduction stands.

The store holds three kinds of runs (see :mod:`zoo.reproduce.runs` and :mod:`zoo.reproduce.step_runs`):
epoch runs (``run.json``: epochs done, one segment per session, ``curve.json``), step runs
(``identity.json`` with the budget, ``result.json`` once scored) and kept inversions (``*.pt``,
``unrolled-reconstruction``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from zoo.reproduce.lock import running_jobs
from zoo.reproduce.report import segment_epochs
from zoo.reproduce.runs import SESSION_FILE, row_name_of, saved_position, stored_state


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _sessions(count: int) -> str:
    return f"{count} session" + ("" if count == 1 else "s")


def _epoch_run(folder: Path, budget_epochs: int | None = None) -> str:
    state = stored_state(folder)
    if state is None:
        return "started, no checkpoint yet"
    segments, curve = state.segments, state.curve
    seconds = sum(s.get("wall_time_s", 0.0) for s in segments)
    of_budget = "" if budget_epochs is None else f" of {budget_epochs}"
    line = f"{state.epochs_reached}{of_budget} epochs, {_hours(seconds)} in {_sessions(len(segments))} ended"
    # run.json is rewritten only when a session ends; a signal's session records the epochs it finished
    recorded = max([state.epochs_done, *(segment_epochs(s)[1] for s in segments)])
    if state.epochs_reached > recorded:
        line += f" (+ a session running or killed since epoch {recorded}{_pace(folder, state.epochs_reached)})"
    elif budget_epochs is not None and state.epochs_reached < budget_epochs:
        line += _time_to_budget(segments, budget_epochs - state.epochs_reached)
    if curve:
        line += f"; curve at epoch {curve[-1]['epoch']}: {curve[-1]['mean']:g}"
    if segments:
        last = segments[-1]
        line += f"; last ended session at commit {last['commit'][:7]}"
        if last.get("interrupted") and "epochs_finished" in last:  # the count the table's provenance gives too
            line += f", interrupted after {last['epochs_finished']} finished epochs"
        elif last.get("interrupted"):  # recorded before finished epochs were
            line += f", interrupted in epoch index {last.get('stopped_in_epoch')}"
    return line


def _pace(folder: Path, epochs_reached: int) -> str:
    """``, begun <time>: <s> an epoch, about <time> to <budget> epochs`` from the session file, timed
    by the last checkpoint's save; empty without one."""
    session_file = folder / SESSION_FILE
    if not session_file.exists():
        return ""
    session = json.loads(session_file.read_text())
    begun = time.strftime("%Y-%m-%d %H:%M", time.localtime(session["started_at"]))
    epochs = epochs_reached - session["from_epoch"]
    if epochs <= 0:
        return f", begun {begun}"
    seconds_per_epoch = (os.path.getmtime(folder / "checkpoints" / "last.ckpt") - session["started_at"]) / epochs
    left = max(session["budget_epochs"] - epochs_reached, 0)
    return (f", begun {begun}: {seconds_per_epoch:.0f} s an epoch, about {_hours(left * seconds_per_epoch)} "
            f"to {session['budget_epochs']} epochs at that pace")


def _time_to_budget(segments: list[dict], epochs_left: int) -> str:
    """``; about <time> to go at its last session's pace (<s> s an epoch)``; empty without a timed session."""
    timed = [(s["wall_time_s"], end - start) for s in segments if s.get("wall_time_s")
             for start, end in [segment_epochs(s)] if end > start]
    if not timed:
        return ""
    seconds, epochs = timed[-1]
    seconds_per_epoch = seconds / epochs
    return f"; about {_hours(epochs_left * seconds_per_epoch)} to go at its last session's pace ({seconds_per_epoch:.0f} s an epoch)"


def _step_run(folder: Path) -> str:
    target = json.loads((folder / "identity.json").read_text())["generator_steps"]
    clock = folder / "train_seconds.json"
    seconds = json.loads(clock.read_text())["seconds"] if clock.exists() else None
    trained = "" if seconds is None else f", trained {_hours(seconds)}"
    if (folder / "result.json").exists():
        return f"finished: {target} generator steps, scored{trained}"
    done = saved_position(folder / "checkpoints" / "last.ckpt").get("stopped_at_generator_step")
    if done is None:
        return f"not started (budget {target} generator steps)"
    return f"partial: {done} of {target} generator steps{trained}"


def _is_run(folder: Path) -> bool:
    """Whether ``folder`` is a run's own (its ``.pt`` files are the run's, such as a step run's trace)."""
    return (folder / "run.json").exists() or (folder / "identity.json").exists()


def describe(folder: Path, budget_of: Callable[[str], int | None] | None = None) -> list[str]:
    """One line per run under ``folder`` (a table's folder in the run store), paths relative to it,
    then the jobs training there now. ``budget_of`` gives the epochs of a row's budget from its run
    name without ``-seed<N>`` (the run store does not keep budgets, since a table's budget may be
    raised): an epoch run of a row with a budget says how far it has to go."""
    if not folder.is_dir():
        return []
    lines = []
    for path in sorted(folder.rglob("*")):
        where = path.parent.relative_to(folder)
        if path.name == "run.json":
            budget = budget_of(row_name_of(where.name)) if budget_of else None
            lines.append(f"{where.as_posix()}: {_epoch_run(path.parent, budget)}")
        elif path.name == "identity.json":
            lines.append(f"{where.as_posix()}: {_step_run(path.parent)}")
        elif path.suffix == ".pt" and not {"logs", "checkpoints"} & set(where.parts) and not _is_run(path.parent):
            lines.append(f"{path.relative_to(folder).as_posix()}: kept result")
    return lines + [f"running now: {job}" for job in running_jobs(folder)]


def print_status(folder: Path, budget_of: Callable[[str], int | None] | None = None) -> int:
    """Print :func:`describe`'s lines under a header naming ``folder``; the exit code (0)."""
    lines = describe(folder, budget_of)
    runs = sum(not line.startswith("running now") for line in lines)
    print(f"{folder}: " + ("no runs yet" if not lines else f"{runs} run" + ("" if runs == 1 else "s")))
    for line in lines:
        print(f"  {line}")
    return 0
