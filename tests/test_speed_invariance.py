"""The training step's speedups change no result, bit for bit.

* The zoo's loaders gather a batch of in-memory tensors with one index: the same batches, in the same
  order, as the per-sample loader they replace.
* A fixed-seed tiny vanilla GAN (SGD with momentum, dropout, maxout), DCGAN (Adam, batch norm) and
  f-GAN (simultaneous updates) trained through the Trainer end with exactly the weights of an
  independent plain loop of the same updates, started from the weights and random state the
  Trainer's first batch sees.
* Fixed-seed runs over several epochs (k = 2 D steps per G step, validation) end with the same
  weights, callback metrics and logged rows as the code before the speedups (``REFERENCE_COMMIT``,
  read from git into a temporary folder and run in a subprocess). Not f-GAN: that code never ran the
  simultaneous update (it read ``hparams.update``, which is ``dict.update``).
"""

from __future__ import annotations

import copy
import io
import math
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader, TensorDataset

from zoo.data.base import EpochSeededSampler, ZooDataModule
from zoo.data.digits import DigitsDataModule
from zoo.models.dcgan import DCGAN
from zoo.models.fgan import FGAN
from zoo.models.vanilla import VanillaGAN
from zoo.objectives.fgan_losses import fgan_discriminator_loss, fgan_generator_loss

REPO = Path(__file__).resolve().parents[1]
REFERENCE_COMMIT = "973db226ce7318cba50e571053266dc920f2d1d6"  # the last commit before the speedups of issue #14
SEED = 1234


class RandomImages(ZooDataModule):
    """96 fixed random 1×32×32 images in [−1, 1], for a DCGAN."""

    sample_shape = (1, 32, 32)

    def __init__(self, batch_size: int = 16) -> None:
        super().__init__(batch_size=batch_size, value_range=(-1.0, 1.0))

    def setup(self, stage: str | None = None) -> None:
        images = torch.rand(96, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
        self.train_set = TensorDataset(images, torch.zeros(96, dtype=torch.long))
        self.val_set = TensorDataset(images[:32], torch.zeros(32, dtype=torch.long))


def tiny_vanilla(**options) -> VanillaGAN:
    return VanillaGAN(data_shape=(1, 8, 8), latent_dim=8, g_hidden=(16,), d_hidden=(16,), d_pieces=2, **options)


def tiny_dcgan() -> DCGAN:
    return DCGAN(image_size=32, channels=1, latent_dim=8, g_width=4, d_width=4)


def tiny_fgan() -> FGAN:
    return FGAN(divergence="gan", data_shape=(1, 8, 8), latent_dim=8, g_hidden=(16,), v_hidden=(16,))


def trainer(**options) -> pl.Trainer:
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)
    return pl.Trainer(**{**defaults, **options})


# ------------------------------------------------------------------------------------ loaders
@pytest.mark.parametrize("length, batch_size, shuffle", [(100, 16, True), (96, 16, True), (10, 16, True), (100, 16, False)])
def test_a_tensor_split_loads_the_batches_of_the_per_sample_loader(length, batch_size, shuffle):
    data = ZooDataModule(batch_size=batch_size, seed=7)
    dataset = TensorDataset(torch.randn(length, 3), torch.arange(length))
    drop_last = shuffle and length >= batch_size
    sampler = EpochSeededSampler(length, seed=7) if shuffle else None
    per_sample = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    batched = data._loader(dataset, shuffle)
    assert len(batched) == len(per_sample)
    for epoch in (0, 1, 2, 5):
        iterators = iter(per_sample), iter(batched)  # Lightning makes them before it sets a run's first epoch
        for loader in (per_sample, batched):
            for holder in (loader.sampler, loader.batch_sampler):
                if hasattr(holder, "set_epoch"):
                    holder.set_epoch(epoch)
        expected, got = (list(iterator) for iterator in iterators)
        assert len(got) == len(expected) > 0
        for (x, y), (bx, by) in zip(expected, got):
            assert type(bx) is type(x) and torch.equal(bx, x) and torch.equal(by, y)
    assert batched.batch_sampler is None and batched.batch_size is None  # one index per batch, no collate


def test_under_ddp_the_loader_keeps_the_per_sample_sampler_that_lightning_shards():
    data = ZooDataModule(batch_size=8)
    data.trainer = type("Trainer", (), {"world_size": 2})()
    loader = data._loader(TensorDataset(torch.randn(40, 2)), shuffle=True)
    assert isinstance(loader.sampler, EpochSeededSampler) and isinstance(loader.batch_sampler, BatchSampler)


# ----------------------------------------------------------------------- against a plain loop
class FirstBatch(pl.Callback):
    """Reseeds the global RNG and copies both nets just before the first training batch."""

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == 0:
            torch.manual_seed(SEED)
            self.generator = copy.deepcopy(pl_module.generator)
            self.discriminator = copy.deepcopy(pl_module.discriminator)


def epoch_batches(images: Tensor, batch_size: int, seed: int, steps: int) -> list[Tensor]:
    """The first epoch's first ``steps`` batches: a permutation seeded by (seed + epoch 0), cut in order."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return [images[order[i * batch_size:(i + 1) * batch_size]] for i in range(steps)]


def plain_updates(G: nn.Module, D: nn.Module, batches: list[Tensor], noise, g_opt, d_opt, decay) -> None:
    """Algorithm 1 with k = 1 and the non-saturating G loss, written out: D on a real and a fake
    batch (BCE on logits), then G on fresh noise with D's weights frozen; each step decays its lr."""
    g_decay, d_decay = (torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in (g_opt, d_opt))
    for real in batches:
        with torch.no_grad():
            fake = G(noise(len(real)))
        real_logits, fake_logits = D(real), D(fake)
        loss = 1.0 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_opt.zero_grad(set_to_none=True)
        loss.backward()
        d_opt.step()
        d_decay.step()
        D.requires_grad_(False)
        loss = F.softplus(-D(G(noise(len(real))))).mean()
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        D.requires_grad_(True)
        g_opt.step()
        g_decay.step()


def assert_same_weights(expected: nn.Module, got: nn.Module) -> None:
    expected_state, got_state = expected.state_dict(), got.state_dict()
    assert list(expected_state) == list(got_state)
    for name, value in expected_state.items():
        assert torch.equal(value, got_state[name]), f"{name} differs"


def test_vanilla_gan_through_the_trainer_equals_a_plain_loop_bit_for_bit():
    steps, batch_size = 12, 32
    torch.manual_seed(0)
    model, data, start = tiny_vanilla(), DigitsDataModule(batch_size=batch_size), FirstBatch()
    trainer(max_epochs=1, limit_train_batches=steps, callbacks=[start]).fit(model, datamodule=data)

    G, D = start.generator, start.discriminator
    sqrt3 = math.sqrt(3.0)
    torch.manual_seed(SEED)
    plain_updates(
        G, D, epoch_batches(data.train_set.tensors[0], batch_size, seed=0, steps=steps),
        noise=lambda n: torch.rand(n, 8) * (sqrt3 - -sqrt3) + -sqrt3,
        g_opt=torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5),
        d_opt=torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5),
        decay=lambda step: max((1 / 1.000004) ** step, 1e-6 / 0.1),
    )
    assert model.generator_steps == model.discriminator_steps == steps
    assert_same_weights(G, model.generator)
    assert_same_weights(D, model.discriminator)


def test_dcgan_through_the_trainer_equals_a_plain_loop_bit_for_bit():
    steps, batch_size = 5, 16
    torch.manual_seed(0)
    model, data, start = tiny_dcgan(), RandomImages(batch_size), FirstBatch()
    trainer(max_epochs=1, limit_train_batches=steps, callbacks=[start]).fit(model, datamodule=data)

    G, D = start.generator, start.discriminator
    torch.manual_seed(SEED)
    plain_updates(
        G, D, epoch_batches(data.train_set.tensors[0], batch_size, seed=0, steps=steps),
        noise=lambda n: torch.randn(n, 8),
        g_opt=torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        d_opt=torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        decay=lambda step: max(1.0**step, 0.0),
    )
    assert_same_weights(G, model.generator)  # batch norm's running statistics included
    assert_same_weights(D, model.discriminator)


def test_fgan_simultaneous_update_through_the_trainer_equals_a_plain_loop_bit_for_bit():
    steps, batch_size = 8, 32
    torch.manual_seed(0)
    model, data, start = tiny_fgan(), DigitsDataModule(batch_size=batch_size), FirstBatch()
    trainer(max_epochs=1, limit_train_batches=steps, callbacks=[start]).fit(model, datamodule=data)

    G, V = start.generator, start.discriminator
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    v_opt = torch.optim.Adam(V.parameters(), lr=2e-4, betas=(0.5, 0.999))
    torch.manual_seed(SEED)
    for real in epoch_batches(data.train_set.tensors[0], batch_size, seed=0, steps=steps):
        # Nowozin et al.'s Algorithm 1: both gradients at (θ_t, ω_t) from one noise batch, then both steps.
        V.requires_grad_(False)
        fake = G(torch.rand(batch_size, 8) * (1.0 - -1.0) + -1.0)
        g_loss = fgan_generator_loss(V(fake), "gan", practical=True)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        V.requires_grad_(True)
        v_loss = fgan_discriminator_loss(V(real), V(fake.detach()), "gan")
        v_opt.zero_grad(set_to_none=True)
        v_loss.backward()
        v_opt.step()
        g_opt.step()
    assert model.generator_steps == model.discriminator_steps == steps
    assert_same_weights(G, model.generator)
    assert_same_weights(V, model.discriminator)


# ------------------------------------------------------------------ against the code before
def fixed_seed_runs(out: Path) -> None:
    """Two short seeded runs; saves their final weights, callback metrics and logged CSV rows to ``out``."""
    from pytorch_lightning.loggers import CSVLogger

    torch.set_num_threads(1)
    runs = {
        "vanilla_k2": (lambda: tiny_vanilla(d_steps_per_g_step=2), lambda: DigitsDataModule(batch_size=32), 7),
        "dcgan": (tiny_dcgan, lambda: RandomImages(16), 4),
    }
    results = {}
    for name, (make_model, make_data, batches) in runs.items():
        with tempfile.TemporaryDirectory() as folder:
            torch.manual_seed(0)
            model = make_model()
            fit = trainer(max_epochs=2, limit_train_batches=batches, limit_val_batches=2, log_every_n_steps=3,
                          logger=CSVLogger(folder, name="run", version=0))
            fit.fit(model, datamodule=make_data())
            results[name] = {
                "weights": {k: v.clone() for k, v in model.state_dict().items()},
                "callback_metrics": {k: float(v) for k, v in fit.callback_metrics.items()},
                "metrics_csv": (Path(folder) / "run" / "version_0" / "metrics.csv").read_text(),
            }
    torch.save(results, out)


def reference_code(folder: Path) -> Path:
    """``zoo/`` as of REFERENCE_COMMIT, extracted into ``folder``; skips the test without git history."""
    archive = subprocess.run(["git", "archive", "--format=tar", REFERENCE_COMMIT, "zoo"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"needs the git history holding {REFERENCE_COMMIT[:12]}: {archive.stderr.decode().strip()[:200]}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_fixed_seed_runs_match_the_code_before_the_speedups(tmp_path):
    code = {"before": reference_code(tmp_path / "before"), "now": REPO}
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    processes = {
        label: subprocess.Popen(
            [sys.executable, __file__, str(tmp_path / f"{label}.pt")],
            env={**env, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]), "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for label, root in code.items()
    }
    for label, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{label}: {output[-3000:]}"
    before, now = (torch.load(tmp_path / f"{label}.pt", weights_only=True) for label in code)
    assert list(before) == list(now)
    for run in before:
        for name, value in before[run]["weights"].items():
            assert torch.equal(value, now[run]["weights"][name]), f"{run}: {name} differs"
        assert now[run]["callback_metrics"] == before[run]["callback_metrics"], run
        assert {"train/d_loss", "train/g_loss"} <= set(now[run]["callback_metrics"])
        assert now[run]["metrics_csv"] == before[run]["metrics_csv"], run
        assert now[run]["metrics_csv"].count("\n") > 3  # rows at steps 3, 6, …, and the epochs' validation


if __name__ == "__main__":
    fixed_seed_runs(Path(sys.argv[1]))
