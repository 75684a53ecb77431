"""``zoo reproduce --carry-over``: which earlier rows may stand in a table whose run store lost them."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import REPO
from zoo.cli import main
from zoo.errors import ZooConfigError
from zoo.reproduce.carry import CarriedRows, ResultFile, _config_unchanged, carried_row_notes

CONFIG = "configs/fgan/mnist_gan.yaml"


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _table(**changes) -> dict:
    row = {"name": "GAN", "config": CONFIG, "budget": {"max_epochs": 100, "train_batches": None}, "seed": 0,
           "status": "complete", "ours": {"mean": 102.2, "stderr": 1.4, "epochs": 100}}
    return {"table": "fgan-table4-alternating", "quick": False, "commit": _head(), "rows": [row], **changes}


def test_a_row_is_lent_only_to_the_same_experiment():
    carried = ResultFile(_table(), {"file": "results/x.json", "commit": _head()})
    budget = {"max_epochs": 100, "train_batches": None}
    lent = carried.parzen_row("GAN", CONFIG, budget, 0)
    assert lent["ours"]["mean"] == 102.2 and lent["carried_over_from"] == {"file": "results/x.json", "commit": _head()}
    assert carried.parzen_row("GAN", CONFIG, budget, 1) is None  # another seed
    assert carried.parzen_row("GAN", CONFIG, {**budget, "max_epochs": 50}, 0) is None  # trained past that budget
    assert carried.parzen_row("GAN", CONFIG, {**budget, "train_batches": 10}, 0) is None  # another budget
    assert carried.parzen_row("GAN", "configs/fgan/mnist_kl.yaml", budget, 0) is None  # another config
    assert carried.parzen_row("Reverse KL", CONFIG, budget, 0) is None
    recorded = ResultFile(_table(rows=[{**_table()["rows"][0], "options": ["--model.init_args.update", "alternating"]}]),
                           {"file": "results/x.json", "commit": _head()})
    assert recorded.parzen_row("GAN", CONFIG, budget, 0, ["--model.init_args.update", "alternating"]) is not None
    assert recorded.parzen_row("GAN", CONFIG, budget, 0, []) is None  # trained with other options


def test_a_row_from_before_rows_recorded_their_seed_trained_at_the_tables_seed():
    # results/fgan-table4.json (the H200's nine rows) predates per-row seeds: its Jensen-Shannon row
    # trained at seed 0, so it must not stand in for today's row at seed 1
    older = _table(seeds={"training": 0, "latents": 0}, rows=[{k: v for k, v in _table()["rows"][0].items() if k != "seed"}])
    carried = ResultFile(older, {"file": "results/x.json", "commit": _head()})
    budget = {"max_epochs": 100, "train_batches": None}
    assert carried.parzen_row("GAN", CONFIG, budget, 0)["ours"]["mean"] == 102.2
    assert carried.parzen_row("GAN", CONFIG, budget, 1) is None


def test_a_row_stands_in_a_raised_budget_as_a_partial_row_until_it_reaches_it():
    # a curve still rising at its budget gets a longer one; the committed row must survive a lost store
    carried = ResultFile(_table(), {"file": "results/x.json", "commit": _head()})
    raised = {"max_epochs": 300, "train_batches": None}
    lent = carried.parzen_row("GAN", CONFIG, raised, 0)
    assert (lent["status"], lent["budget"], lent["trained_under_budget"]) == ("partial", raised, _table()["rows"][0]["budget"])
    assert lent["ours"]["epochs"] == 100 and lent["ours"]["mean"] == 102.2
    assert "GAN (trained under an earlier budget of 100 epochs)" in carried_row_notes([lent])[0]
    again = ResultFile(_table(rows=[lent]), {"file": "results/y.json", "commit": _head()})
    assert again.parzen_row("GAN", CONFIG, {"max_epochs": 500, "train_batches": None}, 0)["trained_under_budget"] == lent["trained_under_budget"]


def test_a_row_whose_config_changed_since_its_file_was_written_is_not_lent(monkeypatch):
    import zoo.reproduce.carry as carry

    assert _config_unchanged(CONFIG, _head())
    with pytest.raises(ZooConfigError, match="cannot compare"):
        _config_unchanged(CONFIG, "0" * 40)
    monkeypatch.setattr(carry, "_config_unchanged", lambda config, since: False)
    carried = ResultFile(_table(), {"file": "results/x.json", "commit": _head()})
    assert carried.parzen_row("GAN", CONFIG, {"max_epochs": 100, "train_batches": None}, 0) is None


def test_a_copy_without_git_lends_only_rows_written_at_its_own_commit(monkeypatch):
    # a device machine gets the tree without .git and its commit as $ZOO_COMMIT (benchmarks/gpu_suite.sh)
    monkeypatch.setenv("GIT_DIR", "/nonexistent-device-copy")
    monkeypatch.setenv("ZOO_COMMIT", "a" * 40)
    assert _config_unchanged(CONFIG, "a" * 40)
    assert not _config_unchanged(CONFIG, "b" * 40)
    monkeypatch.delenv("ZOO_COMMIT")
    with pytest.raises(ZooConfigError, match="not a git checkout"):
        _config_unchanged(CONFIG, "a" * 40)


@pytest.mark.parametrize("changes, words", [
    ({"table": "fgan-table4"}, "holds table 'fgan-table4', not 'fgan-table4-alternating'"),
    ({"quick": True}, "is a --quick table; carry rows only into a --quick reproduction"),
    ({"commit": "abc1234+dirty"}, "uncommitted code"),
])
def test_only_a_full_result_of_the_same_table_from_a_clean_commit_lends_rows(tmp_path, changes, words):
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(_table(**changes)))
    with pytest.raises(ZooConfigError, match=words.replace("+", r"\+")):
        CarriedRows.read([path], "fgan-table4-alternating")
    with pytest.raises(ZooConfigError, match="not found"):
        CarriedRows.read([tmp_path / "missing.json"], "fgan-table4-alternating")


def test_carry_over_is_refused_in_one_line_for_a_table_that_cannot_use_it(tmp_path, capsys):
    code = main(["reproduce", "lapgan-mnist", "--carry-over", "results/lapgan-mnist.json", "--runs", str(tmp_path)])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--carry-over applies to fgan-table4, " in err[0] and "unrolled-mixtures" in err[0]
    assert err[0].endswith("not lapgan-mnist")


def test_a_semi_supervised_seed_stands_where_it_trained_more_epochs_than_the_stores(tmp_path, monkeypatch):
    from zoo.reproduce import improved
    from zoo.reproduce.report import curve_trend
    from zoo.reproduce.runs import RowState

    plan = improved.Plan(labels=(100,), seeds=(0, 1, 2), milestones=(5, 10))
    budget = {"max_epochs": 10, "train_batches": None, "milestones": [5, 10]}

    def seed_record(seed: int, epochs: int) -> dict:
        curve = [{"epoch": e, "mean": 1000.0 + seed} for e in range(1, epochs + 1)]
        return {"seed": seed, "errors": 1000.0 + seed, "epochs": epochs, "complete": epochs == 10, "curve": curve,
                "trend": curve_trend(curve),
                "trained_in": [], "checkpoint": f"improved-gan-mnist/full/labels100-seed{seed}/checkpoints/last.ckpt"}

    earlier = {"table": "improved-gan-mnist", "quick": False, "commit": _head(), "config": plan.config, "budget": budget,
               "rows": [{"labels": 100, "per_seed": [seed_record(0, 8), seed_record(1, 8)]}]}
    carry = CarriedRows(ResultFile(earlier, {"file": "results/improved-gan-mnist.json", "commit": _head()}))
    assert carry.labelled_seed(plan.config, 100, 0, {**budget, "max_epochs": 300}) is None  # another budget
    assert carry.labelled_seed(plan.config, 20, 0, budget) is None  # another label count

    stored = {0: 9, 1: 3}  # the store passed seed 0's carried epochs, not seed 1's, and never began seed 2

    class StoredRun:
        def __init__(self, folder, labels, seed, plan, quick):
            self.seed = seed

        def state(self, budget):
            done = stored.get(self.seed)
            curve = [{"epoch": e, "mean": float(e)} for e in range(1, (done or 0) + 1)]
            return None if done is None else RowState(tmp_path / "last.ckpt", done, False, curve, [])

    monkeypatch.setattr(improved, "FULL", plan)
    monkeypatch.setattr(improved, "_run", StoredRun)
    monkeypatch.setattr(improved, "checkpoint_mistakes", lambda checkpoint: {"generator_steps": 0, "errors": 0, "top_confusions": []})
    record = improved.reproduce(tmp_path, quick=False, resume=False, retrain=False, deadline=None, require_clean=False,
                                train=False, carry=carry)
    (row,) = record["rows"]
    assert [(s["seed"], s["epochs"], "carried_over_from" in s) for s in row["per_seed"]] == [(0, 9, False), (1, 8, True)]
    assert row["epochs"] == 8 and row["ours_errors"] == (8.0 + 1001.0) / 2  # both read at the epoch both reached
    assert "checkpoint_when_scored" in row["per_seed"][1] and not record["complete"]
    assert record["notes"][0] == (f"carried over from results/improved-gan-mnist.json (written at commit {_head()[:7]}), "
                                  "more trained than in this run store: 100 labels (seed 1)")
    assert "Seeds carried over from results/improved-gan-mnist.json" in improved.markdown(
        {**record, "commit": _head(), "device": "cpu", "wall_time_s": 1.0})


def test_a_step_tables_seed_is_lent_under_its_rows_own_budget_else_the_tables():
    config, budget = "configs/unrolled/grid_k0.yaml", {"generator_steps": 50, "trace_every": 10, "samples": 100}
    seeds = [{"seed": 0, "modes_covered": 7}, {"seed": 1, "modes_covered": 9}]
    origin = {"file": "results/x.json", "commit": _head()}
    table_budget = ResultFile({"commit": _head(), "budget": {**budget, "seeds": [0, 1]},
                                "rows": [{"config": config, "seeds": seeds}]}, origin)
    assert table_budget.step_seed(config, 1, {**budget, "seeds": [1]})["modes_covered"] == 9  # seed lists may differ
    assert table_budget.step_seed(config, 2, budget) is None
    assert table_budget.step_seed(config, 0, {**budget, "generator_steps": 100}) is None
    longer = {**budget, "generator_steps": 100}
    own = ResultFile({"commit": _head(), "budget": {"grid": budget},
                       "rows": [{"config": config, "budget": longer, "seeds": seeds}]}, origin)
    assert own.step_seed(config, 0, budget) is None
    assert own.step_seed(config, 0, longer)["carried_over_from"] == origin


def test_a_row_carried_again_keeps_the_file_it_was_scored_in_and_the_notes_name_each_source():
    from zoo.reproduce.carry import carried_row_notes, carried_seed_notes

    config, budget = "configs/unrolled/grid_k0.yaml", {"generator_steps": 50, "trace_every": 10, "samples": 100}
    first = {"file": "results/x.json", "commit": "a" * 40}
    seeds = [{"seed": 0, "carried_over_from": first}, {"seed": 1}]
    later = ResultFile({"commit": _head(), "budget": budget, "rows": [{"config": config, "seeds": seeds}]},
                        {"file": "results/x.json", "commit": _head()})
    rows = [{"label": "grid, K = 0", "seeds": [later.step_seed(config, 0, budget), later.step_seed(config, 1, budget)]}]
    assert [s["carried_over_from"] for s in rows[0]["seeds"]] == [first, later.origin]
    assert carried_seed_notes(rows, lambda row: row["label"]) == [
        "carried over from results/x.json (written at commit aaaaaaa), more trained than in this run store: grid, K = 0 (seed 0)",
        f"carried over from results/x.json (written at commit {_head()[:7]}), more trained than in this run store: grid, K = 0 (seed 1)"]
    parzen = ResultFile(_table(rows=[{**_table()["rows"][0], "carried_over_from": first}]), later.origin)
    assert parzen.parzen_row("GAN", CONFIG, {"max_epochs": 100, "train_batches": None}, 0)["carried_over_from"] == first
    renamed = ResultFile(parzen.record, {"file": "results/x-h100.json", "commit": _head()})
    through = renamed.parzen_row("GAN", CONFIG, {"max_epochs": 100, "train_batches": None}, 0)
    assert through["carried_over_from"] == {**first, "through": "results/x-h100.json"}
    assert carried_row_notes([through]) == [
        "carried over from results/x.json (written at commit aaaaaaa, through results/x-h100.json), "
        "more trained than in this run store: GAN"]


def test_where_several_files_hold_one_experiment_the_most_trained_record_is_lent():
    budget = {"max_epochs": 100, "train_batches": None}

    def result_file(name: str, epochs: int, **row) -> ResultFile:  # a Parzen row is held to its epochs, as the store's run is
        ours = {"mean": float(epochs), "stderr": 1.0, "generator_steps": 117 * epochs, "epochs": epochs}
        rows = [{**_table()["rows"][0], "ours": ours, **row}]
        return ResultFile(_table(rows=rows), {"file": f"results/{name}.json", "commit": _head()})

    cpu, device, other_seed = result_file("cpu", 64), result_file("device", 94), result_file("seed1", 100, seed=1)
    lent = CarriedRows(cpu, other_seed, device).parzen_row("GAN", CONFIG, budget, 0)
    assert lent["ours"]["epochs"] == 94 and lent["carried_over_from"]["file"] == "results/device.json"
    tie = CarriedRows(result_file("first", 50), result_file("second", 50)).parzen_row("GAN", CONFIG, budget, 0)
    assert tie["carried_over_from"]["file"] == "results/first.json"
    assert CarriedRows(other_seed).parzen_row("GAN", CONFIG, budget, 0) is None

    config, step_budget = "configs/unrolled/grid_k0.yaml", {"generator_steps": 50, "trace_every": 10, "samples": 100}

    def seeds_file(name: str, steps: int) -> ResultFile:
        return ResultFile({"commit": _head(), "budget": step_budget,
                           "rows": [{"config": config, "seeds": [{"seed": 0, "generator_steps": steps}]}]},
                          {"file": f"results/{name}.json", "commit": _head()})

    seed = CarriedRows(seeds_file("short", 30), seeds_file("long", 50)).step_seed(config, 0, step_budget)
    assert seed["generator_steps"] == 50 and seed["carried_over_from"]["file"] == "results/long.json"


def test_a_table_is_assembled_from_the_parts_that_parallel_jobs_wrote(tmp_path):
    # each part holds the one row its job trained; an empty run store takes every row from the parts
    from zoo.reproduce.parzen import reproduce_parzen_table
    from zoo.reproduce.tables import TABLES

    table = TABLES["fgan-table4-alternating"]
    parts = []
    for index, row in enumerate(table.rows[:2]):
        trained = {"name": row.name, "config": row.config, "options": list(row.extra), "budget": vars(row.budget),
                   "seed": row.seed(0), "status": "partial",
                   "ours": {"mean": -10.0 * index, "stderr": 1.0, "sigma": 0.2, "n_samples": 16384, "n_points": 10000,
                            "generator_steps": 100 + index, "epochs": 1}}
        untrained = [{"name": other.name, "status": "not started", "ours": None} for other in table.rows if other is not row]
        parts.append(tmp_path / f"part{index}" / "fgan-table4-alternating.json")
        parts[-1].parent.mkdir()
        parts[-1].write_text(json.dumps(_table(rows=[trained, *untrained])))
    carried = CarriedRows.read(parts, "fgan-table4-alternating")
    record = reproduce_parzen_table(table, False, tmp_path / "empty", 0, retrain=False, train=False, carry=carried)
    assert not record["complete"]
    steps = [(row["ours"] or {}).get("generator_steps") for row in record["rows"]]
    assert steps == [100, 101] + [None] * (len(table.rows) - 2)


def test_a_carried_row_reads_its_curves_trend_by_todays_rule(tmp_path):
    # a file written before rows carried a trend (or under an older rule) still has its curve
    from zoo.reproduce.parzen import reproduce_parzen_table
    from zoo.reproduce.report import curve_trend
    from zoo.reproduce.tables import TABLES

    table = TABLES["fgan-table4-alternating"]
    rising = [{"epoch": e, "generator_steps": 10 * e, "mean": float(e), "stderr": 0.1} for e in range(1, 13)]
    rows = [{"name": row.name, "config": row.config, "options": list(row.extra), "budget": vars(row.budget),
             "seed": row.seed(0), "status": "partial", "curve": curve,
             "ours": {"mean": 1.0, "stderr": 1.0, "sigma": 0.2, "n_samples": 16384, "n_points": 10000, "generator_steps": 120, "epochs": 12},
             **extra}
            for row, curve, extra in zip(table.rows, (rising, rising, []),
                                         ({}, {"trend": {"direction": "flat"}}, {}))]
    record = reproduce_parzen_table(table, False, tmp_path / "empty", 0, retrain=False, train=False,
                                    carry=CarriedRows(ResultFile(_table(rows=rows), {"file": "results/x.json", "commit": _head()})))
    assert [row.get("trend") for row in record["rows"][:3]] == [curve_trend(rising), curve_trend(rising), None]
    assert record["rows"][0]["trend"]["direction"] == "rising"


def test_nothing_that_trains_reads_max_epochs():
    # a row lent to a raised budget stands for the longer run's first epochs only if the budget changes
    # nothing but where training stops; the learning curve may read it (it scores, it does not train)
    readers = {path.relative_to(REPO).as_posix() for path in (REPO / "zoo").rglob("*.py")
               if re.search(r"max_epochs|estimated_stepping_batches", path.read_text())}
    assert {path for path in readers if not path.startswith("zoo/reproduce/")} == {"zoo/callbacks/curve.py"}
