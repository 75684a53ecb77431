"""Salimans et al. (2016) Inception-score protocol: 50k samples, 10 consecutive splits, the paper's CIFAR config."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import REPO
from tests.test_security import write_tiny_checkpoint
from zoo.errors import ZooConfigError, ZooDataError, ZooWeightsError
from zoo.eval import fidelity
from zoo.eval.inception import INCEPTION_WEIGHTS_ENV, INCEPTION_WEIGHTS_NAME, file_hash
from zoo.eval.inception_protocols import IS_PROTOCOLS, SALIMANS2016, real_cifar10_row


@pytest.fixture(autouse=True)
def no_inception_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def openai_inception_score(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """inception_score/model.py of openai/improved-gan, on softmax predictions of ``logits``."""
    preds = np.exp(logits - logits.max(1, keepdims=True))
    preds /= preds.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_the_protocol_is_the_papers():
    assert IS_PROTOCOLS["salimans2016"] is SALIMANS2016
    assert (SALIMANS2016.n_samples, SALIMANS2016.splits, SALIMANS2016.backend) == (50_000, 10, "torch-fidelity")
    rows = {row: (mean, std) for row, mean, std in SALIMANS2016.paper_rows}
    assert rows["Real data"] == (11.24, 0.12)
    assert (8.09, 0.07) in rows.values()


def test_score_over_splits_equals_the_reference_code_on_fixed_logits():
    generator = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(50_000, 10, generator=generator)
    logits[:25_000, :5] += 2.0  # the first half leans to classes 0-4: consecutive and shuffled splits differ
    logits[25_000:, 5:] += 2.0 * torch.linspace(0, 1, 25_000)[:, None]
    mean, std = openai_inception_score(logits.double().numpy(), splits=10)
    record = SALIMANS2016.score(logits, (0.0, 1.0), feature_extractor=nn.Identity())
    assert record["value"] == pytest.approx(mean, rel=1e-6)
    assert record["std"] == pytest.approx(std, rel=1e-5)
    assert (record["n_fake"], record["splits"], record["shuffled"], record["backend"]) == (50_000, 10, False, "torch-fidelity")
    assert record["protocol"] == "salimans2016" and record["protocol_spec"]["n_samples"] == 50_000
    # the checks above would catch a permuted order or the unbiased std
    shuffled = logits[torch.randperm(50_000, generator=generator)].double().numpy()
    assert abs(openai_inception_score(shuffled, 10)[0] - mean) > 1e-3 * mean
    assert abs(std * np.sqrt(10 / 9) - std) > 1e-5 * std
    with pytest.raises(ZooConfigError, match="scores 50000 images, got 49999"):
        SALIMANS2016.score(logits[:-1], (0.0, 1.0), feature_extractor=nn.Identity())
    with pytest.raises(ZooConfigError, match="backend='torch-fidelity'"):
        fidelity.compute_inception_score(logits[:100], nn.Identity(), backend="torchmetrics", shuffle=False)


def test_the_protocol_scores_through_the_inception_network(random_inception_weights):
    """The Inception path on the backends' network with random weights (no download): 4 images, 2 splits."""
    weights = random_inception_weights
    small = dataclasses.replace(SALIMANS2016, n_samples=4, splits=2)
    with pytest.warns(UserWarning, match="will not be comparable"):
        record = small.score(torch.rand(4, 3, 32, 32) * 2 - 1, (-1.0, 1.0), str(weights), batch_size=2)
    assert np.isfinite(record["value"]) and record["value"] >= 1.0 - 1e-4 and record["shuffled"] is False
    assert record["weights_file"] == "random-inception.pth" and record["weights_sha256"] == file_hash(weights)
    assert record["feature_extractor"].startswith("inception-v3-compat-logits_unbiased-")


def test_zoo_eval_sends_50k_samples_and_10_splits_to_the_metric(checkpoint, tmp_path, monkeypatch):
    from zoo.eval.command import main

    weights = tmp_path / INCEPTION_WEIGHTS_NAME
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    calls = []

    def fake_inception_score(images, **kwargs):
        calls.append((images, kwargs))
        return {"metric": "is", "value": 7.0, "std": 0.1, "n_real": None, "n_fake": len(images),
                "feature_extractor": "stand-in", "weights_sha256": "0" * 12, "backend": kwargs["backend"],
                "splits": kwargs["splits"], "shuffled": kwargs["shuffle"]}

    monkeypatch.setattr(fidelity, "compute_inception_score", fake_inception_score)
    out = tmp_path / "eval.json"
    assert main(["--ckpt", str(checkpoint), "--metrics", "is", "--protocol", "salimans2016", "--accelerator", "cpu",
                 "--out", str(out)]) == 0
    (images, kwargs), = calls
    assert images.shape == (50_000, 1, 8, 8)
    assert (kwargs["n_fake"], kwargs["splits"], kwargs["shuffle"]) == (50_000, 10, False)
    assert (kwargs["backend"], kwargs["feature_extractor"]) == ("torch-fidelity", "inception")
    record = json.loads(out.read_text())
    result = record["results"]["is"]
    assert record["settings"]["protocol"] == "salimans2016" and result["protocol"] == "salimans2016"
    assert (result["n_fake"], result["splits"], result["backend"]) == (50_000, 10, "torch-fidelity")
    assert result["weights_file"] == INCEPTION_WEIGHTS_NAME and result["weights_sha256"] == "0" * 12
    assert result["protocol_spec"]["splits"] == 10 and "consecutive" in result["protocol_spec"]["split_rule"]


def test_missing_weights_stop_zoo_eval_in_one_line_before_the_checkpoint_is_read(tmp_path, capsys):
    from zoo.cli import main as zoo_main

    args = ["eval", "--ckpt", str(tmp_path / "absent.ckpt"), "--metrics", "is", "--protocol", "salimans2016"]
    assert zoo_main(args) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and INCEPTION_WEIGHTS_NAME in lines[0] and INCEPTION_WEIGHTS_ENV in lines[0]
    assert "absent.ckpt" not in lines[0]


@pytest.mark.parametrize("options, message", [
    (["--metrics", "is,fid"], "use it with --metrics is alone"),
    (["--metrics", "is", "--num-samples", "5000"], "scores 50000 samples, got --num-samples 5000"),
    (["--metrics", "is", "--feature-extractor", "mnist-classifier"], "uses the 2015-12-05 Inception"),
])
def test_options_that_break_the_protocol_fail_in_one_line(options, message, tmp_path, capsys):
    from zoo.cli import main as zoo_main

    assert zoo_main(["eval", "--ckpt", str(tmp_path / "absent.ckpt"), "--protocol", "salimans2016", *options]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_real_cifar10_row_needs_data_then_weights_each_in_one_line(tmp_path):
    with pytest.raises(ZooDataError) as missing_data:
        real_cifar10_row(data_root=tmp_path)
    assert "\n" not in str(missing_data.value) and "cifar-10-batches-py" in str(missing_data.value)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"")  # never read: the weights are checked first
    with pytest.raises(ZooWeightsError) as missing_weights:
        real_cifar10_row(data_root=tmp_path)
    assert "\n" not in str(missing_weights.value) and INCEPTION_WEIGHTS_NAME in str(missing_weights.value)


def test_the_cifar10_config_builds_the_papers_techniques():
    from pytorch_lightning import LightningDataModule, LightningModule

    from zoo.cli import TRAINER_DEFAULTS, ZooCLI
    from zoo.data.cifar import CIFAR10DataModule
    from zoo.nets.tricks import MinibatchDiscriminator

    config = REPO / "configs" / "improved" / "cifar10.yaml"
    cli = ZooCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                 trainer_defaults=TRAINER_DEFAULTS, run=False, args=["--config", str(config), "--trainer.logger", "false"])
    model, data = cli.model, cli.datamodule
    assert model.generator.virtual and model.history is not None
    assert isinstance(model.discriminator, MinibatchDiscriminator)
    minibatch = model.discriminator.minibatch
    assert (minibatch.num_kernels, minibatch.kernel_dim) == (100, 5)
    assert model.hparams.real_label == 0.9 and model.hparams.g_lr == model.hparams.d_lr == 3e-4
    assert isinstance(data, CIFAR10DataModule) and data.batch_size == 100 and tuple(data.sample_shape) == (3, 32, 32)
    with torch.no_grad():
        model.eval()
        assert model.generator(torch.randn(2, 100)).shape == (2, 3, 32, 32)
