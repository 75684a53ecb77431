"""``zoo reproduce --carry-over``: which earlier rows may stand in a table whose run store lost them."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO
from zoo.cli import main
from zoo.errors import ZooConfigError
from zoo.reproduce.carry import CarriedRows, _config_unchanged

CONFIG = "configs/fgan/mnist_gan.yaml"


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _table(**changes) -> dict:
    row = {"name": "GAN", "config": CONFIG, "budget": {"max_epochs": 100, "train_batches": None}, "seed": 0,
           "status": "complete", "ours": {"mean": 102.2, "stderr": 1.4, "epochs": 100}}
    return {"table": "fgan-table4-alternating", "quick": False, "commit": _head(), "rows": [row], **changes}


def test_a_row_is_lent_only_to_the_same_experiment():
    carried = CarriedRows(_table(), {"file": "results/x.json", "commit": _head()})
    budget = {"max_epochs": 100, "train_batches": None}
    lent = carried.parzen_row("GAN", CONFIG, budget, 0)
    assert lent["ours"]["mean"] == 102.2 and lent["carried_over_from"] == {"file": "results/x.json", "commit": _head()}
    assert carried.parzen_row("GAN", CONFIG, budget, 1) is None  # another seed
    assert carried.parzen_row("GAN", CONFIG, {**budget, "max_epochs": 300}, 0) is None  # another budget
    assert carried.parzen_row("GAN", "configs/fgan/mnist_kl.yaml", budget, 0) is None  # another config
    assert carried.parzen_row("Reverse KL", CONFIG, budget, 0) is None
    recorded = CarriedRows(_table(rows=[{**_table()["rows"][0], "options": ["--model.init_args.update", "alternating"]}]),
                           {"file": "results/x.json", "commit": _head()})
    assert recorded.parzen_row("GAN", CONFIG, budget, 0, ["--model.init_args.update", "alternating"]) is not None
    assert recorded.parzen_row("GAN", CONFIG, budget, 0, []) is None  # trained with other options


def test_a_row_whose_config_changed_since_its_file_was_written_is_not_lent(monkeypatch):
    import zoo.reproduce.carry as carry

    assert _config_unchanged(CONFIG, _head())
    with pytest.raises(ZooConfigError, match="cannot compare"):
        _config_unchanged(CONFIG, "0" * 40)
    monkeypatch.setattr(carry, "_config_unchanged", lambda config, since: False)
    carried = CarriedRows(_table(), {"file": "results/x.json", "commit": _head()})
    assert carried.parzen_row("GAN", CONFIG, {"max_epochs": 100, "train_batches": None}, 0) is None


@pytest.mark.parametrize("changes, words", [
    ({"table": "fgan-table4"}, "holds table 'fgan-table4', not 'fgan-table4-alternating'"),
    ({"quick": True}, "--quick table"),
    ({"commit": "abc1234+dirty"}, "uncommitted code"),
])
def test_only_a_full_result_of_the_same_table_from_a_clean_commit_lends_rows(tmp_path, changes, words):
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(_table(**changes)))
    with pytest.raises(ZooConfigError, match=words.replace("+", r"\+")):
        CarriedRows.read(path, "fgan-table4-alternating")
    with pytest.raises(ZooConfigError, match="not found"):
        CarriedRows.read(tmp_path / "missing.json", "fgan-table4-alternating")


def test_carry_over_is_refused_in_one_line_for_a_table_that_cannot_use_it(tmp_path, capsys):
    code = main(["reproduce", "improved-gan-mnist", "--no-train", "--carry-over", "results/improved-gan-mnist.json",
                 "--runs", str(tmp_path)])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--carry-over works for the Parzen tables and unrolled-mixtures, unrolled-stacked-mnist, not improved-gan-mnist" in err[0]


def test_a_step_tables_seed_is_lent_under_its_rows_own_budget_else_the_tables():
    config, budget = "configs/unrolled/grid_k0.yaml", {"generator_steps": 50, "trace_every": 10, "samples": 100}
    seeds = [{"seed": 0, "modes_covered": 7}, {"seed": 1, "modes_covered": 9}]
    origin = {"file": "results/x.json", "commit": _head()}
    table_budget = CarriedRows({"commit": _head(), "budget": {**budget, "seeds": [0, 1]},
                                "rows": [{"config": config, "seeds": seeds}]}, origin)
    assert table_budget.step_seed(config, 1, {**budget, "seeds": [1]})["modes_covered"] == 9  # seed lists may differ
    assert table_budget.step_seed(config, 2, budget) is None
    assert table_budget.step_seed(config, 0, {**budget, "generator_steps": 100}) is None
    longer = {**budget, "generator_steps": 100}
    own = CarriedRows({"commit": _head(), "budget": {"grid": budget},
                       "rows": [{"config": config, "budget": longer, "seeds": seeds}]}, origin)
    assert own.step_seed(config, 0, budget) is None
    assert own.step_seed(config, 0, longer)["carried_over_from"] == origin


def test_a_row_carried_again_keeps_the_file_it_was_scored_in_and_the_notes_name_each_source():
    from zoo.reproduce.carry import carried_seed_notes

    config, budget = "configs/unrolled/grid_k0.yaml", {"generator_steps": 50, "trace_every": 10, "samples": 100}
    first = {"file": "results/x.json", "commit": "a" * 40}
    seeds = [{"seed": 0, "carried_over_from": first}, {"seed": 1}]
    later = CarriedRows({"commit": _head(), "budget": budget, "rows": [{"config": config, "seeds": seeds}]},
                        {"file": "results/x.json", "commit": _head()})
    rows = [{"label": "grid, K = 0", "seeds": [later.step_seed(config, 0, budget), later.step_seed(config, 1, budget)]}]
    assert [s["carried_over_from"] for s in rows[0]["seeds"]] == [first, later.origin]
    assert carried_seed_notes(rows, lambda row: row["label"]) == [
        "carried over from results/x.json (written at commit aaaaaaa), not in this run store: grid, K = 0 (seed 0)",
        f"carried over from results/x.json (written at commit {_head()[:7]}), not in this run store: grid, K = 0 (seed 1)"]
    parzen = CarriedRows(_table(rows=[{**_table()["rows"][0], "carried_over_from": first}]), later.origin)
    assert parzen.parzen_row("GAN", CONFIG, {"max_epochs": 100, "train_batches": None}, 0)["carried_over_from"] == first
