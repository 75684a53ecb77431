"""Seeded training runs bounded in generator steps, for tables that score each seed of a config
(``unrolled-mixtures``, ``unrolled-stacked-mnist``).

A run's folder holds ``identity.json`` (config hash, seed, budget), ``checkpoints/last.ckpt`` and,
once scored, ``result.json``. A finished run is read back, never retrained (unless ``retrain``); a
partial one continues from its last checkpoint with ``resume``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from zoo.atomic import atomic_write_json
from zoo.errors import ZooConfigError, ZooDeadlineReached
from zoo.provenance import device_description, git_commit


@dataclass(frozen=True)
class StepBudget:
    """Generator steps per run, spacing of the config's :class:`SampleTrace`, samples scored per
    seed, and the seeds."""

    generator_steps: int
    trace_every: int
    samples: int
    seeds: tuple[int, ...]

    def for_seeds(self, seeds: tuple[int, ...] | None) -> StepBudget:
        """This budget with ``seeds`` instead of its own (when given): a seed's run is the same
        whichever seeds are asked with it, since seeds are not part of its identity."""
        return replace(self, seeds=tuple(seeds)) if seeds else self


Scorer = Callable[[Path, int], dict[str, Any]]


def train_seed(config: Path, seed: int, budget: StepBudget, run_dir: Path, score: Scorer, resume: bool, retrain: bool,
               deadline: float | None = None) -> dict[str, Any] | None:
    """Train ``config`` under ``seed`` for ``budget`` into ``run_dir``, then ``score(last.ckpt,
    budget.samples)``; returns ``{"seed", **score, "train_wall_time_s", "continued_from_checkpoint"}``
    (the training time of every session of the run),
    or ``None`` when ``deadline`` (a UNIX time) stopped it first: ``resume`` continues it later."""
    from zoo.callbacks.interrupts import GracefulStop
    from zoo.cli import run_lightning_cli

    identity = _identity(config, seed, budget)
    marker, result, last = run_dir / "identity.json", run_dir / "result.json", run_dir / "checkpoints" / "last.ckpt"
    if marker.exists() and not retrain:
        if json.loads(marker.read_text()) != identity:
            raise ZooConfigError(f"{run_dir} was trained with another config or budget: pass --retrain to start it over")
        if result.exists():
            print(f"{config.stem} seed {seed}: finished earlier, read back")
            return json.loads(result.read_text())
        if last.exists() and not resume:
            raise ZooConfigError(f"{run_dir} holds a partial run: add --resume to continue it or --retrain to start over")
    if retrain or not last.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        atomic_write_json(marker, identity)
    if deadline is not None and time.time() >= deadline:
        return None
    continued = last.exists()
    clock = run_dir / "train_seconds.json"  # every session's training time, interrupted ones too
    trained_before = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
    started = time.time()
    # A seed's few long epochs would leave much of the time unused if it stopped only at epoch ends.
    stop = GracefulStop(deadline, resume_hint="the same `zoo reproduce` command with --resume", at_batch_ends=True)
    try:
        cli = run_lightning_cli([
            "fit", "--config", str(config), "--seed_everything", str(seed),
            "--trainer.max_steps", str(2 * budget.generator_steps), "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks.init_args.every_n_generator_steps", str(budget.trace_every),
            "--trainer.logger.init_args.save_dir", str(run_dir), "--trainer.logger.init_args.name", "logs",
            "--checkpoint.dirpath", str(run_dir / "checkpoints"),
            *(["--ckpt_path", str(last)] if continued else []),
        ], extra_callbacks=[stop])
    except ZooDeadlineReached:
        return None
    finally:
        trained = round(trained_before + time.time() - started, 1)
        atomic_write_json(clock, {"seconds": trained})
    record = {"seed": seed, **score(last, budget.samples), "train_wall_time_s": trained,
              "continued_from_checkpoint": continued,
              # a table assembled later (--no-train) still says what trained each seed, and where
              "trained_at_commit": git_commit(), "trained_on": device_description(cli.trainer.strategy.root_device)}
    atomic_write_json(result, record)
    return record


def _identity(config: Path, seed: int, budget: StepBudget) -> dict[str, Any]:
    return {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(), "seed": seed,
            **{k: v for k, v in asdict(budget).items() if k != "seeds"}}


def finished_seed(config: Path, seed: int, budget: StepBudget, run_dir: Path) -> dict[str, Any] | None:
    """The scored record of ``config`` under ``seed`` and ``budget`` if it finished in ``run_dir``, else
    ``None``; a run of another config or budget there is refused, as :func:`train_seed` refuses it."""
    marker, result = run_dir / "identity.json", run_dir / "result.json"
    if marker.exists() and json.loads(marker.read_text()) != _identity(config, seed, budget):
        raise ZooConfigError(f"{run_dir} was trained with another config or budget: it cannot stand in this table")
    return json.loads(result.read_text()) if result.exists() else None


def train_rows(jobs: dict[Any, tuple[Path, Path]], budget: StepBudget, score: Scorer, resume: bool, retrain: bool,
               deadline: float | None, train: bool = True,
               carried: Callable[[Path, int], dict[str, Any] | None] | None = None) -> tuple[dict[Any, list[dict[str, Any]]], list[Any]]:
    """Train every row's seeds in turn (row key → its config and run folder); the finished rows'
    per-seed records, and the keys of rows the deadline left unfinished (their runs are not started
    or continue with ``resume``). With ``train=False``, only read the seeds that finished; a seed
    the run store has not finished (or does not hold) comes from ``carried(config, seed)`` when it
    gives one, since a carried seed finished the same budget."""
    finished: dict[Any, list[dict[str, Any]]] = {}
    unfinished: list[Any] = []
    out_of_time = False
    for key, (config, folder) in jobs.items():
        seeds = []
        for seed in budget.seeds:
            run_dir = folder / f"seed{seed}"
            if not train:
                record = finished_seed(config, seed, budget, run_dir)
                if record is None and carried is not None:
                    record = carried(config, seed)
                seeds.append(record)
                continue
            # The deadline stops a run one epoch early, while time seems left: start no other run then.
            record = train_seed(config, seed, budget, run_dir, score, resume, retrain, 0.0 if out_of_time else deadline)
            out_of_time = out_of_time or record is None
            seeds.append(record)
        if None in seeds:
            unfinished.append(key)
        else:
            finished[key] = seeds
    return finished, unfinished


def saved_trace(raw_checkpoint: dict[str, Any]) -> dict[int, torch.Tensor]:
    """The :class:`zoo.callbacks.trace.SampleTrace` snapshots a checkpoint carries."""
    return next(state["snapshots"] for key, state in raw_checkpoint["callbacks"].items() if key.startswith("SampleTrace"))


def training_time(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> str:
    """The rows' training wall time, summed over their seeds, and the devices that trained them (with
    the rows, by ``label``, of every device but the most used), for a table's footer."""
    seconds = sum(seed.get("train_wall_time_s") or 0.0 for row in rows for seed in row["seeds"])
    runs = sum(len(row["seeds"]) for row in rows)
    devices: dict[str, dict[str, int]] = {}
    for row in rows:
        for seed in row["seeds"]:
            per_row = devices.setdefault(seed.get("trained_on", "a device not recorded"), {})
            per_row[label(row)] = per_row.get(label(row), 0) + 1
    ranked = sorted(devices.items(), key=lambda item: -sum(item[1].values()))
    where = "; ".join(f"{sum(per_row.values())} on {device}" + ("" if rank == 0 else f" ({', '.join(per_row)})")
                      for rank, (device, per_row) in enumerate(ranked))
    return f"training {seconds / 3600:.1f} h of wall time over {runs} runs: {where} (per run: train_wall_time_s, trained_on)"


def seeds_by_row(pairs: list[tuple[dict[str, Any], dict[str, Any]]], label: Callable[[dict[str, Any]], str]) -> list[str]:
    """``<row's label> (seeds 0, 1, 2)`` for each row among (row, seed record) pairs, in order."""
    grouped: dict[str, list[str]] = {}
    for row, seed in pairs:
        grouped.setdefault(label(row), []).append(str(seed["seed"]))
    return [f"{name} (seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)})" for name, seeds in grouped.items()]


TRAIN_TIME_NOTE = ("train_wall_time_s sums a run's training sessions; runs finished before sessions were summed "
                   "(commit 6137829 and earlier) record only their last session")


def summary(values: list[float | None]) -> dict[str, Any]:
    """Per-seed values and their mean (``None`` where some seed has no value)."""
    return {"per_seed": values, "mean": None if None in values else statistics.fmean(values)}
