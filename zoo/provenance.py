"""Where a number came from: commit, device, versions, seeds and wall time, for result files."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The checked-out commit, with ``+dirty`` when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def uncommitted(paths: tuple[str, ...]) -> list[str]:
    """Which of ``paths`` (relative to the repository) differ from the checked-out commit."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return list(paths)
    return [line[3:] for line in status.splitlines() if line.strip()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str | torch.device = "cpu") -> str:
    """A human-readable name of the device, e.g. ``cuda: NVIDIA H100`` or ``cpu: AMD EPYC …, 2 threads``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {_cpu_model()}, {torch.get_num_threads()} torch threads"


class RunStart:
    """The moment a job began: wall-clock time and the checked-out commit, both read now.

    Reading the commit at the start matters: HEAD may move while a long job runs.
    """

    def __init__(self) -> None:
        self.time, self.commit = time.time(), git_commit()

    def provenance(self, seeds: dict[str, int], device: str | torch.device = "cpu") -> dict[str, Any]:
        """The provenance block of a result file for this job, ending now."""
        return {
            "commit": self.commit,
            "device": device_description(device),
            "torch": torch.__version__,
            "seeds": seeds,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.time() - self.time, 2),
        }
