"""``zoo compare``: runs side by side (a table of final and best eval metrics and a learning-curve
plot), or reproduced tables side by side.

    zoo compare runs/quickstart/version_0 runs/quickstart/version_1 --metric eval/parzen
    zoo compare runs/quickstart                    # every run below a folder
    zoo compare runs/wandb/offline-run-20250101_120000-abc123 me/gan-zoo/abc123
    zoo compare --results results/gan2014-table1.json results/fgan-table4.json
    zoo compare --results results/*.json      # every reproduced table; one curve plot per metric
    zoo compare --results results/fgan-table4.json results/fgan-table4-batch512.json --rows GAN "Reverse KL" --x epoch
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from zoo.compare.readers import expand, read_run
from zoo.compare.report import markdown, plot_curves, print_table
from zoo.compare.results import CURVE_AXES, curves_by_metric, read_tables, select_rows, table_rows
from zoo.compare.runs import Run, direction
from zoo.console import zoo_console
from zoo.errors import ZooConfigError
from zoo.reproduce.selection import slug


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zoo compare", description="Compare runs, or reproduced tables, in a table and a plot.")
    parser.add_argument("runs", nargs="*", help="run folders (CSV, TensorBoard or offline W&B logs) or W&B paths entity/project/run_id")
    parser.add_argument("--results", nargs="+", metavar="JSON",
                        help="reproduced tables from `zoo reproduce` (results/*.json) instead of runs")
    parser.add_argument("--metric", default=None,
                        help="metric to plot against generator steps (default: eval/parzen, else the first eval metric)")
    parser.add_argument("--rows", nargs="+", metavar="NAME", help="with --results: only the rows of these names (case-insensitive)")
    parser.add_argument("--x", choices=sorted(CURVE_AXES), default="generator_steps",
                        help="with --results: the curves' x axis (epoch compares runs of different batch sizes by data seen)")
    parser.add_argument("--out", default="compare.png", help="plot to write")
    parser.add_argument("--markdown", default="compare.md", help="markdown table to write")
    args = parser.parse_args(argv)
    if bool(args.runs) == bool(args.results):
        parser.error("pass run folders or --results FILE…, not both" if args.runs else "pass run folders or --results FILE…")
    if args.runs and (args.rows or args.x != "generator_steps"):
        parser.error("--rows and --x apply to --results tables")
    return args


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def runs_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: the run, what it trained, its generator steps, final and best of each eval metric."""
    metrics = sorted({metric for run in runs for metric in run.eval_metrics()})
    columns = ["run", "paper", "dataset", "variant", "G steps"]
    for metric in metrics:
        way = {"max": " ↑", "min": " ↓"}.get(direction(metric) or "", "")
        short = metric.removeprefix("eval/")
        columns += [f"{short} final", f"{short} best{way}"]
    rows = []
    for run in runs:
        steps = run.generator_steps()
        cells = [run.name, run.paper, run.dataset, run.variant or "—", "?" if steps is None else str(steps)]
        for metric in metrics:
            cells += [_number(run.final(metric)), _number(run.best(metric))]
        rows.append(cells)
    return columns, rows


def choose_metric(runs: list[Run], asked: str | None) -> str:
    """The metric to plot: the one asked for (``parzen`` means ``eval/parzen``), else eval/parzen or the first eval metric."""
    logged = {key for run in runs for row in run.rows for key in row} - {"step"}
    if asked is not None:
        for candidate in (asked, f"eval/{asked}"):
            if candidate in logged:
                return candidate
        raise ZooConfigError(f"no run logged {asked!r}; these did: {', '.join(sorted(logged)) or 'nothing'}")
    evals = sorted(key for key in logged if key.startswith("eval/"))
    if not evals:
        raise ZooConfigError(
            "no run logged an eval metric (add the zoo.callbacks.Evaluation callback); pass --metric train/g_loss to plot a loss"
        )
    return "eval/parzen" if "eval/parzen" in evals else evals[0]


def _unique_names(runs: list[Run]) -> None:
    """Runs that share a name (``alpha/version_0`` from CSV and TensorBoard) are named by their paths
    below the folder they share."""
    for name in {run.name for run in runs}:
        same = [run for run in runs if run.name == name]
        if len(same) > 1:
            common = os.path.commonpath([os.path.abspath(run.source) for run in same])
            for run in same:
                run.name = os.path.relpath(os.path.abspath(run.source), common)


def compare_runs(args: argparse.Namespace, console: Console) -> None:
    runs = [read_run(source) for source in expand(args.runs)]
    _unique_names(runs)
    metric = choose_metric(runs, args.metric)
    columns, rows = runs_table(runs)
    title = f"{len(runs)} runs"
    print_table(title, columns, rows, console)
    _write(Path(args.markdown), markdown(title, columns, rows))
    plotted = {run.name: run.curve(metric) for run in runs}
    for name in [name for name, points in plotted.items() if not points]:
        console.print(f"not plotted: {name} (no {metric} with a known generator step)")
        del plotted[name]
    if not plotted:
        raise ZooConfigError(f"no run has {metric} at a known generator step: nothing to plot")
    plot_curves(plotted, metric, f"{metric} against generator steps", Path(args.out))
    console.print(f"wrote {args.markdown} and {args.out}")


def compare_results(args: argparse.Namespace, console: Console) -> None:
    tables, skipped = read_tables(args.results)
    for path in skipped:
        console.print(f"skipped {path}: not a reproduced table")
    tables = select_rows(tables, args.rows)
    columns, rows = table_rows(tables)
    title = ", ".join(table["table"] for table in tables)
    print_table(title, columns, rows, console)
    _write(Path(args.markdown), markdown(title, columns, rows))
    by_metric = curves_by_metric(tables, args.x)
    plots = []
    for index, (metric, found) in enumerate(by_metric.items()):  # one plot per metric: the first at --out
        path = Path(args.out)
        path = path if index == 0 else path.with_name(f"{path.stem}-{slug(metric.split('(')[0])}{path.suffix}")
        plot_curves(found, f"ours: {metric}", "learning curves", path, CURVE_AXES[args.x])
        plots.append(str(path))
    if plots:
        console.print(f"wrote {args.markdown} and {', '.join(plots)}")
    else:
        console.print(f"wrote {args.markdown}; no row carries a learning curve, so no plot")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    console = zoo_console()
    (compare_results if args.results else compare_runs)(args, console)
    return 0
