"""The Improved-GAN techniques and instance noise, switched on as options of any zoo model."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import REPO, quiet_trainer, tiny_vanilla
from zoo.cli import main as zoo_main
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooConfigError
from zoo.models.dcgan import DCGAN

ALL_TECHNIQUES = dict(generator_objective="feature_matching", minibatch_discrimination=6, minibatch_kernel_dim=3,
                      historical_averaging=0.01, instance_noise=0.2, instance_noise_steps=4, real_label=0.9)


def _tiny_dcgan(**kwargs):
    return DCGAN(image_size=32, channels=1, latent_dim=8, g_width=8, d_width=8, **kwargs)


@pytest.mark.parametrize("build", [lambda **k: tiny_vanilla(d_input_dropout=0.0, d_hidden_dropout=0.0, **k), _tiny_dcgan])
def test_feature_matching_is_the_squared_distance_of_mean_hidden_features(build):
    torch.manual_seed(0)
    model = build(generator_objective="feature_matching")
    shape = model.generate(model.prior.sample(2), use_ema=False).shape[1:]
    real, fake = torch.rand(16, *shape), torch.rand(16, *shape, requires_grad=True)
    model.discriminator.eval()
    loss = model.generator_loss(fake, real)
    hidden = model.discriminator.hidden_features
    by_hand = (hidden(real).flatten(1).mean(0) - hidden(fake).flatten(1).mean(0)).square().sum()
    torch.testing.assert_close(loss, by_hand)
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_minibatch_discrimination_lets_d_see_the_rest_of_the_batch():
    torch.manual_seed(0)
    plain, mixed = (tiny_vanilla(d_input_dropout=0.0, d_hidden_dropout=0.0, minibatch_discrimination=k) for k in (0, 6))
    x = torch.rand(8, 1, 8, 8)
    others = torch.cat([x[:1], torch.rand(7, 1, 8, 8)])
    for model in (plain, mixed):
        model.eval()
    assert plain.discriminator(x)[0] == plain.discriminator(others)[0]
    assert mixed.discriminator(x)[0] != mixed.discriminator(others)[0]
    assert sum(p.numel() for p in mixed.discriminator.minibatch.parameters()) == 16 * 6 * 5 + 6  # T and a bias per kernel


class RecordSeen(pl.Callback):
    """The clean batch and what D's loss was given, for each training step."""

    def __init__(self) -> None:
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.clean: torch.Tensor | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        original = pl_module.discriminator_loss

        def recording(real, fake):
            self.pairs.append((self.clean, real.detach().clone()))
            return original(real, fake)

        pl_module.discriminator_loss = recording

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.clean = batch[0].clone()


def test_instance_noise_shrinks_to_nothing_on_schedule():
    torch.manual_seed(0)
    recorder = RecordSeen()
    model = tiny_vanilla(instance_noise=0.4, instance_noise_steps=2, optimizer="adam")
    quiet_trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=0, callbacks=[recorder]).fit(model, datamodule=DigitsDataModule(batch_size=64))
    spreads = [(seen - clean).std().item() for clean, seen in recorder.pairs]
    assert spreads[0] == pytest.approx(0.4, rel=0.1) and spreads[1] == pytest.approx(0.2, rel=0.1)
    assert spreads[2] == spreads[3] == 0.0


def test_historical_averages_are_the_mean_of_every_parameter_state_so_far():
    class Snapshots(pl.Callback):
        def __init__(self) -> None:
            self.generator: list[list[torch.Tensor]] = []

        def on_train_start(self, trainer, pl_module) -> None:
            self.generator.append([p.detach().clone() for p in pl_module.generator.parameters()])

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            self.generator.append([p.detach().clone() for p in pl_module.generator.parameters()])

    torch.manual_seed(0)
    snapshots = Snapshots()
    model = tiny_vanilla(historical_averaging=0.5, optimizer="adam")
    quiet_trainer(max_epochs=1, limit_train_batches=3, callbacks=[snapshots]).fit(model, datamodule=DigitsDataModule(batch_size=32))
    averages = model.history["generator"].averages()
    for index, average in enumerate(averages):
        expected = torch.stack([snapshot[index] for snapshot in snapshots.generator]).mean(0)
        torch.testing.assert_close(average, expected)
    torch.manual_seed(0)
    plain = tiny_vanilla(optimizer="adam")
    quiet_trainer(max_epochs=1, limit_train_batches=3).fit(plain, datamodule=DigitsDataModule(batch_size=32))
    assert not torch.equal(next(plain.generator.parameters()), next(model.generator.parameters()))


def test_every_technique_at_once_resumes_exactly(tmp_path):
    def train(folder, epochs, ckpt_path=None):
        torch.manual_seed(0)
        model = tiny_vanilla(optimizer="adam", **ALL_TECHNIQUES)
        checkpoint = ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)
        trainer = quiet_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[checkpoint], limit_train_batches=3)
        trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
        return model

    straight = train(tmp_path / "straight", 4)
    train(tmp_path / "halves", 2)
    resumed = train(tmp_path / "resumed", 4, tmp_path / "halves" / "last.ckpt")
    assert resumed.history["generator"].count == straight.history["generator"].count == 13
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")
        else:
            assert a == b, name


def test_every_technique_switches_on_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = [arg for key, value in ALL_TECHNIQUES.items() for arg in (f"--model.init_args.{key}", str(value))]
    assert zoo_main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *options, "--trainer.max_epochs", "1",
                     "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
                     "--trainer.callbacks", "[]", "--checkpoint.dirpath", str(tmp_path / "ckpt")]) == 0
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert state["hyper_parameters"]["generator_objective"] == "feature_matching"
    assert any(key.startswith("history.discriminator.") for key in state["state_dict"])
    assert any(key.startswith("discriminator.minibatch.") for key in state["state_dict"])


def test_feature_matching_refuses_a_discriminator_without_hidden_features():
    from zoo.core import MinimaxGAN

    with pytest.raises(ZooConfigError, match="hidden_features"):
        MinimaxGAN(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1), generator_objective="feature_matching", latent_dim=4)


def test_virtual_batch_norm_in_dcgan_makes_each_sample_independent_of_its_batch(tmp_path):
    torch.manual_seed(0)
    batch_norm, virtual = _tiny_dcgan(), _tiny_dcgan(g_normalization="virtual", g_reference_size=16)
    z = torch.randn(8, 8)
    others = torch.cat([z[:1], torch.randn(7, 8)])
    for model in (batch_norm, virtual):
        model.generator.train()  # batch norm would use this batch's statistics
    assert not torch.allclose(batch_norm.generator(z)[0], batch_norm.generator(others)[0])
    torch.testing.assert_close(virtual.generator(z)[0], virtual.generator(others)[0])

    virtual.generator(z).square().mean().backward()  # gradients flow through the reference pass too
    assert all(p.grad is not None for p in virtual.generator.parameters())
    torch.save(virtual.state_dict(), tmp_path / "vbn.pt")
    fresh = _tiny_dcgan(g_normalization="virtual", g_reference_size=16)
    fresh.load_state_dict(torch.load(tmp_path / "vbn.pt", weights_only=True))
    torch.testing.assert_close(fresh.generator.reference_z, virtual.generator.reference_z)
    fresh.eval(), virtual.eval()
    torch.testing.assert_close(fresh.generator(z), virtual.generator(z))
