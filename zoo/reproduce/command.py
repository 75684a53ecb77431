"""``zoo reproduce <table>``: train each row (or reuse its checkpoint), score it with the harness,
and write ``<table>.json``, a markdown table and a bar chart.

    zoo reproduce gan2014-table1
    zoo reproduce fgan-table4 --quick        # tiny budgets: checks the pipeline, not the numbers
    zoo reproduce fgan-table3                # f-GAN's 1-D experiment
    zoo reproduce kde-real                   # the real-data KDE rows of every Parzen protocol
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from zoo.errors import ZooConfigError
from zoo.provenance import REPO, RunStart
from zoo.reproduce.report import write_report
from zoo.reproduce.tables import OTHER_TABLES, QUICK_BUDGET, QUICK_REAL_CENTRES, QUICK_SAMPLES, QUICK_TEST_POINTS, TABLES, Budget, ParzenTable, Row

CEILING_VARIANT = "train_first_n_samples"  # real images as kernel centres, as many as the generator's samples


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _config_path(config: str) -> Path:
    path = Path(config)
    if not path.is_absolute() and not path.exists():
        path = REPO / config
    if not path.exists():
        raise ZooConfigError(f"config {config} not found (run from the repository root)")
    return path


def train_row(row: Row, budget: Budget, run_dir: Path, seed: int, retrain: bool, extra: list[str]) -> Path:
    """Train ``row`` under ``budget`` into ``run_dir``, unless a checkpoint of the same config,
    budget and seed is already there; return the last checkpoint."""
    from zoo.cli import run_lightning_cli

    config = _config_path(row.config)
    fingerprint = {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(), "budget": vars(budget), "seed": seed, "extra": extra}
    marker, checkpoint = run_dir / "trained_with.json", run_dir / "checkpoints" / "last.ckpt"
    if not retrain and checkpoint.exists() and marker.exists() and json.loads(marker.read_text()) == fingerprint:
        print(f"reusing {checkpoint}")
        return checkpoint
    shutil.rmtree(run_dir, ignore_errors=True)
    run_lightning_cli([
        "fit", "--config", str(config), *budget.overrides(), *extra, "--seed_everything", str(seed),
        "--trainer.logger.init_args.save_dir", str(run_dir), "--trainer.logger.init_args.name", "logs",
        "--checkpoint.dirpath", str(run_dir / "checkpoints"),
    ])
    marker.write_text(json.dumps(fingerprint, indent=2))
    return checkpoint


def score_row(checkpoint: Path, protocol: str, n_samples: int, seed: int, max_test_points: int | None = None) -> dict[str, Any]:
    """The harness's Parzen record for a checkpoint, under ``protocol``."""
    from zoo.checkpoints import load_gan, read_checkpoint
    from zoo.eval.command import load_datamodule
    from zoo.eval.harness import evaluate

    model = load_gan(checkpoint)
    datamodule = load_datamodule(read_checkpoint(checkpoint))
    record = evaluate(model, datamodule, ["parzen"], num_samples=n_samples, seed=seed, protocol=protocol,
                      max_test_points=max_test_points)["parzen"]
    record["generator_steps"] = model.generator_steps
    return record


def verdict(mean: float, stderr: float, paper_mean: float | None, paper_stderr: float | None) -> str:
    """Whether ours agrees with the paper within two combined standard errors."""
    if paper_mean is None:
        return "no paper value"
    spread = (stderr**2 + (paper_stderr or 0.0) ** 2) ** 0.5
    return "reproduced" if abs(mean - paper_mean) <= 2 * spread else "not reproduced"


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


def reproduce_parzen_table(table: ParzenTable, quick: bool, runs: Path, seed: int, retrain: bool) -> dict[str, Any]:
    from zoo.eval.protocols import get_protocol

    run = RunStart()
    protocol = get_protocol(table.protocol)
    n_samples = QUICK_SAMPLES if quick else protocol.n_samples
    extra = ["--data.init_args.batch_size", "256", "--trainer.limit_val_batches", "1"] if quick else []
    real = real_rows(protocol, quick)
    variants = {variant["variant"]: variant for variant in real["variants"]}
    ceiling = variants[CEILING_VARIANT]
    rows = []
    for row in table.rows:
        budget = QUICK_BUDGET if quick else row.budget
        checkpoint = train_row(row, budget, runs / table.name / ("quick" if quick else "full") / _slug(row.name), seed, retrain, extra)
        score = score_row(checkpoint, table.protocol, n_samples, seed, QUICK_TEST_POINTS if quick else None)
        rows.append({
            "name": row.name, "config": row.config, "budget": vars(budget), "paper_budget": row.paper_budget,
            "paper": None if row.paper_mean is None else {"mean": row.paper_mean, "stderr": row.paper_stderr},
            "ours": {k: score[k] for k in ("mean", "stderr", "sigma", "n_samples", "n_points", "generator_steps")},
            "minus_ceiling": score["mean"] - ceiling["mean"],
            "verdict": verdict(score["mean"], score["stderr"], row.paper_mean, row.paper_stderr),
            "checkpoint": str(checkpoint),
        })
    literal = variants["all_train"]
    return {
        "table": table.name, "title": table.title, "citation": table.citation, "quick": quick,
        "protocol": protocol.to_dict(), "rows": rows,
        "real_data": {
            "label": table.real_row_label,
            "source": real.get("source", "computed in this run"),
            "paper": None if table.real_paper is None else {"mean": table.real_paper[0], "stderr": table.real_paper[1]},
            "ceiling": {k: ceiling[k] for k in ("variant", "description", "n_kernel_centres", "sigma", "mean", "stderr")},
            "literal_train_60k": {k: literal[k] for k in ("variant", "description", "n_kernel_centres", "sigma", "mean", "stderr")},
            "all_variants": [{k: v[k] for k in ("variant", "n_kernel_centres", "sigma", "mean", "stderr")} for v in real["variants"]],
        },
        "notes": list(table.notes),
        "sample_counts": {"generated_per_row": n_samples, "test_points": rows[0]["ours"]["n_points"] if rows else None,
                          "test_set": protocol.to_dict()["test"]},
        **run.provenance(seeds={"training": seed, "latents": seed}),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zoo reproduce", description="Reproduce a paper's table with the zoo.")
    parser.add_argument("table", choices=sorted([*TABLES, *OTHER_TABLES]))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the pipeline, not the numbers")
    parser.add_argument("--out", default=None, help="folder for the result files (default: results/, or runs/reproduce/quick/ with --quick)")
    parser.add_argument("--runs", default="runs/reproduce", help="folder for the rows' training runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true", help="train every row again even if a checkpoint exists")
    args = parser.parse_args(argv)
    out = Path(args.out or ("runs/reproduce/quick" if args.quick else "results"))
    if args.table == "fgan-table3":
        from zoo.reproduce.fgan_table3 import run_table3, write_outputs

        paths = write_outputs(run_table3(quick=args.quick, seed=args.seed), out)
    elif args.table == "kde-real":
        from zoo.eval.protocols import write_real_data_results

        path = out / "kde_real_mnist.json"
        write_real_data_results(str(path), None, QUICK_REAL_CENTRES if args.quick else None)
        paths = {"json": path}
    else:
        record = reproduce_parzen_table(TABLES[args.table], args.quick, Path(args.runs), args.seed, args.retrain)
        paths = write_report(record, out)
    for path in paths.values():
        print(f"wrote {path}")
    return 0
