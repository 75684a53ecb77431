"""Parzen tables (``gan2014-table1`` and the f-GAN Table 4 variants): train each row (or continue
it, or reuse it when done) in the run store, score it with the harness's Parzen estimate, and
judge it against the paper's value, with real data's score under the same protocol beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.provenance import REPO, RunStart, compute_device
from zoo.reproduce.carry import CarriedRows
from zoo.reproduce.report import curve_trend
from zoo.reproduce.runs import CurveSpec, RowRun, RowState, portable_path, seed_run_folder
from zoo.reproduce.selection import slug
from zoo.reproduce.tables import QUICK_BUDGET, QUICK_REAL_CENTRES, QUICK_SAMPLES, QUICK_TEST_POINTS, Budget, ParzenTable, Row

CEILING_VARIANT = "train_first_n_samples"  # real images as kernel centres, as many as the generator's samples


def run_base_name(row: Row) -> str:
    """The name of ``row``'s runs in the store, before their ``-seed<N>``."""
    return slug(row.name)


def epoch_budgets(table: ParzenTable, quick: bool = False) -> dict[str, int]:
    """Each row's epoch budget by :func:`run_base_name`."""
    return {run_base_name(row): (QUICK_BUDGET if quick else row.budget).max_epochs for row in table.rows}


def score_row(checkpoint: Path, protocol: str, n_samples: int, seed: int, max_test_points: int | None = None) -> dict[str, Any]:
    """The harness's Parzen record for a checkpoint, under ``protocol``, on the GPU when there is one."""
    from zoo.checkpoints import load_run
    from zoo.eval.harness import evaluate

    model, datamodule = load_run(checkpoint, map_location=compute_device())
    record = evaluate(model, datamodule, ["parzen"], num_samples=n_samples, seed=seed, protocol=protocol,
                      max_test_points=max_test_points)["parzen"]
    record["generator_steps"] = model.generator_steps
    return record


def verdict(mean: float, stderr: float, paper_mean: float | None, paper_stderr: float | None,
            ceiling: dict[str, Any] | None = None) -> str:
    """Whether ours agrees with the paper within two combined standard errors; when it does not and
    the paper's value lies that far above real data's score under the same protocol (``ceiling``:
    its mean and stderr), the verdict says so, since then the gap is the protocol's before it is the model's.
    A log-likelihood above the paper's (its own run did worse, e.g. f-GAN's Jeffrey row) says so too."""
    if paper_mean is None:
        return "no paper value"
    if abs(mean - paper_mean) <= 2 * _combined(stderr, paper_stderr):
        return "reproduced"
    if mean > paper_mean:
        return "not reproduced; ours is above the paper's value"
    if ceiling is not None and paper_mean - ceiling["mean"] > 2 * _combined(ceiling["stderr"], paper_stderr):
        return f"not reproduced; the paper's value is above real data's {ceiling['mean']:.1f} under this protocol"
    return "not reproduced"


def _combined(*stderrs: float | None) -> float:
    return sum((s or 0.0) ** 2 for s in stderrs) ** 0.5


REAL_DATA_RESULTS = REPO / "results" / "kde_real_mnist.json"


def real_rows(protocol: Any, quick: bool) -> dict[str, Any]:
    """The real-data KDE rows of ``protocol``: from ``results/kde_real_mnist.json`` when a full run
    wrote them (they take minutes on a CPU), else computed now."""
    from zoo.eval.protocols import real_data_row

    if not quick and REAL_DATA_RESULTS.exists():
        saved = json.loads(REAL_DATA_RESULTS.read_text())
        row = saved.get("rows", {}).get(protocol.name)
        if row and row["protocol"] == protocol.to_dict():
            print(f"real-data rows from {REAL_DATA_RESULTS} (commit {saved.get('commit')})")
            return {**row, "source": f"{REAL_DATA_RESULTS.name} at commit {saved.get('commit')}"}
    if quick:
        return real_data_row(protocol, n_train=QUICK_REAL_CENTRES, n_test=QUICK_TEST_POINTS)
    return real_data_row(protocol)


def _row_verdict(row: Row, ours: dict[str, Any], ceiling: dict, complete: bool, budget: Budget) -> str:
    """The verdict on a scored row (``ours``: its score and epochs), naming how far it got when not ``complete``."""
    judged = verdict(ours["mean"], ours["stderr"], row.paper_mean, row.paper_stderr, ceiling)
    return judged if complete else f"{judged} (partial: {ours['epochs']}/{budget.max_epochs} epochs)"


def _row_entry(row: Row, budget: Budget, state: RowState | None, score: dict[str, Any] | None, ceiling: dict, store: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": row.name, "config": row.config, "options": list(row.extra), "budget": vars(budget), "paper_budget": row.paper_budget,
        "paper": None if row.paper_mean is None else {"mean": row.paper_mean, "stderr": row.paper_stderr},
        "status": "not started" if state is None else ("complete" if state.complete else "partial"),
    }
    if state is None or score is None:
        return {**entry, "ours": None, "curve": [], "verdict": "not started"}
    ours = {**{k: score[k] for k in ("mean", "stderr", "sigma", "n_samples", "n_points", "generator_steps")},
            "epochs": state.epochs_reached}
    return {
        **entry,
        "ours": ours,
        "minus_ceiling": score["mean"] - ceiling["mean"],
        "verdict": _row_verdict(row, ours, ceiling, state.complete, budget),
        "trend": curve_trend(state.curve),
        "curve": state.curve,
        "trained_in": state.segments,
        "checkpoint": portable_path(state.checkpoint, store),
    }


def reproduce_parzen_table(
    table: ParzenTable, quick: bool, store: Path, seed: int, retrain: bool, resume: bool = False,
    deadline: float | None = None, require_clean: bool = False, rows: tuple[Row, ...] | None = None, train: bool = True,
    carry: CarriedRows | None = None,
) -> dict[str, Any]:
    """Train (or continue) ``rows`` of ``table`` (default: all) until their budget or ``deadline``,
    then score them; with ``train=False`` only score what the run store holds. A row comes from
    ``carry`` instead when it holds the same experiment, trained further than the store's run (or
    where the store has none)."""
    from zoo.eval.protocols import get_protocol

    run = RunStart(require_clean=require_clean)
    protocol = get_protocol(table.protocol)
    n_samples = QUICK_SAMPLES if quick else protocol.n_samples
    extra = ["--data.init_args.batch_size", "256", "--trainer.limit_val_batches", "1"] if quick else []
    curve = CurveSpec(1, table.protocol, QUICK_SAMPLES, QUICK_TEST_POINTS) if quick else CurveSpec(table.curve_every_epochs, table.protocol)
    real = real_rows(protocol, quick)
    variants = {variant["variant"]: variant for variant in real["variants"]}
    ceiling = variants[CEILING_VARIANT]
    folder = store / table.name / ("quick" if quick else "full")
    selected = table.rows if rows is None else rows
    runs = {row.name: RowRun(seed_run_folder(folder, run_base_name(row), row.seed(seed)), row, row.seed(seed), extra + list(row.extra))
            for row in selected}
    budgets = {row.name: QUICK_BUDGET if quick else row.budget for row in selected}
    for row in sorted(selected, key=lambda r: budgets[r.name].max_epochs) if train else ():  # short rows first: early answers
        state = runs[row.name].train(budgets[row.name], curve, deadline, resume, retrain)
        if not state.complete:
            break
    entries = []
    for row in selected:
        state = runs[row.name].state(budgets[row.name])
        earlier = carry.parzen_row(row.name, row.config, vars(budgets[row.name]), row.seed(seed), list(row.extra)) if carry else None
        if earlier is not None and (state is None or earlier["ours"]["epochs"] > state.epochs_reached):
            # trained further than the store's run (or the store lost it): scored as before, the verdict
            # and the curve's trend in today's words (a file may predate the trend rule, or a change to it)
            entries.append({**earlier, "verdict": _row_verdict(row, earlier["ours"], ceiling, earlier["status"] == "complete", budgets[row.name]),
                            **({"trend": curve_trend(earlier["curve"])} if earlier.get("curve") else {})})
            continue
        score = None if state is None else score_row(state.checkpoint, table.protocol, n_samples, row.seed(seed),
                                                      QUICK_TEST_POINTS if quick else None)
        entries.append({**_row_entry(row, budgets[row.name], state, score, ceiling, store), "seed": row.seed(seed)})
    literal = variants["all_train"]
    scored = [r for r in entries if r["ours"]]
    return {
        "table": table.name, "title": table.title, "citation": table.citation, "quick": quick,
        "complete": all(r["status"] == "complete" for r in entries),
        "protocol": protocol.to_dict(), "rows": entries,
        "real_data": {
            "label": table.real_row_label,
            "source": real.get("source", "computed in this run"),
            "paper": None if table.real_paper is None else {"mean": table.real_paper[0], "stderr": table.real_paper[1]},
            "ceiling": {k: ceiling[k] for k in ("variant", "description", "n_kernel_centres", "sigma", "mean", "stderr")},
            "literal_train_60k": {k: literal[k] for k in ("variant", "description", "n_kernel_centres", "sigma", "mean", "stderr")},
            "all_variants": [{k: v[k] for k in ("variant", "n_kernel_centres", "sigma", "mean", "stderr")} for v in real["variants"]],
        },
        "notes": list(table.notes),
        "sample_counts": {"generated_per_row": n_samples, "test_points": scored[0]["ours"]["n_points"] if scored else None,
                          "test_set": protocol.to_dict()["test"], "curve_every_epochs": curve.every_n_epochs},
        **run.provenance(seeds={"training": seed, "latents": seed}, device=compute_device()),
    }
