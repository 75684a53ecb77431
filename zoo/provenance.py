"""Where a number came from: commit, device, versions, seeds and wall time, for result files.

A result file names the commit it was produced from and nothing of the machine it ran on: no ``+dirty``
commit (full reproductions start with ``RunStart(require_clean=True)``), no hand-written commit note,
and no absolute path (:func:`relative_to_repo`, :func:`scrub_paths`). :func:`check_result` enforces it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooConfigError

REPO = Path(__file__).resolve().parents[1]
RUNS_ENV = "ZOO_RUNS"
OUTSIDE = "<outside the repository>"
# An absolute POSIX path inside a string: a "/" that does not continue a word, URL, "~", "$VAR" or marker.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~$:/\\>])/[\w.\-+@=%]+(?:/[\w.\-+@=%]*)*")


def _git(args: list[str], repo: Path) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def head_commit(repo: Path = REPO) -> str:
    """The checked-out commit's hash; in a copy without ``.git`` (a device machine), ``$ZOO_COMMIT``."""
    try:
        return _git(["rev-parse", "HEAD"], repo).strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("ZOO_COMMIT") or "unknown (not a git checkout)"


def tracked_changes(repo: Path = REPO) -> list[str]:
    """Tracked files (relative to the repository) that differ from the checked-out commit."""
    try:
        status = _git(["status", "--porcelain", "--untracked-files=no"], repo)
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line[3:] for line in status.splitlines() if line.strip()]


def git_commit() -> str:
    """The checked-out commit, with ``+dirty`` when tracked files differ from it (for logs, not result files)."""
    commit = head_commit()
    return commit + ("+dirty" if tracked_changes() and not commit.startswith("unknown") else "")


def _path_roots(repo: Path) -> list[tuple[Path, str]]:
    """``(folder, how a result file names it)``; the repository is named by nothing (relative paths)."""
    runs = os.environ.get(RUNS_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zoo" / "runs"
    roots = [(Path(repo), ""), (Path(runs), f"${RUNS_ENV}")]
    roots += [(Path(os.environ[name]), f"${name}") for name in ("ZOO_DATA", "ZOO_CACHE") if os.environ.get(name)]
    return roots + [(Path.home(), "~")]


def relative_to_repo(path: str | os.PathLike, repo: Path = REPO) -> str:
    """``path`` as a result file writes it: relative to the repository, else ``$ZOO_RUNS/…`` (or ``$ZOO_DATA/…``,
    ``$ZOO_CACHE/…``, ``~/…``) by the innermost root holding it, else ``<outside the repository>/<name>``."""
    absolute = Path(path).expanduser().resolve()
    best: tuple[int, str] | None = None
    for root, label in _path_roots(repo):
        root = root.expanduser().resolve()
        if absolute == root or root in absolute.parents:
            rest = absolute.relative_to(root).as_posix()
            named = rest if not label else (label if rest == "." else f"{label}/{rest}")
            if best is None or len(root.parts) > best[0]:
                best = (len(root.parts), named)
    return best[1] if best else f"{OUTSIDE}/{absolute.name}"


def scrub_paths(value: Any, repo: Path = REPO) -> Any:
    """``value`` (a result record) with every absolute path inside its strings replaced by :func:`relative_to_repo`."""
    if isinstance(value, dict):
        return {key: scrub_paths(item, repo) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_paths(item, repo) for item in value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(lambda match: relative_to_repo(match.group(0), repo), value)
    return value


def absolute_paths(value: Any) -> list[str]:
    """The absolute paths found in the strings of ``value``."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in absolute_paths(key) + absolute_paths(item)]
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in absolute_paths(item)]
    return _ABSOLUTE_PATH.findall(str(value)) if isinstance(value, (str, Path)) else []


def write_result(record: dict, out: str | Path) -> Path:
    """Write a benchmark's ``record`` to ``out`` as JSON (folders made), after :func:`check_result`;
    the list of uncommitted changes that ``--allow-dirty`` records is honest and passes."""
    check_result({k: v for k, v in record.items() if k != "uncommitted_changes"})
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def check_result(record: dict) -> None:
    """Raise :class:`ZooConfigError` (one line) if ``record`` names a dirty commit, a commit note or a machine path."""
    commit = str(record.get("commit", ""))
    if "dirty" in commit or record.get("uncommitted_changes") or record.get("uncommitted_sources"):
        raise ZooConfigError(f"result comes from uncommitted code (commit {commit}); rerun from a clean commit")
    notes = [key for key in record if re.search(r"commit.*note|note.*commit", key)]
    if notes:
        raise ZooConfigError(f"result holds a hand-written commit note ({', '.join(notes)}); rerun from a clean commit instead")
    found = absolute_paths(record)
    if found:
        raise ZooConfigError(f"result holds absolute paths of this machine ({', '.join(found[:3])}); pass it through scrub_paths")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compute_device() -> torch.device:
    """Where evaluation runs when nobody says: the GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_description(device: str | torch.device = "cpu") -> str:
    """A human-readable name of the device, e.g. ``cuda: NVIDIA H100`` or ``cpu: AMD EPYC …, 2 threads``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {_cpu_model()}, {torch.get_num_threads()} torch threads"


class RunStart:
    """The moment a job began: wall-clock time, the checked-out commit and the tracked files that differ from it.

    Reading the commit at the start matters: HEAD may move while a long job runs. ``require_clean=True``
    (full reproductions) refuses to start while tracked files differ from HEAD, or where git cannot name
    HEAD and ``$ZOO_COMMIT`` does not either, so that the result names exactly the code that produced
    it; otherwise those files are listed as ``uncommitted_changes``.
    """

    def __init__(self, require_clean: bool = False, repo: Path = REPO, started_at: float | None = None) -> None:
        """``started_at``: the job's start as a UNIX time, when it began before this process (a
        script of several steps); by default, now."""
        self.time = time.time() if started_at is None else started_at
        self.commit, self.changes = head_commit(repo), tracked_changes(repo)
        if require_clean and self.commit.startswith("unknown"):
            raise ZooConfigError(f"{repo} is not a git checkout, so a result could not name the code that produced it: "
                                 "run from a clone (or, in a copy of one commit, set ZOO_COMMIT to it)")
        if require_clean and self.changes:
            shown = ", ".join(self.changes[:3]) + (f" and {len(self.changes) - 3} more" if len(self.changes) > 3 else "")
            raise ZooConfigError(
                f"{shown} differ from commit {self.commit[:12]}: commit or stash your changes first; "
                "results are produced from committed code"
            )

    def provenance(self, seeds: dict[str, int], device: str | torch.device = "cpu") -> dict[str, Any]:
        """The provenance block of a result file for this job, ending now."""
        record: dict[str, Any] = {"commit": self.commit}
        if self.changes:
            record["uncommitted_changes"] = list(self.changes)
        return {
            **record,
            "device": device_description(device),
            "torch": torch.__version__,
            "seeds": seeds,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.time() - self.time, 2),
        }
