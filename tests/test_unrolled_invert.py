"""`zoo latent invert`: latent optimisation finds codes that reconstruct, matches least squares for a
linear generator, never changes G, and writes its record from the command line."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tests.conftest import quiet_trainer, tiny_vanilla
from zoo.core.prior import NoisePrior
from zoo.data.toy2d import MixtureDataModule
from zoo.errors import ZooConfigError
from zoo.latent.invert import invert, select_images


def linear_model() -> SimpleNamespace:
    torch.manual_seed(0)
    return SimpleNamespace(generator=nn.Linear(3, 10), ema=None, prior=NoisePrior(3), device=torch.device("cpu"))


def test_codes_in_the_generators_range_are_recovered():
    model = linear_model()
    weights = {k: v.clone() for k, v in model.generator.state_dict().items()}
    with torch.no_grad():
        images = model.generator(torch.randn(5, 3))
    codes, errors = invert(model, images, steps=2000, lr=0.05)
    assert errors.max() < 1e-8
    torch.testing.assert_close(model.generator(codes), images, atol=1e-3, rtol=0)
    assert all(torch.equal(v, weights[k]) for k, v in model.generator.state_dict().items())
    assert model.generator.training  # eval mode only while searching


def test_images_off_the_range_get_the_least_squares_error():
    model = linear_model()
    images = torch.randn(4, 10)
    _, errors = invert(model, images, steps=3000, lr=0.05)
    weight, bias = model.generator.weight.detach(), model.generator.bias.detach()
    solution = torch.linalg.lstsq(weight, (images - bias).T).solution.T
    best = (solution @ weight.T + bias - images).pow(2).mean(1)
    torch.testing.assert_close(errors, best, rtol=1e-3, atol=1e-7)
    assert (errors > 1e-3).all()  # a 3-d code cannot reach a random 10-d point


def test_image_specs():
    data = MixtureDataModule("ring", train_size=100, val_size=10, test_size=10)
    first, source = select_images(data, "train:7", seed=1)
    again, _ = select_images(data, "train:7", seed=1)
    assert first.shape == (7, 2) and torch.equal(first, again) and source == "train:7 (seed 1)"
    assert not torch.equal(first, select_images(data, "train:7", seed=2)[0])
    for bad in ("train", "weights:3", "test:0", "missing.pt"):
        with pytest.raises(ZooConfigError):
            select_images(data, bad)


def test_command_writes_the_errors_and_the_worst_reconstructions(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from zoo.data.digits import DigitsDataModule
    from zoo.latent.command import main

    torch.manual_seed(0)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    quiet_trainer(max_steps=2, enable_checkpointing=True, callbacks=[checkpoint]).fit(
        tiny_vanilla(), datamodule=DigitsDataModule(batch_size=16))
    out = tmp_path / "invert.png"
    assert main(["invert", "--ckpt", str(tmp_path / "last.ckpt"), "--images", "train:6", "--steps", "5", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["n_images"] == 6 and len(record["mse"]["per_image"]) == 6 and record["settings"]["steps"] == 5
    assert record["mse"]["mean"] == pytest.approx(sum(record["mse"]["per_image"]) / 6, rel=1e-4)
    assert out.stat().st_size > 0 and str(tmp_path) not in out.with_suffix(".json").read_text()
