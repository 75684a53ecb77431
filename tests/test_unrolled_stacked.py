"""Stacked MNIST: the DataModule's triples and labels, 1000-mode scores, and the unrolled DCGAN
(whose discriminator has batch norm) leaving D untouched."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import quiet_trainer
from zoo.data.stacked_mnist import StackedMNISTDataModule
from zoo.errors import ZooConfigError
from zoo.eval.stacked_modes import count_stacked_modes, histogram_scores, mode_histogram
from zoo.models.unrolled import UnrolledDCGAN
from zoo.reproduce.step_runs import StepBudget


@pytest.fixture(scope="module")
def stacked(mnist_root):
    data = StackedMNISTDataModule(data_root=str(mnist_root), seed=3, train_size=500, val_size=50, test_size=50)
    data.setup()
    return data


def test_each_channel_is_the_digit_its_triple_names(stacked):
    from zoo.data.mnist import load_mnist_tensors

    digits, labels = load_mnist_tensors(stacked.data_root, train=True)
    train = stacked.train_set
    for index in (0, 17, 499):
        image, mode = train[index]
        a, b, c = train.triples[index].tolist()
        assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1
        for channel, digit in enumerate((a, b, c)):
            expected = torch.nn.functional.pad(digits[digit, 0], (2, 2, 2, 2)) * 2 - 1
            torch.testing.assert_close(image[channel], expected, atol=1e-6, rtol=0)
        assert int(mode) == 100 * labels[a] + 10 * labels[b] + labels[c]


def test_triples_come_from_the_seed_and_the_right_split(stacked, mnist_root):
    again = StackedMNISTDataModule(data_root=str(mnist_root), seed=3, train_size=500, val_size=50, test_size=50)
    other = StackedMNISTDataModule(data_root=str(mnist_root), seed=4, train_size=500, val_size=50, test_size=50)
    again.setup(), other.setup()
    assert torch.equal(again.train_set.triples, stacked.train_set.triples)
    assert not torch.equal(other.train_set.triples, stacked.train_set.triples)
    assert stacked.train_set.triples.max() < 50_000 and len(stacked.val_set.digits) == 10_000
    modes = {int(stacked.train_set[i][1]) for i in range(500)}
    assert len(modes) > 300  # 500 draws from 1000 modes cover about 394


def test_histogram_scores_at_the_extremes():
    even = histogram_scores(torch.full((1000,), 3))
    assert even["modes_covered"] == 1000 and even["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    single = torch.zeros(1000, dtype=torch.long)
    single[123] = 50
    one = histogram_scores(single)
    assert one["modes_covered"] == 1 and one["kl_to_uniform"] == pytest.approx(math.log(1000))
    assert histogram_scores(torch.tensor([2] * 10 + [1] * 990), min_count=2)["modes_covered"] == 10


def test_stacked_modes_come_from_the_three_channels():
    digits = torch.tensor([[1, 2, 3], [1, 2, 3], [9, 0, 0], [0, 0, 7]])

    class ReadsGivenDigits:
        def predict_channels(self, images, value_range):
            assert images.shape == (4, 3, 32, 32) and value_range == (-1.0, 1.0)
            return digits

    counts = mode_histogram(digits)
    assert counts[123] == 2 and counts[900] == 1 and counts[7] == 1 and counts.sum() == 4
    scores = count_stacked_modes(torch.zeros(4, 3, 32, 32), ReadsGivenDigits(), (-1.0, 1.0))
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert scores["modes_covered"] == 3
    assert scores["kl_to_uniform"] == pytest.approx(float((p * (p * 1000).log()).sum()))


def test_unrolled_dcgan_leaves_ds_weights_and_batch_statistics_alone(stacked):
    """D's batch norm sees G's unrolled steps on copies of its statistics: after one alternating
    iteration D's weights are the K = 0 run's, and a further G loss changes no D tensor at all
    (while the plain GAN's G loss, a forward pass through D in training mode, does update them)."""
    runs = {}
    stacked.batch_size = 16
    for steps in (0, 3):
        torch.manual_seed(0)
        model = UnrolledDCGAN(unroll_steps=steps, g_width=8, d_size=0.5, latent_dim=16)
        torch.manual_seed(1)
        quiet_trainer(max_steps=2, limit_val_batches=0).fit(model, datamodule=stacked)
        runs[steps] = model
    plain, unrolled = runs[0], runs[3]
    for (key, a), (_, b) in zip(plain.discriminator.named_parameters(), unrolled.discriminator.named_parameters()):
        assert torch.equal(a, b), key
    assert not torch.equal(plain.generator.net[0].weight, unrolled.generator.net[0].weight)
    assert next(unrolled.discriminator.parameters()).shape[0] == 4  # D's first conv: half of G's 8 channels

    real = torch.stack([stacked.train_set[i][0] for i in range(16)])
    for model, changes in ((unrolled, False), (plain, True)):
        before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
        model.generator_loss(model.generator(model.sample_noise(16)), real).backward()
        changed = [k for k, v in model.discriminator.state_dict().items() if not torch.equal(v, before[k])]
        assert bool(changed) == changes, changed
        assert all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)


def test_stacked_table_pipeline_at_a_tiny_budget(mnist_root, tmp_path, monkeypatch):
    import json

    import zoo.checkpoints
    from zoo.eval.classifier import train_mnist_classifier
    from zoo.reproduce import unrolled_stacked
    from zoo.reproduce.command import main

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    train_mnist_classifier(mnist_root, epochs=1, out_path=tmp_path / "cache" / "mnist_classifier.pt", max_steps=20,
                           train_subset=1000, test_subset=500)
    monkeypatch.setattr(unrolled_stacked, "QUICK", StepBudget(generator_steps=2, trace_every=1, samples=300, seeds=(0, 1)))
    monkeypatch.setattr(unrolled_stacked, "D_SIZES", {"quarter": 0.25})
    monkeypatch.setattr(unrolled_stacked, "UNROLL_STEPS", (0, 1))
    args = ["unrolled-stacked-mnist", "--quick", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    record = json.loads((tmp_path / "out" / "unrolled-stacked-mnist.json").read_text())
    # the table's rows, then K = 1's first-order variant beside them
    assert [(r["d_size"], r["unroll_steps"], r["second_order"]) for r in record["rows"]] == \
        [(0.25, 0, True), (0.25, 1, True), (0.25, 1, False)]
    first_order = record["rows"][2]
    assert first_order["config"] == "configs/unrolled/stacked_mnist_dquarter_k1_first_order.yaml"
    trained = zoo.checkpoints.read_checkpoint(tmp_path / "runs" / unrolled_stacked.TABLE / "quick" / "dquarter_k1_first_order"
                                              / "seed0" / "checkpoints" / "last.ckpt")["hyper_parameters"]
    assert (trained["unroll_steps"], trained["second_order"]) == (1, False)
    for row in record["rows"]:
        assert row["generator_steps"] == 2 and len(row["seeds"]) == 2
        assert row["modes_covered"]["per_seed"] == [s["modes_covered"] for s in row["seeds"]]
        assert all(1 <= s["modes_covered"] <= 300 and s["n_samples"] == 300 for s in row["seeds"])
        assert all(0 <= s["kl_to_uniform"] <= math.log(1000) + 1e-9 for s in row["seeds"])
    paper_line, first_line = record["trend"]["0.25"]["second_order"], record["trend"]["0.25"]["first_order"]
    assert paper_line["unroll_steps"] == [0, 1] and first_line["unroll_steps"] == [0, 1]  # both from the same K = 0 row
    assert paper_line["mean_modes"] == [r["modes_covered"]["mean"] for r in record["rows"][:2]]
    assert first_line["mean_modes"] == [record["rows"][0]["modes_covered"]["mean"], first_order["modes_covered"]["mean"]]
    assert paper_line["modes_rise_with_k"] == (paper_line["mean_modes"][0] <= paper_line["mean_modes"][1])
    assert paper_line["every_k10_seed_above_every_k0_seed"] is None  # K = 10 was not run

    # the paper's Table 2 (unverified in targets.md) beside ours, labelled as such
    assert [r["paper_unverified"]["modes_covered"] for r in record["rows"][:2]] == [30.6, 65.4]
    assert first_order["paper_unverified"] is None  # the paper reports no first-order row for Stacked MNIST
    assert record["rows"][1]["paper_unverified"]["kl_to_uniform"] == 5.911
    text = (tmp_path / "out" / "unrolled-stacked-mnist.md").read_text()
    assert "paper's modes (unverified)" in text and "| 30.6 ± 20.73 |" in text
    assert f"| 0.25 | 1, first order | {first_order['modes_covered']['mean']:.1f};" in text
    assert str(tmp_path) not in (tmp_path / "out" / "unrolled-stacked-mnist.json").read_text()
    # the figure: the curves, then samples of the first seed at K = 0 and at the largest K run
    from PIL import Image

    loaded = []
    real_load = zoo.checkpoints.load_run
    monkeypatch.setattr(zoo.checkpoints, "load_run", lambda path, **kw: loaded.append(path) or real_load(path, **kw))
    with Image.open(tmp_path / "out" / "unrolled-stacked-mnist.png") as png:
        assert png.size == (1600, 440)
    unrolled_stacked.figure(record, tmp_path / "runs" / unrolled_stacked.TABLE / "quick", tmp_path / "again.png")
    assert [p.relative_to(tmp_path / "runs").parts[2:4] for p in loaded] == [("dquarter_k0", "seed0"), ("dquarter_k1", "seed0")]

    # a store that lost the K = 0 row: its seeds come from the earlier result file, the rest from the store
    import shutil

    from zoo.reproduce.carry import CarriedRows, ResultFile

    runs = tmp_path / "runs" / unrolled_stacked.TABLE / "quick"
    shutil.rmtree(runs / "dquarter_k0")
    origin = {"file": "results/unrolled-stacked-mnist.json", "commit": record["commit"]}
    table = {"d_sizes": ("quarter",), "unroll_steps": (0, 1), "train": False}
    again = unrolled_stacked.reproduce(unrolled_stacked.QUICK, runs, carry=CarriedRows(ResultFile(record, origin)), **table)
    assert [r["seeds"] for r in again["rows"][1:]] == [r["seeds"] for r in record["rows"][1:]]  # read from the store
    assert again["rows"][0]["seeds"] == [{**s, "carried_over_from": origin} for s in record["rows"][0]["seeds"]]
    assert again["complete"] and again["notes"][0].startswith(
        f"carried over from results/unrolled-stacked-mnist.json (written at commit {record['commit'][:7]}), more trained than in this run store: "
        "D 0.25, K = 0 (seeds 0, 1)")
    without = unrolled_stacked.reproduce(unrolled_stacked.QUICK, runs, **table)
    assert not without["complete"] and [r["unroll_steps"] for r in without["rows"]] == [1, 1]
    loaded.clear()
    unrolled_stacked.figure(again, runs, tmp_path / "carried.png")  # K = 0's checkpoint is elsewhere: samples of rows held here
    assert [p.relative_to(runs).parts[:2] for p in loaded] == [("dquarter_k1", "seed0"), ("dquarter_k1_first_order", "seed0")]


def test_a_table_scored_by_two_classifiers_says_which_seeds_each_scored():
    from zoo.reproduce.unrolled_stacked import classifier_note

    first_order = {"d_size": 0.5, "unroll_steps": 5, "second_order": False, "seeds": [{"seed": 0, "classifier_weights_sha256": "aa"}]}
    older = {"d_size": 0.5, "unroll_steps": 0, "second_order": True,
             "seeds": [{"seed": 0, "classifier_sha256": "bb"}, {"seed": 1, "classifier_sha256": "bb"}]}
    assert classifier_note([older]) == [] and classifier_note([first_order]) == []
    assert classifier_note([first_order, older]) == [
        "scored by more than one MNIST classifier: weights aa: D 0.5, K = 5 (first order) (seed 0); "
        "file bb (a file hash, from before weights were hashed): D 0.5, K = 0 (seeds 0, 1)"]


def test_the_trend_checks_each_line_from_the_shared_k0_row():
    from zoo.reproduce.unrolled_stacked import trend, trend_lines

    def row(k: int, modes: list[int], kl: float, second_order: bool = True) -> dict:
        return {"d_size": 0.25, "unroll_steps": k, "second_order": second_order, "seeds": [{"modes_covered": m} for m in modes],
                "modes_covered": {"mean": sum(modes) / len(modes)}, "kl_to_uniform": {"mean": kl}}

    rows = [row(0, [100, 500], 2.0), row(10, [400, 900], 1.0), row(5, [800, 820], 0.9, False), row(10, [850, 860], 0.8, False)]
    checks = trend(rows)["0.25"]
    assert checks["second_order"] == {"unroll_steps": [0, 10], "mean_modes": [300, 650], "mean_kl": [2.0, 1.0],
                                      "modes_rise_with_k": True, "kl_falls_with_k": True,
                                      "every_k10_seed_above_every_k0_seed": False}  # seed 400 lies below seed 500
    assert checks["first_order"]["unroll_steps"] == [0, 5, 10] and checks["first_order"]["every_k10_seed_above_every_k0_seed"]
    dipped = trend([rows[0], row(5, [800, 820], 0.9, False), row(10, [700, 720], 1.2, False)])["0.25"]
    assert not dipped["first_order"]["modes_rise_with_k"] and not dipped["first_order"]["kl_falls_with_k"]
    assert list(trend([rows[0], rows[1]])["0.25"]) == ["second_order"]  # no first-order row trained: no such line
    assert trend_lines(trend(rows))[1].startswith("- D 0.25, first order (K = 0, 5, 10): modes 300 → 810 → 855 (rise: True)")


@pytest.mark.parametrize("table", ["unrolled-stacked-mnist", "unrolled-stacked-mnist-28"])
def test_each_stacked_table_trains_its_own_configs_for_every_row(table):
    import yaml

    from zoo.reproduce.selection import step_table_rows, step_table_seeds
    from zoo.reproduce.unrolled_stacked import STACKED_TABLES, config_path, variants

    setting = STACKED_TABLES[table]
    rows = variants(("quarter", "half"), (0, 1, 5, 10), setting.first_order_rows)
    model = {"unrolled-stacked-mnist": "UnrolledDCGAN", "unrolled-stacked-mnist-28": "UnrolledStackedMNISTGAN"}[table]
    for d_size, steps, first_order in rows:
        config = yaml.safe_load(config_path(d_size, steps, first_order, setting.config_stem).read_text())
        assert config["model"]["class_path"] == f"zoo.models.unrolled.{model}"
        assert (config["model"]["init_args"]["unroll_steps"], config["model"]["init_args"]["d_size"]) == \
            (steps, {"quarter": 0.25, "half": 0.5}[d_size])
    assert step_table_rows(table, None) == setting.row_names and len(setting.row_names) == len(rows)
    assert step_table_seeds(table, False, None) == setting.full.seeds
    with pytest.raises(ZooConfigError, match=f"{table} has no row 'quarter-k3'"):
        step_table_rows(table, ["quarter-k3"])
