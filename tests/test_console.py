"""Tables printed to a file or a pipe keep their rows on one line instead of rich's 80 columns."""

from __future__ import annotations

import io

from zoo.compare.report import print_table
from zoo.console import OFF_TERMINAL_WIDTH, zoo_console

LONG_ROW = ["gan2014-table1", "Adversarial nets (released code's recipe)", "Parzen log-likelihood, nats (± stderr)",
            "225.0 ± 2.0", "204.7 ± 2.3"]


def _printed(console_file: io.StringIO) -> list[str]:
    print_table("a results table", ["table", "row", "metric", "paper", "ours"], [LONG_ROW], zoo_console(console_file))
    return console_file.getvalue().splitlines()


def test_a_table_written_to_a_file_keeps_each_row_on_one_line(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = _printed(io.StringIO())
    assert zoo_console(io.StringIO()).width == OFF_TERMINAL_WIDTH
    row_lines = [line for line in lines if "gan2014-table1" in line]
    assert len(row_lines) == 1 and all(cell in row_lines[0] for cell in LONG_ROW)


def test_columns_still_sets_the_width_off_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    lines = _printed(io.StringIO())
    assert max(len(line) for line in lines) <= 60
    assert not any("Adversarial nets (released code's recipe)" in line for line in lines)
