"""The f-GAN LightningModule trains with every divergence of the table."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import quiet_trainer
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooConfigError
from zoo.models.fgan import FGAN
from zoo.objectives.divergences import DIVERGENCES


CASES = [(name, True) for name in sorted(DIVERGENCES)] + [("gan", False), ("jeffrey", False)]


@pytest.mark.parametrize("divergence, practical", CASES)
def test_every_divergence_trains_with_finite_losses(divergence, practical):
    torch.manual_seed(0)
    model = FGAN(divergence, practical, data_shape=(1, 8, 8), latent_dim=8, g_hidden=(32,), v_hidden=(32,))
    before = [p.detach().clone() for p in model.parameters()]
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=3)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=64))
    assert model.generator_steps == model.discriminator_steps == 3  # Algorithm 1: one step each per batch
    assert torch.isfinite(trainer.callback_metrics["train/d_loss"])
    assert torch.isfinite(trainer.callback_metrics["train/g_loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_variational_function_alone_tightens_the_bound():
    """Training V with G fixed raises F, the lower bound on D_f(P‖Q_θ) (Eq. 4)."""
    torch.manual_seed(0)
    model = FGAN("kl", data_shape=(1, 8, 8), latent_dim=8, g_hidden=(32,), v_hidden=(64,), d_lr=1e-2, g_lr=1e-12)
    data = DigitsDataModule(batch_size=256)
    data.setup("fit")
    real = data.train_set.tensors[0][:512]
    fake = model.sample(512)
    bound_before = -model.discriminator_loss(real, fake).item()
    quiet_trainer(max_epochs=15).fit(model, datamodule=data)
    fake = model.sample(512)
    bound_after = -model.discriminator_loss(real, fake).item()
    assert bound_after > bound_before + 0.5


def test_unknown_divergence_is_one_line():
    with pytest.raises(ZooConfigError, match="model.divergence must be one of"):
        FGAN("wasserstein")
