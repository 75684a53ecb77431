"""``zoo reproduce TABLE --carry-over results/TABLE.json [MORE.json …]``: rows a run store does not
hold, or holds less trained, taken from earlier result files of the table.

A run store lives on one machine; a result file lives in the repository. When the machine is
lost, its finished rows survive only in the result file, and a table assembled from a fresh store
would list them as "not started". With ``--carry-over``, a row (a Parzen table's row, or one seed
of a step table's or the semi-supervised table's row) that the store lacks is taken from the
earlier result file, as it was scored there, if it is the same experiment: the same config file,
unchanged since the commit that file was written at, the same budget and seed. A Parzen row
trained under a shorter budget that differs only in ``max_epochs`` is the same experiment stopped
earlier (nothing in the zoo's training reads ``max_epochs``; it only says where to stop), so it is
lent to a raised budget as a partial row. The store's row
stands unless the file's row trained further (a Parzen row or a semi-supervised seed, more epochs;
a step table's seed, finished where the store's is not): a store
that began a lost row again keeps the table's longer row until it passes it. Every carried
row names its source (``carried_over_from``: the file and its commit; a row carried again keeps the
source it was scored in, and names the file it came ``through`` when that has another name), and the
tables say so.

Several files can lend rows, for example the tables that parallel jobs on another machine wrote,
each holding its own rows (``benchmarks/gpu_suite.sh`` assembles its tables so). Where more than
one holds the same experiment, the most trained record (by the measure the store's run is held to:
epochs, or a step table's generator steps) is lent; on a tie,
the file named first.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from zoo.errors import ZooConfigError
from zoo.provenance import OUTSIDE, REPO, check_result, relative_to_repo
from zoo.reproduce.step_runs import seeds_by_row


def _config_unchanged(config: str, since: str) -> bool:
    """Whether ``config`` (repository-relative) is the same at ``since`` and in the work tree. A copy
    without ``.git`` (a device machine, its commit given as ``$ZOO_COMMIT``) can only vouch for its own commit."""
    if not _in_git_checkout():
        if os.environ.get("ZOO_COMMIT"):
            return since == os.environ["ZOO_COMMIT"]
        raise ZooConfigError(f"--carry-over: the code is not a git checkout, so {config} cannot be compared with commit "
                             f"{since[:7]}; run from a clone (or, in a copy of that commit, set ZOO_COMMIT to it)")
    result = subprocess.run(["git", "diff", "--quiet", since, "--", config], cwd=REPO, capture_output=True)
    if result.returncode > 1:
        raise ZooConfigError(f"--carry-over: git cannot compare {config} with commit {since[:7]} "
                             f"({result.stderr.decode().strip() or 'unknown commit'}); fetch that commit first")
    return result.returncode == 0


def _in_git_checkout() -> bool:
    return subprocess.run(["git", "rev-parse", "--git-dir"], cwd=REPO, capture_output=True).returncode == 0


def _stops_earlier_or_same(earlier: dict[str, Any] | None, budget: dict[str, Any]) -> bool:
    """Whether a run under ``earlier`` is ``budget``'s run stopped at or before its end: the same
    budget but for fewer or equal ``max_epochs``."""
    if earlier is None:
        return False
    rest = {k: v for k, v in earlier.items() if k != "max_epochs"}
    return rest == {k: v for k, v in budget.items() if k != "max_epochs"} and earlier["max_epochs"] <= budget["max_epochs"]


def _under_budget(row: dict[str, Any], budget: dict[str, Any]) -> dict[str, Any]:
    """``row`` as a row of ``budget``; under a raised budget, a partial row that names the budget it
    was trained under as ``trained_under_budget``."""
    if row["budget"] == budget:
        return row
    return {**row, "budget": budget, "trained_under_budget": row.get("trained_under_budget", row["budget"]), "status": "partial"}


@dataclass
class ResultFile:
    """An earlier result file of one table, and the rows it can lend."""

    record: dict[str, Any]
    origin: dict[str, str]

    @classmethod
    def read(cls, path: str | Path, table: str, quick: bool = False) -> ResultFile:
        """The result file at ``path``, checked: the same table, as full (or as ``quick``) as the one
        it lends to, written from a clean commit."""
        path = Path(path)
        if not path.is_file():
            raise ZooConfigError(f"--carry-over: {path} not found; pass the table's committed result file, e.g. results/{table}.json")
        record = json.loads(path.read_text())
        if record.get("table") != table:
            raise ZooConfigError(f"--carry-over: {path} holds table {record.get('table')!r}, not {table!r}")
        if bool(record.get("quick")) != quick:
            raise ZooConfigError(f"--carry-over: {path} is a {'--quick' if record.get('quick') else 'full'} table; "
                                 f"carry rows only into a {'--quick' if record.get('quick') else 'full'} reproduction")
        try:
            if not quick:  # a --quick table is a smoke run, never a result to trust
                check_result(record)  # a clean commit, no machine paths
        except ZooConfigError as error:
            raise ZooConfigError(f"--carry-over: {path}: {error}") from None
        return cls(record, {"file": _file_label(path), "commit": record["commit"]})

    def _same_config(self, config: str) -> bool:
        return _config_unchanged(config, self.record["commit"])

    def _lend(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` marked with the file it comes from; one already carried keeps the file it was scored
        in, and names this file as the one it came ``through`` when that file has another name. Its
        checkpoint path becomes ``checkpoint_when_scored``: the store may since hold another run there."""
        if "checkpoint" in record:
            record = {**{k: v for k, v in record.items() if k != "checkpoint"}, "checkpoint_when_scored": record["checkpoint"]}
        source = record.get("carried_over_from")
        if source is None:
            return {**record, "carried_over_from": self.origin}
        if source["file"] != self.origin["file"]:
            source = {**source, "through": self.origin["file"]}
        return {**record, "carried_over_from": source}

    def parzen_row(self, name: str, config: str, budget: dict[str, Any], seed: int,
                   options: list[str] | None = None) -> dict[str, Any] | None:
        """The earlier row ``name`` if it trained ``config`` with ``options`` under ``budget`` (or under a
        shorter one: then a partial row of ``budget``) and ``seed`` and was scored (files written before
        rows recorded their options are taken at their word)."""
        # Rows began to record their seed when a row could first train at another (commit d34f29e):
        # in an older file every row trained at the table's seed.
        table_seed = self.record.get("seeds", {}).get("training")
        for row in self.record.get("rows", []):
            if (row.get("name"), row.get("config"), row.get("seed", table_seed)) != (name, config, seed) \
                    or not _stops_earlier_or_same(row.get("budget"), budget):
                continue
            same_options = options is None or row.get("options", options) == options
            if row.get("ours") and same_options and self._same_config(config):
                return self._lend(_under_budget(row, budget))
        return None

    def step_seed(self, config: str, seed: int, budget: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier scored record of ``seed`` of the row that trained ``config``, if the budget
        (all but its seed list; the row's own where it names one, else the table's) is the same."""
        for row in self.record.get("rows", []):
            if row.get("config") != config:
                continue
            earlier = {k: v for k, v in row.get("budget", self.record.get("budget", {})).items() if k != "seeds"}
            if earlier != {k: v for k, v in budget.items() if k != "seeds"}:
                return None
            for record in row.get("seeds", []):
                if record.get("seed") == seed and self._same_config(config):
                    return self._lend(record)
        return None

    def labelled_seed(self, config: str, labels: int, seed: int, budget: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier record of ``seed`` in the row of ``labels`` labels of a semi-supervised table,
        if the file trained ``config`` under the same ``budget`` (epochs, batches and milestones)."""
        if (self.record.get("config"), self.record.get("budget")) != (config, budget):
            return None
        for row in self.record.get("rows", []):
            for record in row.get("per_seed", []) if row.get("labels") == labels else ():
                if record.get("seed") == seed and self._same_config(config):
                    return self._lend(record)
        return None


def _file_label(path: Path) -> str:
    """How a carried row names its file: relative to the repository where it can be; outside it, by its
    folder and name, since parallel jobs write tables of one name into folders named after the job."""
    label = relative_to_repo(path)
    return f"{OUTSIDE}/{path.resolve().parent.name}/{path.name}" if label.startswith(OUTSIDE) else label


class CarriedRows:
    """The result files that lend rows to one table; each row or seed from the file where it trained most."""

    def __init__(self, *files: ResultFile) -> None:
        self.files = files

    @classmethod
    def read(cls, paths: list[str | Path], table: str, quick: bool = False) -> CarriedRows:
        """Each of ``paths`` read and checked as :meth:`ResultFile.read` does."""
        return cls(*(ResultFile.read(path, table, quick) for path in paths))

    def parzen_row(self, name: str, config: str, budget: dict[str, Any], seed: int,
                   options: list[str] | None = None) -> dict[str, Any] | None:
        """The most trained (most epochs, the measure the store's run is held to) of the files' rows
        that :meth:`ResultFile.parzen_row` would lend."""
        return _most_trained((file.parzen_row(name, config, budget, seed, options) for file in self.files),
                             measure=lambda row: row["ours"]["epochs"])

    def step_seed(self, config: str, seed: int, budget: dict[str, Any]) -> dict[str, Any] | None:
        """The most trained (most generator steps) of the files' seed records that :meth:`ResultFile.step_seed` would lend."""
        return _most_trained((file.step_seed(config, seed, budget) for file in self.files),
                             measure=lambda record: record.get("generator_steps") or 0)

    def labelled_seed(self, config: str, labels: int, seed: int, budget: dict[str, Any]) -> dict[str, Any] | None:
        """The most trained (most epochs) of the files' seed records that :meth:`ResultFile.labelled_seed` would lend."""
        return _most_trained((file.labelled_seed(config, labels, seed, budget) for file in self.files),
                             measure=lambda record: record["epochs"])


def _most_trained(records: Iterable[dict[str, Any] | None], measure: Callable[[dict[str, Any]], int]) -> dict[str, Any] | None:
    """The record with the most training by ``measure``; the first on a tie."""
    best = None
    for record in records:
        if record is not None and (best is None or measure(record) > measure(best)):
            best = record
    return best


def carried_note(origin: dict[str, str], what: list[str]) -> str:
    """The line a table prints for what it carried over."""
    through = f", through {origin['through']}" if origin.get("through") else ""
    return (f"carried over from {origin['file']} (written at commit {origin['commit'][:7]}{through}), "
            f"more trained than in this run store: {', '.join(what)}")


def _by_origin(items: list[tuple[dict[str, str], Any]]) -> dict[tuple[str, str, str], list[Any]]:
    """Items grouped by the (file, commit, file carried through) they were carried over from, in order."""
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for origin, item in items:
        grouped.setdefault((origin["file"], origin["commit"], origin.get("through", "")), []).append(item)
    return grouped


def _origin(key: tuple[str, str, str]) -> dict[str, str]:
    file, commit, through = key
    return {"file": file, "commit": commit, **({"through": through} if through else {})}


def carried_row_notes(rows: list[dict[str, Any]]) -> list[str]:
    """A Parzen table's lines for its carried rows, one per source file and commit."""
    names = _by_origin([(row["carried_over_from"], _carried_name(row)) for row in rows if "carried_over_from" in row])
    return [carried_note(_origin(key), group) for key, group in names.items()]


def _carried_name(row: dict[str, Any]) -> str:
    earlier = row.get("trained_under_budget")
    return row["name"] if earlier is None else f"{row['name']} (trained under an earlier budget of {earlier['max_epochs']} epochs)"


def carried_seed_notes(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str], seeds: str = "seeds") -> list[str]:
    """A table's lines for the seeds it carried (each row lists its seed records under ``seeds``), one
    per source file and commit."""
    pairs = _by_origin([(seed["carried_over_from"], (row, seed)) for row in rows for seed in row[seeds]
                        if "carried_over_from" in seed])
    return [carried_note(_origin(key), seeds_by_row(group, label)) for key, group in pairs.items()]
