"""`zoo compare` on real tiny runs (CSV, TensorBoard and offline W&B logs) and on the committed
reproduction results: the table's values are the logged ones, best respects each metric's direction,
and the plot is a PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from zoo.cli import main
from zoo.compare import Run, read_run
from zoo.compare.readers import expand

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRAINER = {
    "max_epochs": 3, "limit_train_batches": 4, "limit_val_batches": 1, "accelerator": "cpu",
    "enable_progress_bar": False, "enable_model_summary": False,
}
EVALUATION = {"class_path": "zoo.callbacks.Evaluation", "init_args": {"metrics": ["parzen"], "protocol": None, "num_samples": 200}}
TINY_VANILLA = {"data_shape": [1, 8, 8], "latent_dim": 8, "g_hidden": [16], "d_hidden": [16], "d_pieces": 2, "g_lr": 0.005, "d_lr": 0.005}
DIGITS = {"class_path": "zoo.data.digits.DigitsDataModule", "init_args": {"batch_size": 32}}


def _fit(root: Path, name: str, model: dict, loggers: list[dict], **trainer: object) -> None:
    config = {
        "seed_everything": 0,
        "trainer": {**TRAINER, **trainer, "logger": loggers, "callbacks": [EVALUATION]},
        "model": model, "data": DIGITS, "samples": {"every_n_epochs": 100},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0


def _csv_logger(root: Path, name: str) -> dict:
    return {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": str(root), "name": name}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny trainings on the digits, evaluated every epoch.

    alpha logs generator_step every batch to CSV, TensorBoard and W&B (offline) at once; beta never
    logs it (fewer batches than log_every_n_steps) and takes 2 D steps per G step; gamma is an f-GAN.
    """
    import wandb

    root = tmp_path_factory.mktemp("compare-runs")
    loggers = [
        _csv_logger(root, "alpha"),
        {"class_path": "pytorch_lightning.loggers.TensorBoardLogger", "init_args": {"save_dir": str(root / "tb"), "name": "alpha"}},
        {"class_path": "pytorch_lightning.loggers.WandbLogger",
         "init_args": {"save_dir": str(root / "wb"), "project": "compare", "offline": True}},
    ]
    with pytest.MonkeyPatch.context() as patch:  # WandbLogger(offline=True) rewrites WANDB_MODE; keep it to this run
        patch.setenv("WANDB_MODE", "offline")
        _fit(root, "alpha", {"class_path": "zoo.models.vanilla.VanillaGAN", "init_args": TINY_VANILLA}, loggers, log_every_n_steps=1)
        wandb.finish()  # flush the offline run file before it is read
    _fit(root, "beta", {"class_path": "zoo.models.vanilla.VanillaGAN", "init_args": {**TINY_VANILLA, "d_steps_per_g_step": 2}},
         [_csv_logger(root, "beta")])
    fgan = {"class_path": "zoo.models.fgan.FGAN", "init_args": {"divergence": "kl", "data_shape": [1, 8, 8], "latent_dim": 8,
                                                                 "g_hidden": [16], "v_hidden": [16]}}
    _fit(root, "gamma", fgan, [_csv_logger(root, "gamma")], log_every_n_steps=3)
    return {
        "alpha": root / "alpha" / "version_0", "beta": root / "beta" / "version_0", "gamma": root / "gamma" / "version_0",
        "alpha-tb": root / "tb" / "alpha" / "version_0", "alpha-wandb": next((root / "wb" / "wandb").glob("offline-run-*")),
    }


def _csv(path: Path) -> list[dict[str, str]]:
    with (path / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _logged(path: Path, key: str) -> list[tuple[int, float]]:
    return [(int(row["step"]), float(row[key])) for row in _csv(path) if row.get(key)]


def _checkpoint_generator_steps(path: Path) -> int:
    import torch

    return torch.load(path / "checkpoints" / "last.ckpt", weights_only=False)["zoo"]["generator_steps"]


def _markdown_rows(path: Path) -> dict[str, dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: dict(zip(header, row)) for row in rows}


def _assert_png(path: Path) -> None:
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_table_and_plot_match_the_logs(runs: dict[str, Path], tmp_path: Path) -> None:
    out, table = tmp_path / "plots" / "compare.png", tmp_path / "compare.md"
    sources = [str(runs[name]) for name in ("alpha", "beta", "gamma")]
    assert main(["compare", *sources, "--metric", "parzen", "--out", str(out), "--markdown", str(table)]) == 0
    _assert_png(out)
    rows = _markdown_rows(table)
    assert set(rows) == {"alpha/version_0", "beta/version_0", "gamma/version_0"}
    for name in ("alpha", "beta", "gamma"):
        row, parzen = rows[f"{name}/version_0"], [value for _, value in _logged(runs[name], "eval/parzen")]
        assert len(parzen) == TRAINER["max_epochs"]
        assert row["parzen final"] == f"{parzen[-1]:.4f}"
        assert row["parzen best ↑"] == f"{max(parzen):.4f}"
        assert row["G steps"] == str(_checkpoint_generator_steps(runs[name]))
    # best ≠ final is covered by test_best_follows_the_metric_direction: whether these tiny runs' curves
    # peak before their end depends on the training code (it changed when f-GAN's update was fixed).
    assert rows["alpha/version_0"]["paper"] == "Goodfellow et al. 2014"
    assert rows["alpha/version_0"]["dataset"] == "Digits"
    assert rows["alpha/version_0"]["variant"] == "—"
    assert rows["beta/version_0"]["variant"] == "d_steps_per_g_step=2"
    assert rows["gamma/version_0"]["paper"] == "Nowozin et al. 2016"
    assert rows["gamma/version_0"]["variant"] == "divergence=kl"


def test_eval_points_sit_at_the_generator_step_of_their_batch(runs: dict[str, Path]) -> None:
    alpha = read_run(str(runs["alpha"]))
    generator = dict(_logged(runs["alpha"], "generator_step"))
    expected = [(round(generator[step]), value) for step, value in _logged(runs["alpha"], "eval/parzen")]
    assert alpha.curve("eval/parzen") == expected
    # beta logged no generator_step: its checkpoint's ratio of G steps to batches places the points.
    beta = read_run(str(runs["beta"]))
    assert not _logged(runs["beta"], "generator_step")
    assert [g for g, _ in beta.curve("eval/parzen")] == [2, 4, 6]  # 4 batches an epoch, 2 D steps per G step
    # gamma logged it every third batch: epoch ends in between are interpolated, exactly for a fixed ratio.
    gamma = read_run(str(runs["gamma"]))
    assert [g for g, _ in gamma.curve("eval/parzen")] == [4, 8, 12]


@pytest.mark.parametrize("reader", ["alpha-tb", "alpha-wandb"])
def test_tensorboard_and_offline_wandb_logs_read_as_the_csv(runs: dict[str, Path], reader: str) -> None:
    from_csv, other = read_run(str(runs["alpha"])), read_run(str(runs[reader]))
    assert len(from_csv.curve("eval/parzen")) == TRAINER["max_epochs"]
    assert [(g, pytest.approx(v, abs=1e-6)) for g, v in other.curve("eval/parzen")] == from_csv.curve("eval/parzen")
    assert other.generator_steps() == from_csv.generator_steps() == _checkpoint_generator_steps(runs["alpha"])
    assert other.final("eval/parzen") == pytest.approx(from_csv.final("eval/parzen"), abs=1e-6)


def test_a_folder_of_runs_expands_to_the_runs_below_it(runs: dict[str, Path], tmp_path: Path) -> None:
    root = runs["alpha"].parents[1]
    found = expand([str(root), str(runs["alpha"])])
    assert sorted(found) == sorted(str(runs[name]) for name in ("alpha", "beta", "gamma", "alpha-tb", "alpha-wandb"))
    table = tmp_path / "all.md"
    assert main(["compare", str(root), "--out", str(tmp_path / "all.png"), "--markdown", str(table)]) == 0
    # alpha's CSV and TensorBoard logs share a name, so both are named by their paths below root.
    assert {"alpha/version_0", "tb/alpha/version_0", "beta/version_0", "gamma/version_0"} <= set(_markdown_rows(table))
    assert len(_markdown_rows(table)) == 5


def test_best_follows_the_metric_direction() -> None:
    rows = [{"step": 9.0, "generator_step": 10.0, "eval/fid": 30.0, "eval/is": 2.0},
            {"step": 19.0, "generator_step": 20.0, "eval/fid": 20.0, "eval/is": 3.0},
            {"step": 29.0, "generator_step": 30.0, "eval/fid": 25.0, "eval/is": 2.5, "eval/custom": 1.0}]
    run = Run("synthetic", "-", rows)
    assert (run.final("eval/fid"), run.best("eval/fid")) == (25.0, 20.0)
    assert (run.final("eval/is"), run.best("eval/is")) == (2.5, 3.0)
    assert run.best("eval/custom") is None  # no known direction, no "best"
    assert run.curve("eval/fid") == [(10, 30.0), (20, 20.0), (30, 25.0)]


def test_results_table_from_the_committed_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, table = tmp_path / "results.png", tmp_path / "results.md"
    files = sorted(str(path) for path in (REPO / "results").glob("*.json"))
    assert main(["compare", "--results", *files, "--out", str(out), "--markdown", str(table)]) == 0
    text = table.read_text()
    records = [json.loads(Path(path).read_text()) for path in files]
    from zoo.compare.results import is_table

    tables = [record for record in records if is_table(record)]
    assert {"gan2014-table1", "fgan-table4"} <= {record["table"] for record in tables}
    for record in tables:
        for row in record["rows"]:
            if row["ours"] is None:  # a partial table's row that never trained
                ours, steps = "—", "—"
            else:
                ours, steps = f"{row['ours']['mean']:.1f} ± {row['ours']['stderr']:.1f}", row["ours"]["generator_steps"]
            paper = "—" if row["paper"] is None else f"{row['paper']['mean']:.1f} ± {row['paper']['stderr']:.1f}"
            line = f"| {record['table']} | {row['name']} | Parzen log-likelihood, nats (± stderr) | {paper} | {ours} | {row['verdict']} | "
            assert line in text and f" | {steps} |\n" in text[text.index(line):].split("\n", 1)[0] + "\n"
    assert "skipped" in capsys.readouterr().out  # e.g. parzen_speed.json holds no table
    has_curves = any(row.get("curve") for record in tables for row in record["rows"])
    assert out.exists() == has_curves


def test_results_curves_are_plotted(tmp_path: Path) -> None:
    record = json.loads((REPO / "results" / "gan2014-table1.json").read_text())
    for row in record["rows"]:
        row["curve"] = [{"generator_steps": g, "mean": m, "stderr": 1.5} for g, m in ((1000, 20.0), (2000, 45.0), (4000, 60.7))]
    source, out = tmp_path / "with-curve.json", tmp_path / "curves.png"
    source.write_text(json.dumps(record))
    assert main(["compare", "--results", str(source), "--out", str(out), "--markdown", str(tmp_path / "t.md")]) == 0
    _assert_png(out)


def test_results_rows_can_be_chosen_and_curves_drawn_against_epochs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from zoo.compare.results import curves_by_metric, select_rows
    from zoo.compare.tables import PARZEN

    record = json.loads((REPO / "results" / "fgan-table4.json").read_text())
    small_batch = {**record, "table": "fgan-table4-batch512"}  # as if trained at 8× the updates per epoch
    small_batch["rows"] = [{**row, "curve": [{**p, "generator_steps": 8 * p["generator_steps"]} for p in row["curve"]]}
                           for row in record["rows"]]
    tables = select_rows([record, small_batch], ["gan", "REVERSE kl"])
    assert [[row["name"] for row in table["rows"]] for table in tables] == [["GAN", "Reverse KL"]] * 2
    by_epoch, by_step = curves_by_metric(tables, "epoch")[PARZEN], curves_by_metric(tables, "generator_steps")[PARZEN]
    assert by_epoch["fgan-table4: GAN"] == by_epoch["fgan-table4-batch512: GAN"]  # same data seen
    assert [p[0] for p in by_step["fgan-table4-batch512: GAN"]] == [8 * p[0] for p in by_step["fgan-table4: GAN"]]
    assert [p[0] for p in by_epoch["fgan-table4: GAN"]] == [p["epoch"] for p in record["rows"][0]["curve"]]

    source, out, table = tmp_path / "batch512.json", tmp_path / "by-epoch.png", tmp_path / "t.md"
    source.write_text(json.dumps(small_batch))
    args = ["compare", "--results", str(REPO / "results" / "fgan-table4.json"), str(source), "--rows", "GAN", "--x", "epoch"]
    assert main([*args, "--out", str(out), "--markdown", str(table)]) == 0
    _assert_png(out)
    lines = [line for line in table.read_text().splitlines() if line.startswith("| fgan")]
    assert len(lines) == 2 and all("| GAN |" in line for line in lines)
    assert main([*args[:-4], "--rows", "Wasserstein", "--out", str(out), "--markdown", str(table)]) == 2
    error = capsys.readouterr().err.strip()
    assert "no row named wasserstein" in error and "Reverse KL" in error and "\n" not in error


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    cases = {
        str(tmp_path / "missing"): "no run at",
        str(tmp_path): "holds no run",
        "someone/gan-zoo/abc123": "WANDB_MODE=offline",
    }
    for source, message in cases.items():
        assert main(["compare", source, "--out", str(tmp_path / "x.png"), "--markdown", str(tmp_path / "x.md")]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and "\n" not in error
    assert main(["compare", "--results", str(REPO / "results" / "parzen_speed.json")]) == 2
    assert "reproduced table" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare"])


def test_unknown_metric_names_what_was_logged(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    outputs = ["--out", str(tmp_path / "x.png"), "--markdown", str(tmp_path / "x.md")]
    assert main(["compare", str(runs["alpha"]), "--metric", "fid", *outputs]) == 2
    error = capsys.readouterr().err
    assert "'fid'" in error and "eval/parzen" in error


def test_a_partial_table_is_a_table_and_an_unstarted_one_is_not() -> None:
    from zoo.compare.results import is_table, table_rows

    done = {"name": "GAN", "paper": {"mean": 305.0, "stderr": 9.0}, "ours": {"mean": -108.1, "stderr": 1.0, "generator_steps": 1400},
            "verdict": "not reproduced"}
    waiting = {"name": "Total variation", "paper": None, "ours": None, "verdict": "not started"}
    assert is_table({"rows": [done, waiting]}) and not is_table({"rows": [waiting]})
    assert not is_table({"rows": [{"name": "all", "ours": {"fid": 494.2}}]})  # several metrics, no one "mean"
    _, rows = table_rows([{"table": "fgan-table4", "rows": [done, waiting]}])
    parzen = "Parzen log-likelihood, nats (± stderr)"
    assert rows == [["fgan-table4", "GAN", parzen, "305.0 ± 9.0", "-108.1 ± 1.0", "not reproduced", "—", "1400"],
                    ["fgan-table4", "Total variation", parzen, "—", "—", "not started", "—", "—"]]
    rising = {**done, "curve": [{"mean": float(v), "generator_steps": v} for v in range(10)]}  # read from the curve
    assert table_rows([{"table": "t", "rows": [rising]}])[1][0][6].startswith("rising (+")


def test_every_kind_of_reproduced_table_reads_into_comparison_rows(tmp_path: Path) -> None:
    from zoo.compare.results import curves_by_metric, read_tables, table_rows
    from zoo.compare.tables import improved_rows

    improved = {"table": "improved-gan-mnist-softplus", "rows": [{
        "labels": 100, "paper_errors": 93, "paper_errors_std": 6.5, "ours_errors": 150.0, "ours_errors_std": 10.0,
        "epochs": 2, "status": "partial", "verdict": "not reproduced",
        "per_seed": [{"curve": [{"epoch": 1, "generator_steps": 599, "mean": 300.0}, {"epoch": 2, "generator_steps": 1198, "mean": 140.0}]},
                     {"curve": [{"epoch": 1, "generator_steps": 599, "mean": 500.0}, {"epoch": 2, "generator_steps": 1198, "mean": 160.0},
                                {"epoch": 3, "generator_steps": 1797, "mean": 90.0}]}]}]}
    seed = {"trace_modes_covered": {"0": 1, "100": 8}, "trace_high_quality_fraction": {"0": 0.0, "50": 0.5, "100": 0.9}}
    mixtures = {"table": "unrolled-mixtures", "rows": [{
        "mixture": "ring", "unroll_steps": 10, "num_modes": 8, "generator_steps": 100, "modes_covered": {"mean": 7.5},
        "high_quality_fraction": {"mean": 0.93}, "seeds": [seed, {"trace_modes_covered": {"0": 2, "100": 7},
                                                                  "trace_high_quality_fraction": {"0": 0.1, "100": 0.95}}]}]}
    stacked = {"table": "unrolled-stacked-mnist", "rows": [{
        "d_size": 0.25, "unroll_steps": 0, "generator_steps": 2000, "modes_covered": {"mean": 40.0}, "kl_to_uniform": {"mean": 5.5},
        "paper_unverified": {"modes_covered": 30.6, "modes_covered_pm": 20.73, "kl_to_uniform": 5.99, "kl_to_uniform_pm": 0.42}}]}
    paths = []
    for record in (improved, mixtures, stacked):
        paths.append(tmp_path / f"{record['table']}.json")
        paths[-1].write_text(json.dumps(record))
    tables, skipped = read_tables([str(p) for p in paths])
    assert skipped == []
    _, rows = table_rows(tables)
    assert rows[0][:6] == ["improved-gan-mnist-softplus", "100 labels", "test errors of 10,000 (± std over seeds)",
                           "93.0 ± 6.5", "150.0 ± 10.0", "not reproduced, partial (2 epochs)"]
    assert rows[0][7] == "1198"  # the seeds' common epochs end at 2
    assert rows[1][1:6] == ["ring, K = 10", "modes covered of 8 (mean over seeds)", "—", "7.5", "high-quality 0.93"]
    assert rows[2][1:6] == ["ring, K = 10", "high-quality fraction, within 3σ of a centre (mean over seeds)", "—", "0.930", ""]
    assert rows[3][1:6] == ["D 0.25, K = 0", "modes of 1000 (paper: unverified, ± as printed)", "30.6 ± 20.7", "40.0", "KL 5.50"]
    plots = curves_by_metric(tables)
    assert plots["test errors of 10,000 (± std over seeds)"]["improved-gan-mnist-softplus: 100 labels"] == [
        (599.0, 400.0, pytest.approx(100.0)), (1198.0, 150.0, pytest.approx(10.0))]  # mean ± stderr over the two seeds
    assert plots["modes covered of 8 (mean over seeds)"]["unrolled-mixtures: ring, K = 10"] == [(0.0, 1.5, 0.0), (100.0, 7.5, 0.0)]
    assert plots["high-quality fraction, within 3σ of a centre (mean over seeds)"]["unrolled-mixtures: ring, K = 10"] == [
        (0.0, pytest.approx(0.05), 0.0), (100.0, pytest.approx(0.925), 0.0)]  # only the steps both seeds traced
    assert len(plots) == 3  # the stacked table has no curve
    one_seed = {**improved, "rows": [{**improved["rows"][0], "per_seed": [
        {"curve": [{"epoch": e, "generator_steps": 599 * e, "mean": 100.0 - e} for e in range(1, 11)]}]}]}
    (row,) = table_rows([{"table": "t", "rows": improved_rows(one_seed)}])[1]
    assert row[6].startswith("falling")  # a one-seed curve has no spread over seeds, and still a trend


def test_lapgan_fgan_table3_and_reconstruction_tables_read_into_comparison_rows(tmp_path: Path) -> None:
    from zoo.compare.results import read_tables, table_rows

    lapgan = {"table": "lapgan-mnist", "rows": {
        "gan": {"name": "gan", "mean": 135.6, "stderr": 1.5, "generator_steps": 15000, "status": "complete"},
        "lapgan": {"name": "lapgan", "mean": None, "stderr": None, "generator_steps": 0, "status": "not started"}}}
    table3 = {"experiment": "f-GAN Table 3", "steps": 8000, "rows": [
        {"divergence": "kl", "label": "Kullback-Leibler", "mu_star": -0.5, "sigma_star": 1.25, "mu_hat": -0.5053, "sigma_hat": 1.2496}]}
    reconstruction = {"table": "unrolled-reconstruction", "rows": [
        {"unroll_steps": k, "mse": {"mean": mse, "stderr": 0.001}, "percent_best": {"mean": best},
         "paper_cifar10": {"mse": paper, "percent_best": paper_best}, "checkpoints": [{"seed": 0, "generator_steps": 2000}]}
        for k, mse, best, paper, paper_best in ((0, 0.031, 20.0, 0.0231, 0.63), (10, 0.024, 80.0, 0.0181, 61.09))]}
    paths = []
    for name, record in (("lapgan-mnist", lapgan), ("fgan-table3", table3), ("unrolled-reconstruction", reconstruction)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(record))
    tables, skipped = read_tables([str(p) for p in paths])
    assert skipped == [] and [t["table"] for t in tables] == ["lapgan-mnist", "fgan-table3", "unrolled-reconstruction"]
    _, rows = table_rows(tables)
    assert rows[0][1:6] == ["gan", "Parzen log-likelihood, nats (± stderr)", "—", "135.6 ± 1.5", "complete"]
    assert rows[1][4] == "—"  # the LAPGAN row has no number yet
    assert rows[2][1] == "Kullback-Leibler" and rows[2][5] == "μ* = -0.500" and rows[3][5] == "σ* = 1.250"
    assert rows[4][1:5] == ["K = 0", "reconstruction MSE per pixel (± stderr; lower is better)", "—", "0.031 ± 0.001"]
    assert rows[5][5] == "best on 80.0% of images (paper, CIFAR-10: MSE 0.0181, 61.09%)"
