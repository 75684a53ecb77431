"""Read a run from its logs: a CSVLogger or TensorBoard run folder, an offline W&B run folder, or
a W&B run by its path ``entity/project/run_id``."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from zoo.compare import identity
from zoo.compare.runs import Run
from zoo.errors import ZooConfigError

WANDB_PATH = re.compile(r"^[\w.-]+/[\w.-]+/[\w]+$")
LOG_FILES = ("metrics.csv", "events.out.tfevents.*", "run-*.wandb")


def _holds_logs(path: Path) -> bool:
    return any(any(path.glob(pattern)) for pattern in LOG_FILES)


def expand(sources: list[str]) -> list[str]:
    """``sources`` with each folder that is not a run but holds runs below it (``runs/quickstart``)
    replaced by those runs, in order of their paths; a run named twice is kept once."""
    expanded: dict[Path | str, str] = {}
    for source in sources:
        path = Path(source).expanduser()
        if not path.is_dir() or _holds_logs(path):
            expanded.setdefault(path.resolve() if path.exists() else source, source)
            continue
        found = {log.parent.resolve(): str(log.parent) for pattern in LOG_FILES for log in path.rglob(pattern)
                 if not log.parent.is_symlink()}  # wandb/latest-run points at a run found anyway
        for resolved, folder in sorted(found.items(), key=lambda item: item[1]) or [(source, source)]:
            expanded.setdefault(resolved, folder)
    return list(expanded.values())


def read_run(source: str) -> Run:
    """The run at ``source``: a run folder written by ``zoo fit``, or a W&B run path."""
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "metrics.csv").is_file():
            return _local_run(path, _csv_rows(path / "metrics.csv"))
        if any(path.glob("events.out.tfevents.*")):
            return _local_run(path, _tensorboard_rows(path))
        if any(path.glob("run-*.wandb")):
            from zoo.compare.wandb_runs import read_offline

            return read_offline(path)
        raise ZooConfigError(f"{path} holds no run: no metrics.csv, TensorBoard events or W&B run file in it or below it")
    if WANDB_PATH.match(source) and not path.exists():
        from zoo.compare.wandb_runs import read_online

        return read_online(source)
    raise ZooConfigError(f"no run at {source}: pass a run folder (e.g. runs/quickstart/version_0) or a W&B path entity/project/run_id")


def run_name(path: Path) -> str:
    """``quickstart/version_0`` for ``runs/quickstart/version_0``: the logger's name and version."""
    resolved = path.resolve()
    return f"{resolved.parent.name}/{resolved.name}" if resolved.parent.name else resolved.name


def _local_run(path: Path, rows: list[dict[str, float]]) -> Run:
    """A CSV or TensorBoard run folder, described by its config.yaml or else its last checkpoint."""
    run = Run(run_name(path), str(path), rows)
    described = identity.from_config_yaml(path / "config.yaml")
    logged_generator_step = any("generator_step" in row for row in rows)
    info = None
    if described is None or not logged_generator_step:
        info = identity.read_checkpoint_info(path / "checkpoints" / "last.ckpt")
    if described is None and info is not None:
        described = identity.describe(info["model_class"], info["data_class"], info["model_args"], info["data_args"])
    if described is not None:
        run.paper, run.dataset, run.variant = described["paper"], described["dataset"], described["variant"]
    if info and info["generator_steps"] is not None and info["batches"]:
        run.generator_steps_per_batch = info["generator_steps"] / info["batches"]
    return run


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _csv_rows(path: Path) -> list[dict[str, float]]:
    """CSVLogger's rows, keeping only the columns each row filled."""
    with path.open(newline="") as handle:
        rows = [{key: _number(value) for key, value in row.items() if key and value not in ("", None)} for row in csv.DictReader(handle)]
    return [row for row in rows if not math.isnan(row.get("step", math.nan))]


def _tensorboard_rows(path: Path) -> list[dict[str, float]]:
    """One row per step from TensorBoard scalar events (the tag is the key)."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(path), size_guidance={SCALARS: 0})
    events.Reload()
    by_step: dict[int, dict[str, float]] = {}
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            by_step.setdefault(event.step, {"step": float(event.step)})[tag] = float(event.value)
    return [by_step[step] for step in sorted(by_step)]
