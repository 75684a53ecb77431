"""One `zoo reproduce` per table, run store and row: a second one fails in one line, a job training
another row goes ahead, and a dead holder frees its lock."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tests.conftest import subprocess_env
from zoo.errors import ZooConfigError
from zoo.reproduce.command import main
from zoo.reproduce.lock import table_lock

HOLD = "from pathlib import Path; from zoo.reproduce.lock import table_lock\n" \
       "with table_lock(Path({folder!r}), 't', {part!r}):\n    print('held', flush=True); input()"
RELEASED_RECIPE, ALGORITHM_1 = "adversarial-nets-released-code-s-recipe", "adversarial-nets-paper-s-algorithm-1-k-1"


def test_a_second_run_of_the_same_table_is_refused_until_the_first_ends(tmp_path):
    folder = tmp_path / "store" / "gan2014-table1" / "quick"
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(folder=str(folder), part=RELEASED_RECIPE)], env=subprocess_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ZooConfigError, match=rf"already running on .* \(pid {holder.pid}\)") as caught:
            main(["gan2014-table1", "--quick", "--runs", str(tmp_path / "store"), "--out", str(tmp_path / "out")])
        assert "\n" not in str(caught.value) and RELEASED_RECIPE in str(caught.value)
        with pytest.raises(ZooConfigError, match="already running"):  # a job training the held row is refused too
            main(["gan2014-table1", "--quick", "--rows", RELEASED_RECIPE, "--runs", str(tmp_path / "store")])
        with table_lock(folder, "t", ALGORITHM_1):  # a job training the other row goes ahead
            pass
        with table_lock(tmp_path / "store" / "gan2014-table1" / "full", "t"):  # a full run has its own folder
            pass
    finally:
        holder.kill()
        holder.wait()
    with table_lock(folder, "t", RELEASED_RECIPE):  # the kernel released the dead holder's lock
        assert (folder / f".lock-{RELEASED_RECIPE}").read_text().strip().isdigit()


def test_each_invocation_locks_the_rows_or_seeds_it_trains_and_nothing_when_it_only_reads():
    from zoo.reproduce.selection import check_selection, trained_parts

    def parts(*argv):
        args = argparse.Namespace(**{"quick": False, "rows": None, "seeds": None, "no_train": False, "data_seed": None,
                                     **dict(argv)})
        check_selection(args)
        return trained_parts(args)

    assert parts(("table", "gan2014-table1")) == [RELEASED_RECIPE, ALGORITHM_1]
    assert parts(("table", "gan2014-table1"), ("rows", ["Adversarial nets (paper's Algorithm 1, k = 1)"])) == [ALGORITHM_1]
    assert parts(("table", "fgan-table4"), ("no_train", True)) == []
    assert parts(("table", "improved-gan-mnist"), ("seeds", [3, 4])) == ["seed3", "seed4"]
    assert parts(("table", "improved-gan-mnist"), ("seeds", [3]), ("data_seed", 1)) == ["seed3-data1"]
    # the unrolled tables lock each seed's run, so that jobs may split one row's seeds
    assert parts(("table", "unrolled-mixtures"), ("rows", ["RING-K10"])) == ["ring-k10-seed0", "ring-k10-seed1", "ring-k10-seed2"]
    assert parts(("table", "unrolled-stacked-mnist"), ("rows", ["half-k10"]), ("seeds", [2])) == ["half-k10-seed2"]
    from zoo.reproduce.unrolled_stacked import FIRST_ORDER_ROWS

    # every (D size, K) row and the first-order rows, every seed
    assert len(parts(("table", "unrolled-stacked-mnist"))) == (8 + len(FIRST_ORDER_ROWS)) * 3
    assert parts(("table", "lapgan-mnist")) == [""]  # the whole table
    for wrong, message in ((("rows", ["kl"]), "no row 'kl': choose from gan, kullback-leibler"),
                           (("seeds", [1]), "--seeds applies to improved-gan-mnist, .*, unrolled-stacked-mnist-28, not fgan-table4")):
        with pytest.raises(ZooConfigError, match=message):
            parts(("table", "fgan-table4"), wrong)
    with pytest.raises(ZooConfigError, match="--rows applies to .*, not lapgan-mnist"):
        parts(("table", "lapgan-mnist"), ("rows", ["gan"]))
    with pytest.raises(ZooConfigError, match="unrolled-mixtures has no row 'ring-k7': choose from ring-k0"):
        parts(("table", "unrolled-mixtures"), ("rows", ["ring-k7"]))


def test_every_table_module_is_registered_with_the_kind_its_options_follow_from():
    from zoo.reproduce import improved, improved_ablation, lapgan, tables, unrolled, unrolled_reconstruction, unrolled_stacked

    expected = {**{name: "parzen" for name in tables.TABLES}, **{name: "seeds" for name in improved.TABLES},
                unrolled.TABLE: "steps", **{name: "steps" for name in unrolled_stacked.STACKED_TABLES}, lapgan.TABLE: "whole",
                improved_ablation.TABLE: "whole", unrolled_reconstruction.TABLE: "read-only",
                "fgan-table3": "read-only", "kde-real": "read-only"}
    assert tables.KINDS == expected
    # only the tables trained in parts split into jobs, take earlier results or assemble without training
    for option in ("--jobs", "--carry-over", "--no-train"):
        assert set(tables.tables_taking(option)) == {name for name, kind in expected.items() if kind in ("parzen", "steps", "seeds")}
    assert tables.tables_taking("--data-seed") == tuple(sorted(improved.TABLES))
    tables.check_option("unrolled-mixtures", "--seeds")
    with pytest.raises(ZooConfigError, match=r"^--rows applies to fgan-table4, .*, unrolled-stacked-mnist-28, not improved-gan-mnist$"):
        tables.check_option("improved-gan-mnist", "--rows")
