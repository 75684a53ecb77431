"""``zoo reproduce improved-ablation``: each row switches off exactly the techniques it names."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from zoo.reproduce.improved_ablation import REMOVALS, markdown, rows
from zoo.reproduce.tables import Budget

ON = {  # how each technique shows in a built model
    "feature matching": lambda m: m.hparams.generator_objective == "feature_matching",
    "minibatch discrimination": lambda m: any(type(x).__name__ == "MinibatchDiscrimination" for x in m.discriminator.modules()),
    "historical averaging": lambda m: m.hparams.historical_averaging > 0,
    "label smoothing": lambda m: m.hparams.real_label < 1.0,
}


def build(row):
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.cli import TRAINER_DEFAULTS, ZooCLI

    args = ["--config", str(REPO / row.config), *row.extra, "--trainer.logger", "false"]
    return ZooCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                  trainer_defaults=TRAINER_DEFAULTS, run=False, args=args).model


@pytest.mark.parametrize("index", range(len(REMOVALS) + 2))
def test_each_row_has_exactly_the_techniques_it_keeps(index):
    row, removed = rows(Budget(1))[index]
    model = build(row)
    assert set(ON) == set(REMOVALS)
    assert {name for name, is_on in ON.items() if is_on(model)} == set(REMOVALS) - set(removed)


def test_markdown_shows_scores_and_unstarted_rows():
    ours = {"fid": 12.345, "inception_score": 8.5, "modes_covered": 10, "kl_to_uniform": 0.0123, "generator_steps": 6000}
    record = {"title": "t", "quick": False, "budget": {"max_epochs": 10}, "sample_counts": {"scored_per_row": 10000},
              "rows": [{"name": "all techniques", "status": "complete", "ours": ours, "curve": [{"mean": 20.0, "generator_steps": 1200}]},
                       {"name": "none (plain GAN)", "status": "not started"}],
              "commit": "abc", "device": "cpu", "wall_time_s": 1.0, "notes": []}
    text = markdown(record)
    assert "| all techniques | 12.35 | 8.50 | 10/10 | 0.012 | 6000 | complete |" in text
    assert "| none (plain GAN) | — | — | — | — | — | not started |" in text
    assert "- all techniques: 20.00 @ 1200" in text


def test_quick_table_trains_scores_and_writes_two_rows(tmp_path, monkeypatch, mnist_root):
    import json

    from zoo.eval.classifier import default_classifier_path, train_mnist_classifier
    from zoo.reproduce import improved_ablation

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))  # a quick classifier, and its FID statistics, here
    train_mnist_classifier(mnist_root, epochs=1, seed=0, out_path=default_classifier_path(), batch_size=64, max_steps=30,
                           train_subset=1000, test_subset=500)
    every_row = improved_ablation.rows
    monkeypatch.setattr(improved_ablation, "rows", lambda budget: every_row(budget)[:2])  # all, and without feature matching
    record = improved_ablation.reproduce(tmp_path / "store", quick=True, resume=False, retrain=False, deadline=None,
                                         seed=0, require_clean=False)
    assert record["complete"] and [row["name"] for row in record["rows"]] == ["all techniques", "− feature matching"]
    for row in record["rows"]:
        ours = row["ours"]
        assert ours["fid"] >= 0 and 1.0 - 1e-5 <= ours["inception_score"] <= 10.0
        assert sum(ours["digit_histogram"]) == improved_ablation.QUICK.samples
        assert ours["modes_covered"] == sum(count > 0 for count in ours["digit_histogram"])
        assert row["curve"][-1]["mean"] == ours["fid"]  # the curve's last point is the final score, same samples
    paths = improved_ablation.write_outputs(record, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["rows"][1]["removed"] == ["feature matching"]
    assert "| − feature matching |" in paths["md"].read_text()
