"""``zoo reproduce <table>``: train each row (or continue it, or reuse it when done), score it with
the harness, and write ``<table>.json``, a markdown table and a chart with the learning curves.
Rows train in the run store (``$ZOO_RUNS``, see :mod:`zoo.reproduce.runs`), outside the work tree.
This module reads the command line, holds the locks and hands each table to its own module
(the Parzen tables to :mod:`zoo.reproduce.parzen`).

    zoo reproduce gan2014-table1 --resume --max-time 02:00:00   # continue until the time is up
    zoo reproduce fgan-table4 --quick        # tiny budgets: checks the pipeline, not the numbers
    zoo reproduce fgan-table4 --rows kullback-leibler --resume   # one row, e.g. one GPU job of several
    zoo reproduce fgan-table4 --no-train     # the table from the run store as it stands, training nothing
    zoo reproduce unrolled-mixtures --jobs 2 --resume   # rows as 2 parallel processes, then the table
    zoo reproduce fgan-table3                # f-GAN's 1-D experiment
    zoo reproduce kde-real                   # the real-data KDE rows of every Parzen protocol
    zoo reproduce improved-gan-mnist         # Improved GAN's semi-supervised MNIST (zoo/reproduce/improved.py)
    zoo reproduce improved-gan-mnist-softplus  # the same with G's output a softplus (a stated deviation)
    zoo reproduce improved-gan-mnist-first-schedule  # the same, with the training schedule of the code's first commit
    zoo reproduce improved-ablation          # Improved GAN's techniques removed in turn (zoo/reproduce/improved_ablation.py)
    zoo reproduce unrolled-mixtures          # Unrolled GAN's 2-D mixtures (zoo/reproduce/unrolled.py)
    zoo reproduce unrolled-stacked-mnist     # Unrolled GAN's Stacked MNIST (zoo/reproduce/unrolled_stacked.py)
    zoo reproduce unrolled-stacked-mnist-28  # the same rows with the 28×28 nets of PacGAN's re-run of Table 2
    zoo reproduce unrolled-reconstruction    # its K = 0/1/5/10 models reconstructing training images (zoo/reproduce/unrolled_reconstruction.py)
    zoo reproduce lapgan-mnist               # LAPGAN vs GAN on MNIST, matched budget (zoo/reproduce/lapgan.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import ZooConfigError
from zoo.reproduce.carry import CarriedRows
from zoo.reproduce.lock import table_lock
from zoo.reproduce.parallel import check_jobs, failed, run_jobs, table_parts
from zoo.reproduce.parzen import epoch_budgets, reproduce_parzen_table
from zoo.reproduce.report import markdown, write_report
from zoo.reproduce.runs import run_store
from zoo.reproduce.selection import check_selection, select_rows, step_table_rows, trained_parts
from zoo.reproduce.tables import KINDS, QUICK_REAL_CENTRES, TABLES, check_option, tables_taking


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


def status_budgets(table: str, quick: bool) -> Callable[[str], int | None] | None:
    """The epoch budget of a row's runs by run name, which ``--status`` measures a table's epoch
    runs against (None: its runs count steps)."""
    from zoo.reproduce import improved

    if table in TABLES:
        return epoch_budgets(TABLES[table], quick).get
    if table in improved.TABLES:
        return improved.epoch_budgets(table, quick)
    return None


def _status_of_every_table(store: Path, quick: bool) -> int:
    """``--status`` of each table that has runs in ``store``; the exit code (0)."""
    from zoo.reproduce.status import print_status

    budget = "quick" if quick else "full"
    folders = {table: store / table / budget for table in sorted(KINDS)}
    started = [table for table, folder in folders.items() if folder.is_dir()]
    if not started:
        print(f"{store}: no {budget} runs of any table yet")
    for table in started:
        print_status(folders[table], status_budgets(table, quick))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zoo reproduce", description="Reproduce a paper's table with the zoo.")
    parser.add_argument("table", nargs="?", choices=sorted(KINDS), help="the table; omitted with --status: every table")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the pipeline, not the numbers")
    parser.add_argument("--out", default=None, help="folder for the result files (default: results/, or runs/reproduce/quick/ with --quick)")
    parser.add_argument("--runs", default=None, help="run store for the rows' training runs (default: $ZOO_RUNS, else ~/.cache/zoo/runs)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed of the tables that run one seed (improved-gan-mnist, unrolled-mixtures and "
                             "unrolled-stacked-mnist take --seeds)")
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
                        help=f"{', '.join(tables_taking('--rows'))}: train and report only these rows (names or slugs, "
                             "e.g. kullback-leibler, ring-k10, quarter-k5), e.g. one row per job")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                        help=f"{', '.join(tables_taking('--seeds'))}: train and report these seeds instead of the "
                             "plan's, e.g. one seed per job")
    parser.add_argument("--data-seed", type=int, default=None, metavar="SEED",
                        help=f"{', '.join(tables_taking('--data-seed'))}: every seed trains on this seed's labelled subset and batch order, "
                             "to tell a subset's result from a run's (its own runs and result files, <table>-data<SEED>)")
    parser.add_argument("--up-to-epoch", type=int, default=None, metavar="EPOCHS",
                        help=f"{', '.join(tables_taking('--up-to-epoch'))}: train every seed only as far as this "
                             "milestone of the plan (50, 100, …), e.g. each seed to 100 before any goes on")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: write the table from the run store as it stands (after parallel --rows/--seeds jobs)")
    parser.add_argument("--carry-over", nargs="+", default=None, metavar="RESULT_JSON",
                        help=f"{', '.join(tables_taking('--carry-over'))}: rows (or seeds) the run store lacks, or holds less trained, are taken "
                             "from these earlier result files of the table, if they trained the same config, budget and seed "
                             "(where several hold one, the most trained)")
    parser.add_argument("--status", action="store_true",
                        help="train and write nothing: print where each of the table's runs in the run store stands")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="train the rows (or seeds) as up to N parallel processes sharing the CPU threads, "
                             "then write the table; SIGTERM and Ctrl-C reach every job")
    args = parser.parse_args(argv)
    store = Path(args.runs).expanduser() if args.runs else run_store()
    if args.table is None:
        if not args.status:
            parser.error("name a table, or give --status alone to see where every table's runs stand")
        return _status_of_every_table(store, args.quick)
    folder = store / args.table / ("quick" if args.quick else "full")
    if args.status:
        from zoo.reproduce.status import print_status

        return print_status(folder, status_budgets(args.table, args.quick))
    check_selection(args)
    check_jobs(args)
    carry = None
    if args.carry_over:
        check_option(args.table, "--carry-over")
        carry = CarriedRows.read(args.carry_over, args.table, args.quick)
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
    elif KINDS[args.table] == "steps":
        from zoo.reproduce import unrolled, unrolled_stacked

        options = {"require_clean": not (args.quick or args.allow_dirty), "deadline": deadline,
                   "rows": step_table_rows(args.table, args.rows) if args.rows else None, "train": not args.no_train,
                   "seeds": tuple(args.seeds) if args.seeds else None}
        if args.table == "unrolled-mixtures":
            paths = unrolled.run(args.quick, store, args.resume, args.retrain, out, carry=carry, **options)
        else:
            paths = unrolled_stacked.run(args.quick, store, args.resume, args.retrain, out, carry=carry, table=args.table, **options)
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
    elif KINDS[args.table] == "seeds":
        from zoo.reproduce import improved

        record = improved.reproduce(store, args.quick, args.resume, args.retrain, deadline,
                                    require_clean=not (args.quick or args.allow_dirty), seeds=args.seeds, train=not args.no_train,
                                    table=args.table, carry=carry, data_seed=args.data_seed, up_to_epoch=args.up_to_epoch)
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
