"""The DCGAN LightningModule's fast paths: channels-last memory format and bf16 mixed precision."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import quiet_trainer
from zoo.models.dcgan import DCGAN


CHANNELS = 3  # with one channel, NCHW and NHWC strides coincide and the format cannot be told apart


def _tiny(**kwargs) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(image_size=32, channels=CHANNELS, latent_dim=8, g_width=4, d_width=4, **kwargs)


def _random_images(n: int = 16) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.rand(n, CHANNELS, 32, 32, generator=generator) * 2 - 1), batch_size=4)


def _is_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


def test_channels_last_trains_and_keeps_the_memory_format_and_the_keys():
    model = _tiny(channels_last=True)
    before = model.generator.net[0].weight.detach().clone()
    seen_formats = []
    original_loss = model.discriminator_loss
    model.discriminator_loss = lambda real, fake: seen_formats.append(_is_channels_last(real)) or original_loss(real, fake)
    quiet_trainer(max_epochs=1).fit(model, _random_images())

    assert model.generator_steps == model.discriminator_steps == 4
    assert seen_formats == [True] * 4  # every real batch reached the loss in NHWC order
    conv_weights = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(_is_channels_last(w) for w in conv_weights if w.shape[-1] > 1)
    assert not torch.equal(before, model.generator.net[0].weight)
    assert model.state_dict().keys() == _tiny().state_dict().keys()


def test_channels_last_gives_the_same_updates_as_the_default_format():
    plain, fast = _tiny(), _tiny(channels_last=True)
    for model in (plain, fast):
        torch.manual_seed(1)
        quiet_trainer(max_epochs=1, limit_train_batches=2).fit(model, _random_images())
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-4), name


def test_bf16_mixed_precision_trains_with_manual_optimization():
    model = _tiny()
    before = model.discriminator.to_logit.weight.detach().clone()
    losses = []
    original_loss = model.generator_loss
    model.generator_loss = lambda fake, real: losses.append(fake.dtype) or original_loss(fake, real)
    quiet_trainer(max_epochs=1, precision="bf16-mixed").fit(model, _random_images())
    assert model.generator_steps == 4 and losses == [torch.bfloat16] * 4  # G ran under bf16 autocast
    assert model.discriminator.to_logit.weight.dtype == torch.float32  # master weights stay fp32
    assert not torch.equal(before, model.discriminator.to_logit.weight)
    assert all(torch.isfinite(p).all() for p in model.parameters())
