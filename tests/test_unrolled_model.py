"""UnrolledGAN on the two-player core: K = 0 is the plain GAN, G's unrolled update never touches D,
the first unrolled step is D's own next step, resume is exact, configs run."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import REPO, quiet_trainer
from zoo.core import MinimaxGAN
from zoo.data.toy2d import MixtureDataModule
from zoo.errors import ZooConfigError
from zoo.models import unrolled as unrolled_module
from zoo.models.unrolled import UnrolledGAN

TINY = dict(latent_dim=8, g_hidden=(16, 16), d_hidden=(16,), g_lr=1e-3, d_lr=1e-3)


def tiny_unrolled(**kwargs) -> UnrolledGAN:
    torch.manual_seed(0)
    return UnrolledGAN(**{**TINY, **kwargs})


def ring(batch_size: int = 64) -> MixtureDataModule:
    return MixtureDataModule("ring", batch_size=batch_size, train_size=1024, val_size=128, test_size=128)


def fit(model, iterations: int, **trainer_kwargs):
    torch.manual_seed(1)
    quiet_trainer(max_steps=2 * iterations, limit_val_batches=0, **trainer_kwargs).fit(model, datamodule=ring())
    return model


def test_zero_unroll_steps_is_the_plain_gan():
    unrolled = tiny_unrolled(unroll_steps=0)
    plain = MinimaxGAN(copy.deepcopy(unrolled.generator), copy.deepcopy(unrolled.discriminator),
                       **{k: v for k, v in unrolled.hparams.items() if k in ("latent_dim", "generator_objective", "g_lr", "d_lr", "betas")})
    fit(unrolled, 6)
    fit(plain, 6)
    for (name, a), (_, b) in zip(unrolled.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), name


def test_unrolled_generator_update_leaves_d_and_its_optimizer_alone():
    """Alternating updates: D steps, then G. After one iteration D must be where the K = 0 run's D
    is, with the same optimizer state, while G has moved differently."""
    runs = {}
    for steps in (0, 5):
        model = fit(tiny_unrolled(unroll_steps=steps), 1)
        runs[steps] = (model, model.optimizers(use_pl_optimizer=False)[1].state_dict())
    (plain, plain_state), (unrolled, unrolled_state) = runs[0], runs[5]
    for (name, a), (_, b) in zip(plain.discriminator.state_dict().items(), unrolled.discriminator.state_dict().items()):
        assert torch.equal(a, b), name
    for index, state in plain_state["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(unrolled_state["state"][index][key]), torch.as_tensor(value)), (index, key)
    assert not torch.equal(plain.generator.net[0].weight, unrolled.generator.net[0].weight)


@pytest.mark.parametrize("iterations", [0, 2], ids=["empty-state", "filled-state"])
def test_first_unrolled_step_is_ds_own_next_step(monkeypatch, iterations):
    """θ_D^1 is where D's own optimizer takes D on the same batch, from an empty or a filled state."""
    seen = []
    original = unrolled_module.unroll

    def recording_unroll(discriminator, *args, **kwargs):
        lookahead = original(discriminator, *args, **kwargs)
        seen.append(lookahead(lambda: {k: v.detach().clone() for k, v in discriminator.state_dict().items()}))
        return lookahead

    model = fit(tiny_unrolled(unroll_steps=1), iterations)
    monkeypatch.setattr(unrolled_module, "unroll", recording_unroll)
    real = torch.randn(32, 2)
    fake = model.generator(model.sample_noise(32))
    model.generator_loss(fake, real)
    d_optimizer = model.optimizers(use_pl_optimizer=False)[1]
    d_optimizer.zero_grad()
    model.discriminator_loss(real, fake.detach()).backward()
    d_optimizer.step()
    for key, value in model.discriminator.state_dict().items():
        torch.testing.assert_close(seen[0][key], value, rtol=1e-6, atol=1e-7, msg=key)


def test_second_order_term_changes_the_update():
    first = fit(tiny_unrolled(unroll_steps=3, second_order=False), 3)
    second = fit(tiny_unrolled(unroll_steps=3), 3)
    assert not torch.equal(first.generator.net[0].weight, second.generator.net[0].weight)


def _train_with_checkpoints(folder: Path, epochs: int, ckpt_path=None) -> UnrolledGAN:
    model = tiny_unrolled(unroll_steps=3)
    checkpoint = ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)
    trainer = quiet_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[checkpoint],
                            limit_train_batches=4, limit_val_batches=0)
    trainer.fit(model, datamodule=ring(), ckpt_path=ckpt_path)
    return model


def test_resume_with_unrolling_is_exact(tmp_path):
    straight = _train_with_checkpoints(tmp_path / "straight", epochs=4)
    _train_with_checkpoints(tmp_path / "halves", epochs=2)
    torch.manual_seed(999)  # a different RNG state before resuming must not matter
    resumed = _train_with_checkpoints(tmp_path / "resumed", epochs=4, ckpt_path=tmp_path / "halves" / "last.ckpt")
    assert resumed.generator_steps == straight.generator_steps == 16
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")


def test_validation_reports_the_loss_against_the_current_d():
    model = fit(tiny_unrolled(unroll_steps=3), iterations=10)

    def validation_g_loss() -> float:
        torch.manual_seed(5)  # the same held-out fakes each time
        return quiet_trainer(limit_val_batches=1).validate(model, datamodule=ring(), verbose=False)[0]["val/g_loss"]

    looking_ahead = validation_g_loss()
    model.hparams.unroll_steps = 0
    assert looking_ahead == pytest.approx(validation_g_loss(), rel=1e-6)


def test_negative_unroll_steps_is_a_config_error():
    with pytest.raises(ZooConfigError, match="unroll_steps must be >= 0"):
        UnrolledGAN(unroll_steps=-1)


def test_the_small_stacked_mnist_nets_have_pacgans_shapes():
    # PacGAN's re-implementation: G 4×4×64 → 7×7×32 → 14×14×16 → 28×28×8 → 3; D (2, 4, 8) or (4, 8, 16) filters
    from zoo.models.unrolled import UnrolledStackedMNISTGAN

    quarter, half = (UnrolledStackedMNISTGAN(unroll_steps=1, d_size=size) for size in (0.25, 0.5))
    images = quarter.generator(torch.randn(5, 256))
    assert images.shape == (5, 3, 28, 28) and images.abs().max() < 1
    assert quarter.discriminator(images).shape == half.discriminator(images).shape == (5,)
    features = quarter.discriminator.hidden_features(images)  # what feature matching and minibatch discrimination read
    assert features.shape == (5, 8 * 4 * 4)
    assert torch.equal(quarter.discriminator.head(features), quarter.discriminator(images))
    convs = [[m.out_channels for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
             for model in (quarter.generator, quarter.discriminator, half.discriminator)]
    assert convs == [[32, 16, 8, 3], [2, 4, 8], [4, 8, 16]]
    assert quarter.hparams.betas == (0.5, 0.99) and (quarter.hparams.g_lr, quarter.hparams.d_lr) == (1e-4, 2e-4)
    with pytest.raises(ZooConfigError, match="d_size must be one of 0.25, 0.5"):
        UnrolledStackedMNISTGAN(d_size=0.3)


@pytest.mark.parametrize("config", sorted((REPO / "configs" / "unrolled").glob("*.yaml")), ids=lambda p: p.stem)
def test_configs_train_through_zoo_fit(config, tmp_path):
    from tests.test_image_data import write_cifar10
    from zoo.cli import run_lightning_cli

    if config.stem.startswith("cifar10"):  # tiny CIFAR-10 files in the real format, narrow nets
        write_cifar10(tmp_path / "data", per_batch=4)
        data = ["--data.init_args.data_root", str(tmp_path / "data"), "--data.init_args.val_size", "4",
                "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0", "--model.init_args.g_width", "8"]
    else:
        data = ["--data.init_args.train_size", "2048"]
    if config.stem.startswith("stacked_mnist_"):  # narrow nets: the config, not DCGAN's arithmetic, is under test
        data += ["--model.init_args.g_width", "8"]
    cli = run_lightning_cli([
        "fit", "--config", str(config), "--trainer.max_steps", "4", "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(tmp_path), "--checkpoint.dirpath", str(tmp_path / "ckpt"), *data,
    ])
    model = cli.model
    assert model.generator_steps == 2
    steps, first_order = re.fullmatch(r".*_k(\d+)(_first_order)?", config.stem).groups()
    assert model.hparams.unroll_steps == int(steps) and model.hparams.second_order == (first_order is None)
