"""One `zoo reproduce` per table and run store: a second one fails in one line, and a dead holder frees it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import subprocess_env
from zoo.errors import ZooConfigError
from zoo.reproduce.command import main
from zoo.reproduce.lock import table_lock

HOLD = "from pathlib import Path; from zoo.reproduce.lock import table_lock\n" \
       "with table_lock(Path({folder!r}), 't'):\n    print('held', flush=True); input()"


def test_a_second_run_of_the_same_table_is_refused_until_the_first_ends(tmp_path):
    folder = tmp_path / "store" / "gan2014-table1" / "quick"
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(folder=str(folder))], env=subprocess_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ZooConfigError, match=rf"already running on .* \(pid {holder.pid}\)") as caught:
            main(["gan2014-table1", "--quick", "--runs", str(tmp_path / "store"), "--out", str(tmp_path / "out")])
        assert "\n" not in str(caught.value)
        with table_lock(tmp_path / "store" / "gan2014-table1" / "full", "t"):  # a full run has its own folder
            pass
    finally:
        holder.kill()
        holder.wait()
    with table_lock(folder, "t"):  # the kernel released the dead holder's lock
        assert (folder / ".lock").read_text().strip().isdigit()
