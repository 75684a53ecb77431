"""The rich console every zoo command prints its tables to."""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console

# Off a terminal rich falls back to 80 columns, which folds a results table into one word per line
# in a log file or a CI transcript; a file has no width to respect, so give the table room.
OFF_TERMINAL_WIDTH = 160


def zoo_console(file: IO[str] | None = None) -> Console:
    """A console as wide as the terminal, or ``OFF_TERMINAL_WIDTH`` columns when the output is a
    file or a pipe and ``COLUMNS`` does not set a width."""
    console = Console(file=file)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(file=file, width=OFF_TERMINAL_WIDTH)
