"""`zoo reproduce unrolled-reconstruction`: the percent best rank (ties shared), the figure's choice of
images, a tiny run on checkpoints that `unrolled-stacked-mnist --quick` trained, and the one-line error
when they are missing."""

from __future__ import annotations

import json

import pytest
import torch

from zoo.errors import ZooConfigError
from zoo.provenance import absolute_paths
from zoo.reproduce import unrolled_reconstruction, unrolled_stacked
from zoo.reproduce.command import main
from zoo.reproduce.step_runs import StepBudget
from zoo.reproduce.unrolled_reconstruction import InvertBudget, fractional_difference, percent_best


def test_percent_best_rank_shares_ties_evenly():
    errors = torch.tensor([
        [0.1, 0.2, 0.3, 0.4],    # K = 0 alone
        [0.5, 0.1, 0.1, 0.9],    # K = 1 and K = 5 tie: half each
        [0.2, 0.2, 0.2, 0.2],    # all four tie: a quarter each
        [0.3, 0.3, 0.3, 0.05],   # K = 10 alone
        [0.3, 0.3, 0.3, 0.01],   # K = 10 alone
    ])
    shares = percent_best(errors)
    torch.testing.assert_close(shares, torch.tensor([1.25, 0.75, 0.75, 2.25], dtype=torch.float64) / 5 * 100)
    assert float(shares.sum()) == pytest.approx(100.0)
    assert percent_best(errors[:1]).tolist() == [100.0, 0.0, 0.0, 0.0]


def test_fractional_difference_is_symmetric_and_zero_for_equal_errors():
    a, b = torch.tensor([0.1, 0.3, 0.0, 0.2]), torch.tensor([0.3, 0.1, 0.0, 0.2])
    torch.testing.assert_close(fractional_difference(a, b), torch.tensor([1.0, 1.0, 0.0, 0.0]))


def _fake_score(checkpoint, n_samples):
    return {"generator_steps": 1, "modes_covered": 1, "kl_to_uniform": 0.0}


@pytest.fixture(scope="module")
def quick_store(mnist_root, tmp_path_factory):
    """The run store `zoo reproduce unrolled-stacked-mnist --quick` leaves, at one generator step per K."""
    root = tmp_path_factory.mktemp("reconstruction")
    patch = pytest.MonkeyPatch()
    patch.setattr(unrolled_stacked, "QUICK", StepBudget(generator_steps=1, trace_every=1, samples=1, seeds=(0,)))
    patch.setattr(unrolled_stacked, "D_SIZES", {"quarter": 0.25})
    patch.setattr(unrolled_stacked, "score", _fake_score)  # the mode count needs the MNIST classifier; not tested here
    try:
        assert main(["unrolled-stacked-mnist", "--quick", "--runs", str(root / "runs"), "--out", str(root / "stacked")]) == 0
    finally:
        patch.undo()
    return root


def test_quick_run_inverts_every_k_on_the_same_images(quick_store, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(unrolled_reconstruction, "QUICK", InvertBudget(images=6, steps=3, lr=0.01))
    out = quick_store / "out"
    assert main(["unrolled-reconstruction", "--quick", "--runs", str(quick_store / "runs"), "--out", str(out)]) == 0
    text = (out / "unrolled-reconstruction.json").read_text()
    record = json.loads(text)
    assert [r["unroll_steps"] for r in record["rows"]] == [0, 1, 5, 10]
    assert sum(r["percent_best"]["mean"] for r in record["rows"]) == pytest.approx(100.0)
    for row in record["rows"]:
        assert row["mse"]["n"] == 6 and row["mse"]["mean"] > 0 and row["mse"]["stderr"] > 0
        assert row["checkpoints"][0]["path"] == f"$ZOO_RUNS/unrolled-stacked-mnist/quick/dquarter_k{row['unroll_steps']}/seed0/checkpoints/last.ckpt"
        assert row["checkpoints"][0]["generator_steps"] == 1
    assert record["data"]["n_images"] == 6 and record["invert"]["steps"] == 3 and record["seeds"]["training"] == [0]
    shown = record["figure"]["images"]
    assert len(shown) == 6 and [i["fractional_difference"] for i in shown] == sorted((i["fractional_difference"] for i in shown), reverse=True)
    k0, k10 = record["rows"][0]["mse"]["mean"], record["rows"][3]["mse"]["mean"]
    assert sum(i["mse_k0"] for i in shown) / 6 == pytest.approx(k0) and sum(i["mse_k10"] for i in shown) / 6 == pytest.approx(k10)
    assert record["finding"]["k10_mse_below_k0"] == (k10 < k0)
    assert not absolute_paths(record) and str(quick_store) not in text
    with Image.open(out / "unrolled-reconstruction.png") as png:
        width, height = png.size  # target, K = 0 and K = 10 rows of six images: about twice as wide as high
        assert 1.7 < width / height < 2.3 and height >= 3 * 100
    assert "| 10 |" in (out / "unrolled-reconstruction.md").read_text()


def test_missing_checkpoints_fail_in_one_line_naming_the_command(quick_store, tmp_path):
    for runs, flags, command in ((tmp_path / "empty", ["--quick"], "unrolled-stacked-mnist --quick`"),
                                 (quick_store / "runs", ["--quick", "--d-size", "half"], "dhalf_k0/seed0")):
        with pytest.raises(ZooConfigError) as error:
            main(["unrolled-reconstruction", *flags, "--runs", str(runs), "--out", str(tmp_path / "out")])
        assert command in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ZooConfigError, match="unrolled-stacked-mnist` first"):
        unrolled_reconstruction.find_checkpoints(tmp_path, "quarter", (0,), quick=False)
    assert not (tmp_path / "out").exists()


def test_a_time_limited_run_keeps_each_inversion_and_the_next_run_continues_with_the_rest(quick_store, tmp_path, monkeypatch):
    import shutil

    import zoo.latent.invert as inverting

    runs = tmp_path / "runs"
    shutil.copytree(quick_store / "runs" / unrolled_stacked.TABLE, runs / unrolled_stacked.TABLE)
    monkeypatch.setattr(unrolled_reconstruction, "QUICK", InvertBudget(images=5, steps=2, lr=0.01))
    calls = []
    real_invert = inverting.invert
    monkeypatch.setattr(inverting, "invert", lambda model, *args, **kwargs: calls.append(1) or real_invert(model, *args, **kwargs))
    command = ["unrolled-reconstruction", "--quick", "--runs", str(runs)]

    # --max-time already spent after the first model: it is kept, nothing is written, exit 3 says "not finished"
    assert main([*command, "--out", str(tmp_path / "stopped"), "--max-time", "0.001"]) == 3
    assert len(calls) == 1 and not (tmp_path / "stopped").exists()
    kept = runs / unrolled_reconstruction.TABLE / "quick" / "dquarter"
    assert sorted(p.name for p in kept.iterdir()) == ["seed0_k0.pt"]

    assert main([*command, "--out", str(tmp_path / "continued")]) == 0
    assert len(calls) == 4  # the three models left
    assert main([*command, "--out", str(tmp_path / "again"), "--retrain"]) == 0
    assert len(calls) == 8
    continued, fresh = (json.loads((tmp_path / name / "unrolled-reconstruction.json").read_text()) for name in ("continued", "again"))
    assert [r["mse"] for r in continued["rows"]] == [r["mse"] for r in fresh["rows"]]
    assert {c["inverted_at_commit"].removesuffix("+dirty") for r in continued["rows"] for c in r["checkpoints"]} == {continued["commit"]}
    assert continued["invert"]["wall_time_s"] == pytest.approx(sum(c["invert_wall_time_s"] for r in continued["rows"]
                                                                   for c in r["checkpoints"]))

    # another budget (or a retrained checkpoint) is inverted anew, never mixed with the kept ones
    monkeypatch.setattr(unrolled_reconstruction, "QUICK", InvertBudget(images=5, steps=3, lr=0.01))
    assert main([*command, "--out", str(tmp_path / "other")]) == 0
    assert len(calls) == 12


def test_the_half_size_tables_files_stand_beside_the_quarter_size_ones():
    assert unrolled_reconstruction.result_name(0.25) == "unrolled-reconstruction"
    assert unrolled_reconstruction.result_name(0.5) == "unrolled-reconstruction-dhalf"


def test_models_trained_on_other_data_are_refused_before_any_image_is_drawn(tmp_path):
    def saved(name: str, seed: int):
        path = tmp_path / f"{name}.ckpt"
        hparams = {"seed": seed, "train_size": 500, "data_root": f"/elsewhere/{name}", "batch_size": 64}
        torch.save({"state_dict": {}, "zoo": {"datamodule_class": "zoo.data.stacked_mnist.StackedMNISTDataModule",
                                              "datamodule_hparams": hparams}}, path)
        return path

    same, moved, other = saved("k0", 0), saved("k10", 0), saved("k5", 1)
    with pytest.raises(ZooConfigError, match="k5.ckpt trained on other data than .*k0.ckpt"):
        unrolled_reconstruction._training_images({(0, 0): same, (0, 10): moved, (0, 5): other}, 4, 0)
