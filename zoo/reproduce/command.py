"""``zoo reproduce <table>``: train each row (or continue it, or reuse it when done), score it with
the harness, and write ``<table>.json``, a markdown table and a chart with the learning curves.
Rows train in the run store (``$ZOO_RUNS``, see :mod:`zoo.reproduce.runs`), outside the work tree.

    zoo reproduce gan2014-table1 --resume --max-time 02:00:00   # continue until the time is up
    zoo reproduce fgan-table4 --quick        # tiny budgets: checks the pipeline, not the numbers
    zoo reproduce fgan-table4 --rows kullback-leibler --resume   # one row, e.g. one GPU job of several
    zoo reproduce fgan-table4 --no-train     # the table from the run store as it stands, training nothing
    zoo reproduce unrolled-mixtures --jobs 2 --resume   # rows as 2 parallel processes, then the table
    zoo reproduce fgan-table3                # f-GAN's 1-D experiment
    zoo reproduce kde-real                   # the real-data KDE rows of every Parzen protocol
    zoo reproduce improved-gan-mnist         # Improved GAN's semi-supervised MNIST (zoo/reproduce/improved.py)
    zoo reproduce improved-gan-mnist-softplus  # the same with G's output a softplus (a stated deviation)
    zoo reproduce improved-ablation          # Improved GAN's techniques removed in turn (zoo/reproduce/improved_ablation.py)
    zoo reproduce unrolled-mixtures          # Unrolled GAN's 2-D mixtures (zoo/reproduce/unrolled.py)
    zoo reproduce unrolled-stacked-mnist     # Unrolled GAN's Stacked MNIST (zoo/reproduce/unrolled_stacked.py)
    zoo reproduce unrolled-reconstruction    # its K = 0/1/5/10 models reconstructing training images (zoo/reproduce/unrolled_reconstruction.py)
    zoo reproduce lapgan-mnist               # LAPGAN vs GAN on MNIST, matched budget (zoo/reproduce/lapgan.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from zoo.errors import ZooConfigError
from zoo.provenance import REPO, RunStart, compute_device
from zoo.reproduce.carry import CARRY_TABLES, CarriedRows
from zoo.reproduce.lock import table_lock
from zoo.reproduce.parallel import check_jobs, failed, run_jobs, table_parts
from zoo.reproduce.report import curve_trend, markdown, write_report
from zoo.reproduce.runs import CurveSpec, RowRun, RowState, portable_path, run_store
from zoo.reproduce.selection import SELECTABLE_SEEDS, STEP_TABLES, check_selection, select_rows, slug, step_table_rows, trained_parts
from zoo.reproduce.tables import OTHER_TABLES, QUICK_BUDGET, QUICK_REAL_CENTRES, QUICK_SAMPLES, QUICK_TEST_POINTS, TABLES, Budget, ParzenTable, Row

CEILING_VARIANT = "train_first_n_samples"  # real images as kernel centres, as many as the generator's samples


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


def _row_entry(row: Row, budget: Budget, state: RowState | None, score: dict[str, Any] | None, ceiling: dict, store: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": row.name, "config": row.config, "options": list(row.extra), "budget": vars(budget), "paper_budget": row.paper_budget,
        "paper": None if row.paper_mean is None else {"mean": row.paper_mean, "stderr": row.paper_stderr},
        "status": "not started" if state is None else ("complete" if state.complete else "partial"),
    }
    if state is None or score is None:
        return {**entry, "ours": None, "curve": [], "verdict": "not started"}
    return {
        **entry,
        "ours": {**{k: score[k] for k in ("mean", "stderr", "sigma", "n_samples", "n_points", "generator_steps")},
                 "epochs": state.epochs_reached},
        "minus_ceiling": score["mean"] - ceiling["mean"],
        "verdict": verdict(score["mean"], score["stderr"], row.paper_mean, row.paper_stderr, ceiling)
        + ("" if state.complete else f" (partial: {state.epochs_reached}/{budget.max_epochs} epochs)"),
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
    then score them; with ``train=False`` only score what the run store holds. Rows the store lacks
    come from ``carry`` when it holds the same experiment."""
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
    runs = {row.name: RowRun(folder / f"{slug(row.name)}-seed{row.seed(seed)}", row, row.seed(seed), extra + list(row.extra))
            for row in selected}
    budgets = {row.name: QUICK_BUDGET if quick else row.budget for row in selected}
    for row in sorted(selected, key=lambda r: budgets[r.name].max_epochs) if train else ():  # short rows first: early answers
        state = runs[row.name].train(budgets[row.name], curve, deadline, resume, retrain)
        if not state.complete:
            break
    entries = []
    for row in selected:
        state = runs[row.name].state(budgets[row.name])
        score = None if state is None else score_row(state.checkpoint, table.protocol, n_samples, row.seed(seed),
                                                      QUICK_TEST_POINTS if quick else None)
        entry = {**_row_entry(row, budgets[row.name], state, score, ceiling, store), "seed": row.seed(seed)}
        earlier = (carry.parzen_row(row.name, row.config, vars(budgets[row.name]), row.seed(seed), list(row.extra))
                   if carry and state is None else None)
        if earlier is not None:  # scored as before; the verdict in today's words
            ours = earlier["ours"]
            entry = {**earlier, "verdict": verdict(ours["mean"], ours["stderr"], row.paper_mean, row.paper_stderr, ceiling)
                     + ("" if earlier["status"] == "complete" else f" (partial: {ours['epochs']}/{budgets[row.name].max_epochs} epochs)")}
        entries.append(entry)
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


def parse_duration(text: str) -> float:
    """Seconds in ``HH:MM:SS`` (or ``MM:SS``, or plain seconds)."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise ZooConfigError(f"--max-time must look like HH:MM:SS, got {text!r}") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise ZooConfigError(f"--max-time must look like HH:MM:SS, got {text!r}")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zoo reproduce", description="Reproduce a paper's table with the zoo.")
    parser.add_argument("table", choices=sorted([*TABLES, *OTHER_TABLES]))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the pipeline, not the numbers")
    parser.add_argument("--out", default=None, help="folder for the result files (default: results/, or runs/reproduce/quick/ with --quick)")
    parser.add_argument("--runs", default=None, help="run store for the rows' training runs (default: $ZOO_RUNS, else ~/.cache/zoo/runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d-size", default="quarter", help="unrolled-reconstruction: D size of the models to invert (quarter or half)")
    parser.add_argument("--retrain", action="store_true", help="train every row again even if a checkpoint exists "
                        "(unrolled-reconstruction: invert every model again)")
    parser.add_argument("--resume", action="store_true", help="continue rows that an earlier, interrupted invocation left partial")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run a full reproduction from uncommitted code (the result lists the changed files)")
    parser.add_argument("--max-time", default=None, metavar="HH:MM:SS",
                        help="stop at the last epoch end that fits in this time (unrolled-mixtures, unrolled-stacked-mnist: "
                             "the last batch end); rerun with --resume to continue")
    parser.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                        help=f"{', '.join((*TABLES, *STEP_TABLES))}: train and report only these rows (names or slugs, "
                             "e.g. kullback-leibler, ring-k10, quarter-k5), e.g. one row per job")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                        help="improved-gan-mnist and the unrolled tables: train and report these seeds instead of the "
                             "plan's, e.g. one seed per job")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: write the table from the run store as it stands (after parallel --rows/--seeds jobs)")
    parser.add_argument("--carry-over", default=None, metavar="RESULT_JSON",
                        help=f"the Parzen tables and {', '.join(CARRY_TABLES)}: rows (or seeds) the run store lacks are taken "
                             "from this earlier result file of the table, if they trained the same config, budget and seed")
    parser.add_argument("--status", action="store_true",
                        help="train and write nothing: print where each of the table's runs in the run store stands")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="train the rows (or seeds) as up to N parallel processes sharing the CPU threads, "
                             "then write the table; SIGTERM and Ctrl-C reach every job")
    args = parser.parse_args(argv)
    store = Path(args.runs).expanduser() if args.runs else run_store()
    folder = store / args.table / ("quick" if args.quick else "full")
    if args.status:
        from zoo.reproduce.status import print_status

        return print_status(folder)
    check_selection(args)
    check_jobs(args)
    carry = None
    if args.carry_over:
        if args.table not in (*TABLES, *CARRY_TABLES):
            raise ZooConfigError(f"--carry-over works for the Parzen tables and {', '.join(CARRY_TABLES)}, not {args.table}")
        carry = CarriedRows.read(args.carry_over, args.table)
    deadline = time.time() + parse_duration(args.max_time) if args.max_time else None
    out = Path(args.out or ("runs/reproduce/quick" if args.quick else "results"))
    crashed = []
    if args.jobs is not None:
        crashed = failed(run_jobs(args, store, deadline))
        flag, parts = table_parts(args)
        args.no_train = True  # the jobs trained; what follows writes the table from the run store
        if flag == "--rows":
            args.rows = parts
        else:
            args.seeds = [int(part) for part in parts]
    with contextlib.ExitStack() as locks:
        for part in trained_parts(args):
            locks.enter_context(table_lock(folder, args.table, part))
        paths, record = run_table(args, store, out, deadline, carry)
    for path in paths.values():
        print(f"wrote {path}")
    for job in crashed:
        print(f"zoo reproduce: the job for {job.flag} {job.part} failed with exit code {job.exit_code}; see {job.log}",
              file=sys.stderr)
    if crashed:
        return 1
    if record is not None and record.get("complete") is False:
        why = ("some rows have not reached their budget in the run store: train them with --resume, then write the table again"
               if args.no_train and args.jobs is None else "time limit; run the same command with --resume to continue")
        print(f"zoo reproduce: {args.table} is not finished ({why})", file=sys.stderr)
        return 3
    return 0


def run_table(args: argparse.Namespace, store: Path, out: Path, deadline: float | None,
              carry: CarriedRows | None = None) -> tuple[dict[str, Path], dict[str, Any] | None]:
    """Reproduce ``args.table``: its written files, and its record when it can be unfinished."""
    record: dict[str, Any] | None = None
    if args.table == "fgan-table3":
        from zoo.reproduce.fgan_table3 import run_table3, write_outputs

        paths = write_outputs(run_table3(quick=args.quick, seed=args.seed), out)
    elif args.table == "kde-real":
        from zoo.eval.protocols import write_real_data_results

        path = out / "kde_real_mnist.json"
        write_real_data_results(str(path), None, QUICK_REAL_CENTRES if args.quick else None)
        paths = {"json": path}
    elif args.table in ("unrolled-mixtures", "unrolled-stacked-mnist"):
        from zoo.reproduce import unrolled, unrolled_stacked

        options = {"require_clean": not (args.quick or args.allow_dirty), "deadline": deadline,
                   "rows": step_table_rows(args.table, args.rows) if args.rows else None, "train": not args.no_train,
                   "seeds": tuple(args.seeds) if args.seeds else None}
        module = unrolled if args.table == "unrolled-mixtures" else unrolled_stacked
        paths = module.run(args.quick, store, args.resume, args.retrain, out, carry=carry, **options)
        record = json.loads(paths["json"].read_text())
    elif args.table == "unrolled-reconstruction":
        from zoo.reproduce import unrolled_reconstruction

        paths = unrolled_reconstruction.run(args.quick, store, out, args.d_size, args.seed,
                                            require_clean=not (args.quick or args.allow_dirty), deadline=deadline,
                                            retrain=args.retrain)
        record = {"complete": bool(paths)}  # empty when --max-time came first: the finished inversions are kept
    elif args.table == "lapgan-mnist":
        from zoo.reproduce import lapgan

        paths = lapgan.run(args.quick, store, out, args.seed, args.resume,
                           args.retrain, deadline, require_clean=not (args.quick or args.allow_dirty))
        record = json.loads(paths["json"].read_text())
    elif args.table in SELECTABLE_SEEDS:
        from zoo.reproduce import improved

        record = improved.reproduce(store, args.quick, args.resume, args.retrain, deadline,
                                    require_clean=not (args.quick or args.allow_dirty), seeds=args.seeds, train=not args.no_train,
                                    table=args.table)
        paths = improved.write_outputs(record, out)
    elif args.table == "improved-ablation":
        from zoo.reproduce import improved_ablation

        record = improved_ablation.reproduce(store, args.quick, args.resume, args.retrain, deadline, args.seed,
                                             require_clean=not (args.quick or args.allow_dirty))
        paths = improved_ablation.write_outputs(record, out)
    else:
        table = TABLES[args.table]
        record = reproduce_parzen_table(table, args.quick, store, args.seed, args.retrain, args.resume, deadline,
                                        require_clean=not (args.quick or args.allow_dirty),
                                        rows=select_rows(table, args.rows) if args.rows else None, train=not args.no_train,
                                        carry=carry)
        paths = write_report(record, out)
        print(markdown(record))
    return paths, record
