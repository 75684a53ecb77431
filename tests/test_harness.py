"""The evaluation harness: one process or two give the same numbers; metrics route correctly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO, subprocess_env, tiny_vanilla
from zoo.data.digits import DigitsDataModule
from zoo.data.folders import ImageFolderDataModule, LSUNDataModule
from zoo.data.toy2d import MixtureDataModule
from zoo.errors import ZooConfigError
from zoo.eval.cache import datamodule_cache_key
from zoo.eval.harness import Distributed, chunked_map, evaluate, generate_samples
from zoo.eval.parzen import evaluate_parzen


class SimulatedRank(Distributed):
    """Rank ``rank`` of ``world``; all_gather records this rank's share and returns ``shares``."""

    def __init__(self, rank, world, shares=None):
        self.rank, self.world_size, self.shares, self.sent = rank, world, shares, None

    def all_gather(self, tensor):
        self.sent = tensor
        return torch.stack(self.shares) if self.shares is not None else torch.stack([tensor] * self.world_size)


def test_chunked_map_over_ranks_equals_one_process():
    def fn(a, b):
        return torch.arange(a, b, dtype=torch.float64)[:, None] * torch.tensor([1.0, -1.0], dtype=torch.float64)

    single = chunked_map(fn, 23, 4, Distributed())
    shares = []
    for rank in range(3):
        ranked = SimulatedRank(rank, 3)
        chunked_map(fn, 23, 4, ranked)
        shares.append(ranked.sent)
    for rank in range(3):
        torch.testing.assert_close(chunked_map(fn, 23, 4, SimulatedRank(rank, 3, shares)), single, rtol=0, atol=0)


def test_samples_depend_on_the_seed_not_on_the_batch_size():
    model = tiny_vanilla(g_output="linear", data_shape=(2,))
    first = generate_samples(model, 37, seed=3, batch_size=5)
    assert torch.equal(first, generate_samples(model, 37, seed=3, batch_size=5))
    torch.testing.assert_close(first, generate_samples(model, 37, seed=3, batch_size=37))
    assert not torch.equal(first, generate_samples(model, 37, seed=4, batch_size=5))


def test_parzen_through_the_harness_matches_the_direct_protocol():
    torch.manual_seed(0)
    model, data = tiny_vanilla(), DigitsDataModule()
    data.setup()
    record = evaluate(model, data, ["parzen"], num_samples=300, seed=1, protocol=None)["parzen"]
    samples = generate_samples(model, 300, seed=1)
    direct = evaluate_parzen(samples, data.split_tensors("val"), data.split_tensors("test"))
    assert record["sigma"] == pytest.approx(direct.sigma)
    assert record["value"] == pytest.approx(direct.mean, rel=1e-6)
    assert record["stderr"] == pytest.approx(direct.stderr, rel=1e-6)
    assert record["n_samples"] == 300 and record["n_points"] == 250


class PerfectRing(torch.nn.Module):
    def __init__(self, centres):
        super().__init__()
        self.centres = centres

    def forward(self, z):
        return self.centres[torch.arange(len(z)) % len(self.centres)] + 0.01 * z[:, :2]


def test_mode_counting_through_the_harness():
    data = MixtureDataModule("ring", train_size=100, val_size=100, test_size=100)
    model = tiny_vanilla(g_output="linear", data_shape=(2,))
    model.generator = PerfectRing(data.centres)
    record = evaluate(model, data, ["modes"], num_samples=800)["modes"]
    assert record["value"] == 8 and record["high_quality_share"] > 0.99


def test_unknown_metric_and_wrong_data_fail_in_one_line():
    model, data = tiny_vanilla(), DigitsDataModule()
    with pytest.raises(ZooConfigError, match="unknown metric"):
        evaluate(model, data, ["sharpness"])
    with pytest.raises(ZooConfigError, match="2-D mixture"):
        evaluate(model, data, ["modes"])


@pytest.mark.ddp
def test_zoo_eval_on_two_processes_gives_the_numbers_of_one(tmp_path):
    env = subprocess_env()
    fit = [sys.executable, "-m", "zoo.cli", "fit", "--config", str(REPO / "configs" / "quickstart.yaml"),
           "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1",
           "--trainer.enable_progress_bar", "false"]
    subprocess.run(fit, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    checkpoint = tmp_path / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    scores = {}
    for devices in ("1", "2"):
        out = tmp_path / f"eval{devices}.json"
        command = [sys.executable, "-m", "zoo.cli", "eval", "--ckpt", str(checkpoint), "--metrics", "parzen",
                   "--num-samples", "1100", "--devices", devices, "--accelerator", "cpu", "--out", str(out)]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        scores[devices] = json.loads(out.read_text())
    one, two = scores["1"]["results"]["parzen"], scores["2"]["results"]["parzen"]
    assert scores["2"]["settings"]["devices"] == 2
    assert scores["1"]["checkpoint"].endswith("last.ckpt") and not scores["1"]["checkpoint"].startswith("/")
    assert str(tmp_path) not in (tmp_path / "eval1.json").read_text()
    assert two["sigma"] == one["sigma"] and two["n_samples"] == one["n_samples"] == 1100
    assert two["value"] == pytest.approx(one["value"], rel=1e-6, abs=0)
    assert two["stderr"] == pytest.approx(one["stderr"], rel=1e-6, abs=0)


def test_discriminator_feature_svm_through_the_harness():
    from zoo.models.dcgan import DCGAN

    class TinyDigits32(DigitsDataModule):
        """Digits upsampled to 32×32 in [-1, 1], so a DCGAN discriminator can read them."""

        sample_shape = (1, 32, 32)

        def setup(self, stage=None):
            super().setup(stage)
            for name in ("train_set", "val_set", "test_set"):
                images, labels = getattr(self, name).tensors
                upsampled = torch.nn.functional.interpolate(images, size=32, mode="nearest")
                setattr(self, name, torch.utils.data.TensorDataset(upsampled, labels))

    torch.manual_seed(0)
    model = DCGAN(image_size=32, channels=1, latent_dim=8, g_width=8, d_width=8)
    record = evaluate(model, TinyDigits32(value_range=(-1.0, 1.0)), ["dfeat-svm"])["dfeat-svm"]
    assert record["n_train"] == 1297 and record["n_test"] == 250
    assert record["value"] == record["accuracy"] > 0.6  # random conv features already separate digits


class PixelFeatures(torch.nn.Module):
    """A fixed random projection of the pixels: features for FID/KID and logits for IS."""

    num_features = 16

    def __init__(self):
        super().__init__()
        self.projection = torch.nn.Linear(64, 16)
        self.head = torch.nn.Linear(16, 10)

    def features(self, images):
        return self.projection(images.float().mean(1).flatten(1) if images.shape[-1] == 8 else
                               torch.nn.functional.interpolate(images.float().mean(1, keepdim=True), size=8).flatten(1))

    def logits(self, images):
        return self.head(self.features(images))

    forward = features


@pytest.mark.parametrize("metric", ["fid", "kid", "is"])
def test_fidelity_metrics_through_the_harness_with_a_custom_extractor(metric, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    torch.manual_seed(0)
    record = evaluate(tiny_vanilla(), DigitsDataModule(), [metric], num_samples=200, feature_extractor=PixelFeatures())[metric]
    assert record["n_fake"] == 200 and torch.isfinite(torch.tensor(record["value"]))
    if metric != "is":
        assert record["n_real"] == 1297
        assert record["value"] > 0  # an untrained generator is far from the data


# ------------------------------------------------------------------ cached real statistics: keyed on the data


def image_folder(path, brightness, count=40):
    """``count`` 8×8 grey PNGs around ``brightness`` (0..255), so two folders differ in their statistics."""
    from PIL import Image

    path.mkdir(parents=True)
    generator = np.random.default_rng(brightness)
    for index in range(count):
        pixels = np.clip(generator.normal(brightness, 40, size=(8, 8)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(path / f"{index:03d}.png")
    return path


def folder_data(folder, **kwargs):
    return ImageFolderDataModule(str(folder), image_size=8, channels=1, value_range=(0.0, 1.0), val_fraction=0.0, **kwargs)


def test_cache_keys_tell_apart_categories_folders_roots_and_ranges(tmp_path):
    bedroom = datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path)))
    assert bedroom == datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path), batch_size=7, num_workers=2))
    assert bedroom != datamodule_cache_key(LSUNDataModule("church_outdoor", data_root=str(tmp_path)))
    assert bedroom != datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path / "other")))
    assert bedroom != datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path), image_size=32))
    assert bedroom != datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path), value_range=(0.0, 1.0)))
    assert bedroom != datamodule_cache_key(LSUNDataModule("bedroom", data_root=str(tmp_path)), split="val")
    assert folder_data(tmp_path / "a").hparams and \
        datamodule_cache_key(folder_data(tmp_path / "a")) != datamodule_cache_key(folder_data(tmp_path / "b"))
    assert datamodule_cache_key(folder_data(tmp_path / "a")) == datamodule_cache_key(folder_data(tmp_path / "x" / ".." / "a"))
    assert datamodule_cache_key(DigitsDataModule(seed=0)) != datamodule_cache_key(DigitsDataModule(seed=1))  # seed splits digits


def fail_on_read(*args, **kwargs):
    raise AssertionError("the data were read despite cached statistics")


@pytest.mark.parametrize("metric", ["fid", "kid"])
def test_two_folders_get_their_own_statistics_and_a_cache_hit_reads_no_data(metric, tmp_path, monkeypatch):
    from zoo.eval.fidelity import compute_fid, compute_kid

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    dark, bright = image_folder(tmp_path / "dark", 60), image_folder(tmp_path / "bright", 110)
    model, extractor = tiny_vanilla(), PixelFeatures()
    samples = generate_samples(model, 64, seed=0)
    direct = compute_fid if metric == "fid" else compute_kid
    records, expected = {}, {}
    for name, folder in (("dark", dark), ("bright", bright)):
        records[name] = evaluate(model, folder_data(folder), [metric], num_samples=64, feature_extractor=extractor)[metric]
        real = folder_data(folder).split_tensors("train")
        expected[name] = direct(samples, real, extractor, n_fake=64, n_real=None, batch_size=500)["value"]
        assert records[name]["n_real"] == 40 and records[name]["n_fake"] == 64
        assert records[name]["value"] == pytest.approx(expected[name], rel=1e-3)  # KID: float32 cancellation
    assert records["dark"]["value"] != pytest.approx(records["bright"]["value"], rel=1e-2)

    unreadable = folder_data(dark)
    for method in ("setup", "labelled_split", "split_tensors", "train_dataloader"):
        monkeypatch.setattr(unreadable, method, fail_on_read)
    again = evaluate(model, unreadable, [metric], num_samples=64, feature_extractor=extractor)[metric]
    assert again["value"] == pytest.approx(records["dark"]["value"], rel=1e-3) and again["n_real"] == 40
