"""The shared two-player core: schedules, losses, prior, EMA, clipping, setup checks."""

from __future__ import annotations

import copy
import math

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import quiet_trainer, tiny_vanilla
from zoo.core import NoisePrior
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooConfigError
from zoo.objectives.adversarial import discriminator_loss, minimax_generator_loss, nonsaturating_generator_loss


def one_batch_loader(n=16, shape=(1, 8, 8), batches=1):
    torch.manual_seed(123)
    data = torch.rand(n * batches, *shape)
    return DataLoader(TensorDataset(data, torch.zeros(len(data))), batch_size=n)


def test_uniform_prior_respects_its_range_and_normal_prior_is_standard():
    uniform = NoisePrior(5, "uniform", -math.sqrt(3), math.sqrt(3)).sample(20000)
    assert uniform.shape == (20000, 5)
    assert uniform.min() >= -math.sqrt(3) and uniform.max() <= math.sqrt(3)
    assert abs(uniform.var().item() - 1.0) < 0.05  # U[-√3, √3] has unit variance
    normal = NoisePrior(5, "normal").sample(20000)
    assert abs(normal.mean().item()) < 0.03 and abs(normal.std().item() - 1.0) < 0.03


def test_losses_match_the_value_function_written_with_probabilities():
    real_logits, fake_logits = torch.randn(64), torch.randn(64)
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    expected = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert torch.allclose(discriminator_loss(real_logits, fake_logits), expected, atol=1e-5)
    assert torch.allclose(minimax_generator_loss(fake_logits), torch.log(1 - d_fake).mean(), atol=1e-5)
    assert torch.allclose(nonsaturating_generator_loss(fake_logits), -torch.log(d_fake).mean(), atol=1e-5)
    smoothed = discriminator_loss(real_logits, fake_logits, real_target=0.9)
    manual = -(0.9 * torch.log(d_real) + 0.1 * torch.log(1 - d_real)).mean() - torch.log(1 - d_fake).mean()
    assert torch.allclose(smoothed, manual, atol=1e-5)


def test_minimax_gradient_vanishes_where_the_nonsaturating_one_does_not():
    """Goodfellow et al. (2014) §3: when D confidently rejects fakes, log(1 − D) saturates."""
    logits = torch.full((8,), -8.0, requires_grad=True)
    (minimax_grad,) = torch.autograd.grad(minimax_generator_loss(logits), logits)
    (nonsat_grad,) = torch.autograd.grad(nonsaturating_generator_loss(logits), logits)
    assert minimax_grad.abs().max() < 1e-3 * nonsat_grad.abs().max()


def test_k_discriminator_steps_per_generator_step():
    model = tiny_vanilla(d_steps_per_g_step=3)
    quiet_trainer(max_epochs=1).fit(model, one_batch_loader(batches=6))
    assert model.discriminator_steps == 6
    assert model.generator_steps == 2


class FixedNoiseGAN:
    """Mixin: the same z every call, so an update can be recomputed by hand."""

    def sample_noise(self, n):
        return torch.linspace(-1, 1, n * self.prior.dim, device=self.device).view(n, self.prior.dim)


def _fixed_noise_model(update):
    from zoo.models.vanilla import VanillaGAN

    cls = type("FixedVanilla", (FixedNoiseGAN, VanillaGAN), {})
    torch.manual_seed(0)
    return cls(data_shape=(1, 8, 8), latent_dim=8, g_hidden=(16,), d_hidden=(16,), d_pieces=2, d_input_dropout=0.0,
               d_hidden_dropout=0.0, momentum=0.0, lr_decay=1.0, update=update,
               d_init_range=0.5, g_lr=0.5, d_lr=0.5)  # D's step must move G's gradient measurably


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_update_rule_matches_a_hand_computed_sgd_step(update):
    """Simultaneous: both gradients at (θ_t, ω_t) (f-GAN Algorithm 1); alternating: G sees ω_{t+1}."""
    model = _fixed_noise_model(update)
    loader = one_batch_loader()
    real = next(iter(loader))[0]
    reference = copy.deepcopy(model)
    lr = model.hparams.g_lr
    z = reference.sample_noise(len(real))

    d_start = [p.detach().clone() for p in reference.discriminator.parameters()]
    d_loss = reference.discriminator_loss(real, reference.generator(z).detach())
    d_grads = torch.autograd.grad(d_loss, list(reference.discriminator.parameters()))
    with torch.no_grad():
        expected_d = [p - lr * g for p, g in zip(reference.discriminator.parameters(), d_grads)]
    if update == "alternating":
        with torch.no_grad():
            for p, new in zip(reference.discriminator.parameters(), expected_d):
                p.copy_(new)
    g_loss = reference.generator_loss(reference.generator(z), real)
    g_grads = torch.autograd.grad(g_loss, list(reference.generator.parameters()))
    expected_g = [p - lr * g for p, g in zip(reference.generator.parameters(), g_grads)]
    # The other rule's G must land measurably elsewhere, or this test could not tell the two apart.
    other = copy.deepcopy(reference)
    with torch.no_grad():
        for p, new in zip(other.discriminator.parameters(), expected_d if update == "simultaneous" else d_start):
            p.copy_(new)
    other_grads = torch.autograd.grad(other.generator_loss(other.generator(z), real), list(other.generator.parameters()))
    assert max((a - b).abs().max() for a, b in zip(g_grads, other_grads)) * lr > 1e-4

    quiet_trainer(max_epochs=1).fit(model, loader)
    assert model.generator_steps == model.discriminator_steps == 1
    for got, want in zip(model.discriminator.parameters(), expected_d):
        torch.testing.assert_close(got, want)
    for got, want in zip(model.generator.parameters(), expected_g):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_generator_ema_averages_g_only():
    model = tiny_vanilla(ema_decay=0.5, optimizer="adam", g_lr=0.01, lr_decay=1.0)
    before = [p.detach().clone() for p in model.ema.shadow.parameters()]
    quiet_trainer(max_epochs=1).fit(model, one_batch_loader())
    assert not any(p.requires_grad for p in model.ema.shadow.parameters())
    for averaged, old, current in zip(model.ema.shadow.parameters(), before, model.generator.parameters()):
        torch.testing.assert_close(averaged, 0.5 * old + 0.5 * current)
    ema_names = [name for name, _ in model.named_parameters() if name.startswith("ema.")]
    assert ema_names and all(name.startswith("ema.shadow.") for name in ema_names)
    assert not any("discriminator" in name for name in ema_names)


def test_gradient_clipping_bounds_each_sgd_update():
    model = tiny_vanilla(grad_clip_norm=1e-3, momentum=0.0, lr_decay=1.0, g_lr=1.0, d_lr=1.0)
    before = torch.cat([p.detach().flatten().clone() for p in model.discriminator.parameters()])
    quiet_trainer(max_epochs=1).fit(model, one_batch_loader())
    after = torch.cat([p.detach().flatten() for p in model.discriminator.parameters()])
    assert (after - before).norm() <= 1e-3 * 1.0001


def test_learning_rate_decays_per_update_down_to_its_floor():
    model = tiny_vanilla(g_lr=0.1, d_lr=0.1, lr_decay=0.5, min_lr=0.02)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, one_batch_loader(batches=4))
    g_opt, d_opt = trainer.optimizers
    assert g_opt.param_groups[0]["lr"] == pytest.approx(0.02)  # 0.1 · 0.5⁴ < 0.02
    assert d_opt.param_groups[0]["lr"] == pytest.approx(0.02)
    model = tiny_vanilla(g_lr=0.1, d_lr=0.1, lr_decay=0.5, min_lr=0.0)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, one_batch_loader(batches=2))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)


class LearningRateLog(pl.Callback):
    def __init__(self):
        self.rates = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rates.append([optimizer.param_groups[0]["lr"] for optimizer in trainer.optimizers])


def test_learning_rates_fall_linearly_to_zero_over_the_chosen_epochs_and_resume_there(tmp_path):
    def fit(epochs, ckpt_path=None):
        log = LearningRateLog()
        trainer = quiet_trainer(max_epochs=epochs, callbacks=[log], enable_checkpointing=True, default_root_dir=tmp_path)
        trainer.fit(tiny_vanilla(g_lr=0.1, d_lr=0.2, lr_decay=1.0, lr_linear_decay_epochs=(1, 5)), one_batch_loader(batches=2),
                    ckpt_path=ckpt_path)
        return log.rates, trainer

    rates, _ = fit(6)
    g_rates = [g for g, d in rates]
    assert g_rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.075, 0.075, 0.05, 0.05, 0.025, 0.025, 0.0, 0.0])
    assert [d / 0.2 for g, d in rates] == pytest.approx([g / 0.1 for g in g_rates])
    _, stopped = fit(3)
    resumed, _ = fit(6, ckpt_path=stopped.checkpoint_callback.best_model_path or stopped.checkpoint_callback.last_model_path)
    assert [g for g, d in resumed] == pytest.approx(g_rates[6:])
    with pytest.raises(ZooConfigError, match="lr_linear_decay_epochs must be"):
        tiny_vanilla(lr_linear_decay_epochs=(5, 5))


def test_sample_uses_eval_mode_and_restores_training_mode():
    model = tiny_vanilla()
    model.train()
    samples = model.sample(5)
    assert samples.shape == (5, 1, 8, 8)
    assert samples.min() >= 0 and samples.max() <= 1
    assert model.generator.training


@pytest.mark.parametrize(
    "model_options, data_options, fragment",
    [
        (dict(data_shape=(1, 28, 28)), {}, "data_shape"),
        (dict(g_output="tanh"), {}, "value_range"),
    ],
)
def test_setup_rejects_a_model_that_cannot_match_the_data(model_options, data_options, fragment):
    model = tiny_vanilla(**model_options)
    with pytest.raises(ZooConfigError) as error:
        quiet_trainer(max_steps=1).fit(model, datamodule=DigitsDataModule(**data_options))
    assert fragment in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "options",
    [dict(d_steps_per_g_step=0), dict(update="sometimes"), dict(optimizer="rmsprop"), dict(g_lr=-1.0),
     dict(prior="cauchy"), dict(ema_decay=1.5), dict(generator_objective="wasserstein"), dict(real_label=0.2)],
)
def test_bad_training_options_fail_at_construction(options):
    with pytest.raises(ZooConfigError) as error:
        tiny_vanilla(**options)
    assert "\n" not in str(error.value)


def test_setup_check_generates_on_the_weights_device_not_the_accelerator():
    # Lightning sets every module's `device` to the accelerator before setup(), while the weights still
    # sit on the CPU; the shape check must follow the weights (it crashed every GPU run).
    model = tiny_vanilla(data_shape=(1, 28, 28))
    for module in model.modules():
        if hasattr(module, "_device"):
            module._device = torch.device("meta")
    model.check_data_compatibility((1, 28, 28), (0.0, 1.0))
    with pytest.raises(ZooConfigError, match="data_shape"):
        model.check_data_compatibility((1, 32, 32), (0.0, 1.0))
