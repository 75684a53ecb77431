"""Which rows (or seeds) one ``zoo reproduce`` invocation trains: ``--rows``, ``--seeds`` and
``--no-train``, checked in one line before anything runs, and the names of the per-row locks it holds
so that parallel jobs on one run store conflict only when they train the same row."""

from __future__ import annotations

import argparse
import re

from zoo.errors import ZooConfigError
from zoo.reproduce.tables import KINDS, TABLES, ParzenTable, Row, check_option


def slug(text: str) -> str:
    """A row's name as a command-line and folder name: ``Pearson chi^2`` → ``pearson-chi-2``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def select_rows(table: ParzenTable, wanted: list[str] | None) -> tuple[Row, ...]:
    """The rows of ``table`` named in ``wanted`` (by name or slug, e.g. ``kullback-leibler``), or all of them."""
    if not wanted:
        return table.rows
    by_slug = {slug(row.name): row for row in table.rows}
    unknown = [name for name in wanted if slug(name) not in by_slug]
    if unknown:
        raise ZooConfigError(f"{table.name} has no row {', '.join(map(repr, unknown))}: choose from {', '.join(by_slug)}")
    return tuple(by_slug[slug(name)] for name in dict.fromkeys(wanted))


def step_table_rows(table: str, wanted: list[str] | None) -> tuple[str, ...]:
    """The rows of an unrolled table named in ``wanted`` (e.g. ``ring-k10``, ``quarter-k5``), or all of them."""
    from zoo.reproduce import unrolled, unrolled_stacked

    names = unrolled.ROW_NAMES if table == "unrolled-mixtures" else unrolled_stacked.STACKED_TABLES[table].row_names
    unknown = [name for name in wanted or () if slug(name) not in names]
    if unknown:
        raise ZooConfigError(f"{table} has no row {', '.join(map(repr, unknown))}: choose from {', '.join(names)}")
    return tuple(dict.fromkeys(slug(name) for name in wanted)) if wanted else names


def step_table_seeds(table: str, quick: bool, wanted: list[int] | None) -> tuple[int, ...]:
    """The seeds each row of an unrolled table trains: ``wanted``, else its budget's."""
    from zoo.reproduce import unrolled, unrolled_stacked

    if wanted:
        return tuple(dict.fromkeys(wanted))
    if table == "unrolled-mixtures":  # a budget per mixture
        return unrolled.all_seeds([unrolled.QUICK] if quick else unrolled.FULL.values())
    return (unrolled_stacked.QUICK if quick else unrolled_stacked.STACKED_TABLES[table].full).seeds


def table_parts(table: str, rows: list[str] | None = None, seeds: list[int] | None = None,
                quick: bool = False) -> tuple[str, list[str]] | None:
    """The flag and the parts that train apart (the selected rows, or the seeds of the plan or of
    ``seeds``), e.g. ``("--rows", ["ring-k0", …])``; ``None`` for a table that trains as one."""
    if KINDS[table] == "parzen":
        return "--rows", [slug(row.name) for row in select_rows(TABLES[table], rows)]
    if KINDS[table] == "steps":
        return "--rows", list(step_table_rows(table, rows))
    if KINDS[table] == "seeds":
        from zoo.reproduce import improved

        return "--seeds", [str(seed) for seed in improved.plan_for(quick, seeds, table).seeds]
    return None


def check_selection(args: argparse.Namespace) -> None:
    """Refuse, in one line, an option the table does not take (``--rows``, ``--seeds``, ``--data-seed``,
    ``--up-to-epoch``, ``--no-train``) and a row it does not have."""
    given = {"--rows": args.rows, "--seeds": args.seeds, "--data-seed": args.data_seed is not None,
             "--up-to-epoch": getattr(args, "up_to_epoch", None) is not None, "--no-train": args.no_train}
    for option in (option for option, value in given.items() if value):
        check_option(args.table, option)
    if args.rows and KINDS[args.table] == "parzen":
        select_rows(TABLES[args.table], args.rows)
    elif args.rows:
        step_table_rows(args.table, args.rows)


def trained_parts(args: argparse.Namespace) -> list[str]:
    """The lock names of what this invocation trains: one per row (or seed) where jobs may train a
    table's rows in parallel, else the whole table; none when it trains nothing."""
    if args.no_train or KINDS[args.table] == "read-only":
        return []
    if KINDS[args.table] == "steps":  # one lock per run, so that jobs may split a row's seeds
        return [f"{row}-seed{seed}" for row in step_table_rows(args.table, args.rows)
                for seed in step_table_seeds(args.table, args.quick, args.seeds)]
    parts = table_parts(args.table, args.rows, args.seeds, args.quick)
    if parts is None:
        return [""]
    flag, names = parts
    if flag == "--seeds":
        on_subset = "" if args.data_seed is None else f"-data{args.data_seed}"
        return [f"seed{name}{on_subset}" for name in names]
    return names


def device_jobs(table: str, rows: list[str] | None = None, quick: bool = False) -> list[list[str]]:
    """The ``zoo reproduce`` arguments of each process that trains a part of ``table`` on a machine
    with cores to spare (``benchmarks/gpu_suite.sh``): every row, or seed, apart, and every seed of
    an unrolled table's rows apart, since a row trains its seeds one after another. ``quick`` keeps
    the first two."""
    if KINDS[table] == "steps":  # the full plan's parts, also with quick: a smoke run splits seeds as a real one does
        seeds = step_table_seeds(table, False, None)
        jobs = [["--rows", row, "--seeds", str(seed)] for row in step_table_rows(table, rows) for seed in seeds]
    else:
        parts = table_parts(table, rows, None, False)
        if parts is None:
            raise ZooConfigError(f"{table} trains as one job: it cannot be split across processes")
        jobs = [[parts[0], part] for part in parts[1]]
    return jobs[:2] if quick else jobs


def device_assembly(table: str, rows: list[str] | None = None, quick: bool = False) -> list[str]:
    """The ``--rows``/``--seeds`` arguments that write ``table`` from what :func:`device_jobs` trained."""
    picked: dict[str, dict[str, None]] = {}
    for args in device_jobs(table, rows, quick):
        for flag, value in zip(args[::2], args[1::2]):
            picked.setdefault(flag, {})[value] = None
    return [word for flag, values in picked.items() for word in (flag, *values)]
