"""``zoo reproduce improved-ablation``: Salimans et al. (2016), Table 3 in spirit, on MNIST.

The paper removes its techniques one at a time from its CIFAR-10 model and reports the Inception
score of each. Here the same question is asked of Goodfellow et al.'s MNIST nets with every
technique of §3 switched on (``configs/improved/mnist_techniques.yaml``): each technique is removed
in turn, and the plain GAN (all removed) closes the table. Every row trains for the same budget
from the same seed and is scored by the zoo's MNIST classifier, so no Inception weights are needed:

* FID on the classifier's 128-d features against the training split (lower is better);
* IS on its 10 class posteriors (at most 10);
* digit modes covered out of 10 and KL(generated digit histogram ‖ uniform) (0 is even).

The classifier FID also gives each row its learning curve. Runs live in the run store and continue
with ``--resume`` like every table's.

    zoo train-classifier mnist                     # once: the classifier every score reads
    zoo reproduce improved-ablation --resume --max-time 01:00:00
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.provenance import RunStart, compute_device
from zoo.reproduce.report import write_result_files
from zoo.reproduce.runs import CurveSpec, RowRun, portable_path, seed_run_folder
from zoo.reproduce.tables import Budget, Row

TABLE = "improved-ablation"
CONFIG = "configs/improved/mnist_techniques.yaml"
# The overrides that switch each technique of the config off.
REMOVALS: dict[str, tuple[str, ...]] = {
    "feature matching": ("--model.init_args.generator_objective", "nonsaturating"),
    "minibatch discrimination": ("--model.init_args.minibatch_discrimination", "0"),
    "historical averaging": ("--model.init_args.historical_averaging", "0"),
    "label smoothing": ("--model.init_args.real_label", "1.0"),
}
METRICS = ("fid", "is", "modes")


@dataclass(frozen=True)
class Plan:
    budget: Budget
    samples: int
    curve_every_epochs: int


FULL = Plan(Budget(max_epochs=10), samples=10_000, curve_every_epochs=2)
QUICK = Plan(Budget(max_epochs=1, train_batches=2), samples=500, curve_every_epochs=1)


def rows(budget: Budget) -> tuple[tuple[Row, tuple[str, ...]], ...]:
    """All techniques, then each one removed, then none; each row with the techniques it removes."""
    every_removal = tuple(arg for override in REMOVALS.values() for arg in override)
    return (
        (Row("all techniques", CONFIG, None, None, budget), ()),
        *((Row(f"− {name}", CONFIG, None, None, budget, extra=override), (name,)) for name, override in REMOVALS.items()),
        (Row("none (plain GAN)", CONFIG, None, None, budget, extra=every_removal), tuple(REMOVALS)),
    )


def _folder_name(row: Row) -> str:
    return re.sub(r"[^a-z0-9]+", "-", row.name.replace("−", "without").lower()).strip("-")


def score(checkpoint: Path, samples: int, seed: int) -> dict[str, Any]:
    """The classifier's FID, IS and digit modes of a checkpoint's generator."""
    from zoo.checkpoints import load_run
    from zoo.eval.harness import evaluate

    model, data = load_run(checkpoint, map_location=compute_device())
    records = evaluate(model, data, METRICS, num_samples=samples, seed=seed)
    return {
        "fid": records["fid"]["value"], "inception_score": records["is"]["value"], "inception_score_std": records["is"].get("std"),
        "modes_covered": records["modes"]["modes_covered"], "kl_to_uniform": records["modes"]["kl_to_uniform"],
        "digit_histogram": records["modes"]["histogram"], "generator_steps": model.generator_steps,
        "classifier": records["modes"]["classifier"],
    }


def reproduce(store: Path, quick: bool, resume: bool, retrain: bool, deadline: float | None, seed: int,
              require_clean: bool) -> dict[str, Any]:
    """Train and score every row in turn until done or ``deadline``; the result record."""
    start = RunStart(require_clean=require_clean)
    plan = QUICK if quick else FULL
    folder = store / TABLE / ("quick" if quick else "full")
    curve = CurveSpec(plan.curve_every_epochs, protocol=None, num_samples=plan.samples, metric="fid")
    extra = ["--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false"] if quick else []
    results, complete = [], True
    for row, removed in rows(plan.budget):
        run = RowRun(seed_run_folder(folder, _folder_name(row), seed), row, seed, [*row.extra, *extra])
        state = run.train(plan.budget, curve, deadline, resume, retrain) if complete else run.state(plan.budget)
        complete = complete and state is not None and state.complete
        entry: dict[str, Any] = {"name": row.name, "removed": list(removed), "overrides": list(row.extra), "status": "not started"}
        if state is not None:
            entry.update(status="complete" if state.complete else "partial", epochs=state.epochs_reached,
                         curve=state.curve, trained_in=state.segments, checkpoint=portable_path(state.checkpoint, store),
                         ours=score(state.checkpoint, plan.samples, seed))
        results.append(entry)
    return {
        "table": TABLE, "quick": quick, "complete": complete,
        "title": "Salimans et al. (2016), Table 3 in spirit: each technique removed in turn, MNIST (Goodfellow et al.'s nets)",
        "citation": "Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016, Table 3 (CIFAR-10, Inception score)",
        "config": CONFIG, "budget": vars(plan.budget), "rows": results,
        "sample_counts": {"scored_per_row": plan.samples, "curve_every_epochs": plan.curve_every_epochs},
        "notes": ["The paper's Table 3 scores CIFAR-10 models by Inception score; these rows are MNIST models scored by "
                  "the zoo's MNIST classifier (FID on its features, IS on its posteriors, digit modes), so no paper "
                  "value applies to them.",
                  "Virtual batch normalization is not ablated: these nets have no batch normalization to replace."],
        **start.provenance(seeds={"training": seed, "scoring": seed}, device=compute_device()),
    }


def markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['title']}{' (quick check, not a result)' if record['quick'] else ''}", "",
             f"{record['budget']['max_epochs']} epochs per row; {record['sample_counts']['scored_per_row']} samples scored per row.", "",
             "| model | classifier FID ↓ | classifier IS ↑ | digit modes | KL to uniform ↓ | G steps | status |",
             "|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        ours = row.get("ours")
        if ours is None:
            lines.append(f"| {row['name']} | — | — | — | — | — | {row['status']} |")
            continue
        lines.append(f"| {row['name']} | {ours['fid']:.2f} | {ours['inception_score']:.2f} | {ours['modes_covered']}/10 | "
                     f"{ours['kl_to_uniform']:.3f} | {ours['generator_steps']} | {row['status']} |")
    lines += ["", "Learning curves (classifier FID at generator steps):", ""]
    lines += [f"- {row['name']}: " + ", ".join(f"{p['mean']:.2f} @ {p['generator_steps']}" for p in row["curve"])
              for row in record["rows"] if row.get("curve")]
    lines += ["", f"Commit `{record['commit']}`; {record['device']}; wall time {record['wall_time_s']:.0f} s.",
              *[f"- {note}" for note in record["notes"]]]
    return "\n".join(lines) + "\n"


def write_outputs(record: dict[str, Any], out: Path) -> dict[str, Path]:
    print(markdown(record))
    return write_result_files(record, out, TABLE, markdown(record))
