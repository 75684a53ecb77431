"""One ``zoo reproduce`` at a time per table, run store and row (or seed).

Two processes training the same rows would write the same checkpoints and learning curves; on a
shared machine they would also each run several times slower. The lock is an advisory ``flock`` on
``<folder>/.lock``, released by the kernel when the process ends, however it ends, so a crash never
leaves a stale lock behind. Tables whose rows may train as parallel jobs (``--rows``, ``--seeds``)
lock each row's ``.lock-<row>`` instead, so two jobs conflict only when they train the same row.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from zoo.errors import ZooConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs go unguarded there
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def table_lock(folder: Path, table: str, part: str = "") -> Iterator[None]:
    """Hold ``folder``'s lock (for ``part`` of the table, if named) while the block runs; if another
    process holds it, fail in one line."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / (f".lock-{part}" if part else ".lock"), "a+") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "?"
                raise ZooConfigError(
                    f"zoo reproduce {table}{f' ({part})' if part else ''} is already running on {folder} (pid {owner}): "
                    "wait for it or stop it first"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def running_jobs(folder: Path) -> list[str]:
    """``"<part> (pid N)"`` for each lock in ``folder`` that a live process holds now."""
    running = []
    for path in sorted(folder.glob(".lock*")) if fcntl is not None else ():
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                part = path.name.removeprefix(".lock").removeprefix("-") or "the whole table"
                running.append(f"{part} (pid {handle.read().strip() or '?'})")
    return running
