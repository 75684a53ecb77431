"""W&B: what an offline run writes, read back from wandb's own run file (no mocks, no network).

One tiny f-GAN run on the digits (with ``log_model``) and one tiny GAN on the 2-D ring (without);
both through ``zoo fit --config … --config configs/loggers/wandb.yaml``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from zoo.cli import main
from zoo.run_folder import RUN_FOLDER_ENV
from zoo.compare.wandb_runs import _records

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WANDB_CONFIG = str(REPO / "configs" / "loggers" / "wandb.yaml")
TRAINER = {"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 1, "accelerator": "cpu",
           "enable_progress_bar": False, "enable_model_summary": False}
FGAN = {"class_path": "zoo.models.fgan.FGAN",
        "init_args": {"divergence": "kl", "data_shape": [1, 8, 8], "latent_dim": 8, "g_hidden": [16], "v_hidden": [16]}}
DIGITS = {"class_path": "zoo.data.digits.DigitsDataModule", "init_args": {"batch_size": 32}}
EVALUATION = {"class_path": "zoo.callbacks.Evaluation", "init_args": {"metrics": ["parzen"], "protocol": None, "num_samples": 200}}


def _offline_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], *extra: str) -> Path:
    """Train with the W&B logger config, offline; the run folder (holding ``wandb/``)."""
    import wandb

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv(RUN_FOLDER_ENV, raising=False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"seed_everything": 0, **config}))
    try:
        assert main(["fit", "--config", str(path), "--config", WANDB_CONFIG, *extra]) == 0
    finally:
        wandb.finish()  # flush the run file before it is read
        os.environ.pop(RUN_FOLDER_ENV, None)  # this run's folder, chosen in this process
    (folder,) = (tmp_path / "runs" / "gan-zoo").glob("version_*")
    return folder


def _read(folder: Path, wait_s: float = 30.0) -> dict[str, Any]:
    """Every record of the run's ``run-<id>.wandb`` that these tests look at, decoded, once the file
    ends with the run's exit record (wandb's service may still be writing when finish() returns)."""
    (run_file,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    deadline = time.monotonic() + wait_s
    while True:
        found = _decode(run_file)
        if found["exited"] or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _decode(run_file: Path) -> dict[str, Any]:
    from wandb.proto import wandb_internal_pb2

    found: dict[str, Any] = {"config": {}, "history": [], "metrics": {}, "artifacts": [], "run_dir": run_file.parent, "exited": False}
    for data in _records(run_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found["run"] = record.run
        elif kind == "config":
            found["config"].update({item.key: json.loads(item.value_json) for item in record.config.update if item.key})
        elif kind == "metric":
            found["metrics"][record.metric.name or record.metric.glob_name] = record.metric.step_metric
        elif kind == "history":
            found["history"].append({item.key or ".".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        elif kind == "artifact":
            found["artifacts"].append(record.artifact)
        elif kind == "exit":
            found["exited"] = True
    return found


@pytest.fixture(scope="module")
def fgan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    config = {"trainer": {**TRAINER, "callbacks": [EVALUATION]}, "model": FGAN, "data": DIGITS, "samples": {"every_n_epochs": 1}}
    with pytest.MonkeyPatch.context() as patch:
        folder = _offline_run(tmp_path_factory.mktemp("wandb-fgan"), patch, config, "--trainer.logger.init_args.log_model", "true")
    return folder, _read(folder)


def test_tags_group_and_name_say_paper_dataset_and_variant(fgan_run) -> None:
    run = fgan_run[1]["run"]
    assert list(run.tags) == ["paper:fgan", "dataset:digits", "divergence:kl"]
    assert run.run_group == "fgan-digits"
    assert run.display_name == "fgan-digits divergence:kl"
    assert run.project == "gan-zoo"


def test_the_run_config_is_the_full_resolved_lightning_cli_config(fgan_run) -> None:
    folder, found = fgan_run
    config = found["config"]
    saved = yaml.safe_load((folder / "config.yaml").read_text())  # what LightningCLI wrote next to the run
    for section in ("model", "data", "trainer", "samples", "checkpoint", "seed_everything"):
        assert config[section] == saved[section], section
    assert config["model"]["init_args"]["divergence"] == "kl"
    assert config["model"]["init_args"]["lr_decay"] == 1.0  # a default the YAML never named
    assert config["trainer"]["max_epochs"] == 2 and config["trainer"]["callbacks"][0]["class_path"] == "zoo.callbacks.Evaluation"
    assert config["divergence"] == "kl"  # Lightning's flat hparams stay, for readers that expect them


def test_eval_metrics_are_plotted_against_the_generator_step_of_their_row(fgan_run) -> None:
    import torch

    folder, found = fgan_run
    assert found["metrics"]["eval/parzen"] == "generator_step"
    assert found["metrics"]["*"] == "generator_step"  # replaces Lightning's trainer/global_step
    eval_rows = [row for row in found["history"] if "eval/parzen" in row]
    assert [row["generator_step"] for row in eval_rows] == [3, 6]  # 3 simultaneous updates an epoch
    (last,) = folder.rglob("last.ckpt")
    assert torch.load(last, weights_only=True)["zoo"]["generator_steps"] == eval_rows[-1]["generator_step"]
    assert all(isinstance(row["eval/parzen"], float) for row in eval_rows)


def test_sample_grids_are_logged_as_images_with_their_generator_step(fgan_run) -> None:
    folder, found = fgan_run
    images = [row for row in found["history"] if row.get("samples._type") == "image-file"]
    assert [row["generator_step"] for row in images] == [3, 6, 6]  # epoch 0, epoch 1, final
    assert images[-1]["samples.caption"].startswith("final")
    logged = found["run_dir"] / "files" / images[-1]["samples.path"]
    assert logged.read_bytes()[:8] == PNG_SIGNATURE
    assert logged.read_bytes() == (folder / "samples" / "final.png").read_bytes()


def test_log_model_uploads_the_final_checkpoint_as_an_artifact(fgan_run) -> None:
    folder, found = fgan_run
    models = [artifact for artifact in found["artifacts"] if artifact.type == "model"]
    assert models, "no model artifact"
    assert all([entry.path for entry in artifact.manifest.contents] == ["model.ckpt"] for artifact in models)
    (last,) = folder.rglob("last.ckpt")
    assert any(json.loads(artifact.metadata)["original_filename"] == last.name for artifact in models)


def test_a_2d_run_logs_scatter_plots_and_no_artifact_unless_asked(tmp_path, monkeypatch) -> None:
    config = {
        "trainer": {**TRAINER, "limit_val_batches": 0},
        "model": {"class_path": "zoo.models.unrolled.UnrolledGAN", "init_args": {"unroll_steps": 0}},
        "data": {"class_path": "zoo.data.toy2d.MixtureDataModule", "init_args": {"mixture": "ring", "batch_size": 64}},
        "samples": {"every_n_epochs": 2, "scatter_samples": 200},
    }
    folder = _offline_run(tmp_path, monkeypatch, config)
    found = _read(folder)
    assert list(found["run"].tags) == ["paper:unrolled", "dataset:mixture-ring", "unroll_steps:0"]
    assert found["run"].run_group == "unrolled-mixture-ring"
    images = [row for row in found["history"] if row.get("samples._type") == "image-file"]
    assert len(images) == 2  # epoch 1 and final
    assert (found["run_dir"] / "files" / images[-1]["samples.path"]).read_bytes() == (folder / "samples" / "final.png").read_bytes()
    assert not found["artifacts"]


@pytest.mark.parametrize(
    "config, tags, group",
    [
        ("quickstart.yaml", None, "vanilla-digits"),
        ("fgan/mnist_reverse_kl.yaml", ["paper:fgan", "dataset:mnist", "divergence:reverse_kl"], "fgan-mnist"),
        ("unrolled/grid_k5.yaml", ["paper:unrolled", "dataset:mixture-grid", "unroll_steps:5"], "unrolled-mixture-grid"),
        ("dcgan/mnist.yaml", None, "dcgan-mnist"),
    ],
)
def test_every_paper_config_gets_tags_and_a_group(config: str, tags: list[str] | None, group: str) -> None:
    from zoo.callbacks.wandb_run import run_labels

    found_tags, found_group = run_labels(yaml.safe_load((REPO / "configs" / config).read_text()))
    assert found_group == group
    paper, dataset = group.split("-", 1)
    assert found_tags[:2] == [f"paper:{paper}", f"dataset:{dataset}"]
    if tags is not None:
        assert found_tags == tags


def test_the_fgan_sweep_runs_zoo_fit_over_every_divergence(tmp_path, monkeypatch) -> None:
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.callbacks import Evaluation
    from zoo.cli import TRAINER_DEFAULTS, ZooCLI
    from zoo.objectives.divergences import DIVERGENCES

    sweep = yaml.safe_load((REPO / "configs" / "sweeps" / "fgan_divergences.yaml").read_text())
    assert sweep["metric"] == {"name": "eval/parzen", "goal": "maximize"}
    assert sorted(sweep["parameters"]["model.init_args.divergence"]["values"]) == sorted(DIVERGENCES)
    command = sweep["command"]
    assert command[:3] == ["${env}", "${program}", "fit"] and sweep["program"] == "zoo" and command[-1] == "${args}"

    monkeypatch.chdir(REPO)  # the command's config paths are relative to the repository
    monkeypatch.setenv(RUN_FOLDER_ENV, str(tmp_path / "run"))  # keep W&B's folder out of the repository
    args = [*command[3:-1], "--model.init_args.divergence=neyman"]  # what `wandb agent` puts for ${args}
    cli = ZooCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                 trainer_defaults=TRAINER_DEFAULTS, run=False, args=args)
    assert cli.model.hparams.divergence == "neyman"
    (evaluation,) = [c for c in cli.trainer.callbacks if isinstance(c, Evaluation)]
    assert evaluation.protocol == "fgan" and evaluation.metrics == ["parzen"]
    assert type(cli.trainer.logger).__name__ == "WandbLogger"
