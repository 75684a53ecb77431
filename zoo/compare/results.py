"""Reproduction result files (``results/<table>.json`` from ``zoo reproduce``) as comparison rows.

A Parzen table (GAN-2014, f-GAN) has ``rows``, each with the paper's value, ours (``mean``,
``stderr``, ``generator_steps``) and a verdict; a row may carry a learning ``curve``: a list of
``{generator_steps, epoch, mean, stderr}``. The other tables are read into the same shape by
:mod:`zoo.compare.tables`, each row naming its ``metric``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.compare.tables import PARZEN, adapter_for
from zoo.errors import ZooConfigError
from zoo.reproduce.report import curve_trend, describe_trend


def is_table(record: Any) -> bool:
    """Rows of paper and ours values; a partial table's unstarted rows have ``ours: null``."""
    rows = record.get("rows") if isinstance(record, dict) else None
    scored = [row.get("ours") for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
    return (bool(rows) and len(scored) == len(rows) and all(ours is None or (isinstance(ours, dict) and "mean" in ours) for ours in scored)
            and any(ours is not None for ours in scored))


def row_name(row: dict[str, Any]) -> str:
    return str(row.get("name", "?"))


def read_tables(paths: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The reproduced tables among ``paths``, and the paths skipped because they hold something else."""
    tables, skipped = [], []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise ZooConfigError(f"result file not found: {path}")
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ZooConfigError(f"{path} is not JSON: {error}") from None
        name = record.get("table", path.stem) if isinstance(record, dict) else path.stem
        read = adapter_for(str(name))
        if read is not None and record.get("rows"):
            tables.append({**record, "table": name, "rows": read(record)})
        elif is_table(record):
            tables.append({**record, "table": name, "rows": [{"metric": PARZEN, **row} for row in record["rows"]]})
        else:
            skipped.append(str(path))
    if not tables:
        raise ZooConfigError(
            f"none of {', '.join(paths)} is a reproduced table (a JSON file with rows of ours and the paper's values, from `zoo reproduce`)"
        )
    return tables, skipped


def _value(value: dict[str, Any] | None) -> str:
    if not value or value.get("mean") is None:
        return "—"
    spread = value.get("stderr", value.get("std"))  # the row's metric says which
    digits = 3 if abs(value["mean"]) < 1 else 1  # fractions keep their figures
    return f"{value['mean']:.{digits}f}" + (f" ± {spread:.{digits}f}" if spread is not None else "")


def table_rows(tables: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: table, row, metric (and what its ± is), paper, ours, verdict, where its
    learning curve is heading (the file's ``trend``, or read from its ``curve`` for files written
    before trends), generator steps."""
    columns = ["table", "row", "metric", "paper", "ours", "verdict", "curve", "G steps"]
    rows = []
    for table in tables:
        for row in table["rows"]:
            steps = (row["ours"] or {}).get("generator_steps")
            trend = row.get("trend") or (curve_trend(row["curve"]) if row.get("curve") else None)
            rows.append([table["table"], row_name(row), str(row.get("metric", PARZEN)), _value(row.get("paper")),
                         _value(row["ours"]), str(row.get("verdict", "")), "—" if trend is None else describe_trend(trend),
                         "—" if steps is None else str(steps)])
    return columns, rows


CURVE_AXES = {"generator_steps": "generator steps", "epoch": "epochs (passes over the training set)"}


def select_rows(tables: list[dict[str, Any]], names: list[str] | None) -> list[dict[str, Any]]:
    """The tables with only the rows named in ``names`` (case-insensitive; ``None``: every row),
    dropping tables left empty; a name that matches no row is an error listing the rows there are."""
    if not names:
        return tables
    wanted = {name.casefold() for name in names}
    present = {row_name(row).casefold(): row_name(row) for table in tables for row in table["rows"]}
    missing = sorted(wanted - set(present))
    if missing:
        raise ZooConfigError(f"no row named {', '.join(missing)} in these tables: the rows are {', '.join(sorted(set(present.values())))}")
    selected = [{**table, "rows": [row for row in table["rows"] if row_name(row).casefold() in wanted]} for table in tables]
    return [table for table in selected if table["rows"]]


def curves_by_metric(tables: list[dict[str, Any]], x: str = "generator_steps") -> dict[str, dict[str, list[tuple[float, float, float]]]]:
    """``{metric: {"table: row": [(x, mean, stderr), …]}}`` for the rows that carry a curve, with x
    the points' ``x`` (a key of :data:`CURVE_AXES`; points without it are left out), grouped by the
    rows' metric: the curves of one metric share a plot."""
    found: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for table in tables:
        for row in table["rows"]:
            points = [p for p in row.get("curve") or [] if p.get(x) is not None]
            if points:
                found.setdefault(str(row.get("metric", PARZEN)), {})[f"{table['table']}: {row_name(row)}"] = sorted(
                    (float(p[x]), float(p["mean"]), float(p.get("stderr") or 0.0)) for p in points
                )
    return found
