"""`zoo reproduce … --quick` runs the whole pipeline: train, score, report."""

from __future__ import annotations

import json

from tests.conftest import REPO
from zoo.cli import main
from zoo.reproduce.command import train_row, verdict
from zoo.reproduce.tables import FGAN_TABLE4, TABLES, Budget, Row


def test_verdict_uses_two_combined_standard_errors():
    assert verdict(224.0, 1.0, 225.0, 2.0) == "reproduced"
    assert verdict(210.0, 1.0, 225.0, 2.0) == "not reproduced"
    assert verdict(210.0, 1.0, None, None) == "no paper value"


def test_every_row_points_at_a_config_that_exists():
    for table in TABLES.values():
        for row in table.rows:
            assert (REPO / row.config).exists(), row.config
    assert len(FGAN_TABLE4.rows) == 9


def test_fgan_table4_quick_writes_json_markdown_and_chart(tmp_path, monkeypatch, mnist_root):
    monkeypatch.chdir(REPO)
    out, runs = tmp_path / "results", tmp_path / "runs"
    assert main(["reproduce", "fgan-table4", "--quick", "--out", str(out), "--runs", str(runs)]) == 0
    record = json.loads((out / "fgan-table4.json").read_text())
    assert record["quick"] is True and len(record["rows"]) == 9
    for key in ("commit", "device", "seeds", "wall_time_s", "sample_counts", "protocol"):
        assert key in record
    for row in record["rows"]:
        assert row["ours"]["n_samples"] == 512 and row["ours"]["n_points"] == 1_000
        assert row["ours"]["generator_steps"] == 2
    assert record["real_data"]["paper"] == {"mean": 502.0, "stderr": 5.99}
    markdown = (out / "fgan-table4.md").read_text()
    assert "| Kullback-Leibler |" in markdown and "502.0 ± 6.0" in markdown
    assert (out / "fgan-table4.png").stat().st_size > 0


def test_a_trained_row_is_reused_unless_its_config_budget_or_seed_change(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    row = Row("quickstart", str(REPO / "configs" / "quickstart.yaml"), None, None, Budget(1, 1))
    quiet = ["--trainer.enable_progress_bar", "false"]
    checkpoint = train_row(row, row.budget, tmp_path / "run", seed=0, retrain=False, extra=quiet)
    stamp = checkpoint.stat().st_mtime_ns
    assert train_row(row, row.budget, tmp_path / "run", seed=0, retrain=False, extra=quiet).stat().st_mtime_ns == stamp
    retrained = train_row(row, row.budget, tmp_path / "run", seed=1, retrain=False, extra=quiet)
    assert retrained.stat().st_mtime_ns != stamp
