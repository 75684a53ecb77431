"""The DCGAN nets follow the architecture guidelines of Radford, Metz & Chintala (2016), §3."""

import pytest
import torch
from torch import nn

from zoo.errors import ZooConfigError
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_

WIDTH = 8


@pytest.mark.parametrize("image_size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_each_size_and_channel_count(image_size, channels):
    generator = DCGANGenerator(latent_dim=16, image_size=image_size, channels=channels, base_width=WIDTH)
    discriminator = DCGANDiscriminator(image_size=image_size, channels=channels, base_width=WIDTH)
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, channels, image_size, image_size)
    assert discriminator(images).shape == (3,)
    features = discriminator.features(images)
    # One hidden layer per halving from image_size down to 4×4, widths doubling from base_width.
    assert [f.shape[-1] for f in features] == [image_size // 2**k for k in range(1, len(features) + 1)]
    assert features[-1].shape[-2:] == (4, 4)
    assert [f.shape[1] for f in features] == discriminator.feature_widths
    assert discriminator.feature_widths[0] == WIDTH


def test_paper_width_for_64_pixels_matches_figure_1():
    # Figure 1: z → 4×4×1024 → 8×8×512 → 16×16×256 → 32×32×128 → 64×64×3.
    generator = DCGANGenerator(latent_dim=100, image_size=64, channels=3, base_width=128)
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in transposed] == [1024, 512, 256, 128, 3]
    assert transposed[0].kernel_size == (4, 4) and transposed[0].stride == (1, 1)


def test_forward_reuses_features():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(image_size=32, channels=3, base_width=WIDTH).eval()
    images = torch.randn(4, 3, 32, 32)
    expected = discriminator.to_logit(discriminator.features(images)[-1]).flatten()
    torch.testing.assert_close(discriminator(images), expected)


def test_initialisation_statistics():
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=100, image_size=64, channels=3, base_width=32)
    discriminator = DCGANDiscriminator(image_size=64, channels=3, base_width=32)
    for net in (generator, discriminator):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([m.weight.flatten() for m in convs])
        assert weights.std().item() == pytest.approx(0.02, rel=0.05)
        assert abs(weights.mean().item()) < 0.002
        assert all(m.bias is None or torch.all(m.bias == 0) for m in convs)
        norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        scales = torch.cat([m.weight for m in norms])
        assert scales.mean().item() == pytest.approx(1.0, abs=0.01)
        assert scales.std().item() == pytest.approx(0.02, rel=0.3)
        assert all(torch.all(m.bias == 0) for m in norms)


def test_dcgan_init_resets_a_module_in_place():
    layer = nn.Conv2d(64, 64, 4)
    nn.init.constant_(layer.weight, 1.0)
    assert dcgan_init_(layer) is layer
    assert layer.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_no_linear_layers_and_no_pooling():
    for net in (DCGANGenerator(base_width=WIDTH), DCGANDiscriminator(base_width=WIDTH)):
        kinds = {type(m) for m in net.modules()}
        assert nn.Linear not in kinds
        assert not any(issubclass(k, (nn.MaxPool2d, nn.AvgPool2d)) for k in kinds)


def test_batch_norm_everywhere_but_generator_output_and_discriminator_input():
    generator = DCGANGenerator(image_size=64, base_width=WIDTH)
    layers = list(generator.net)
    transposed = [i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    for i in transposed[:-1]:
        assert isinstance(layers[i + 1], nn.BatchNorm2d) and isinstance(layers[i + 2], nn.ReLU)
    assert isinstance(layers[transposed[-1] + 1], nn.Tanh) and len(layers) == transposed[-1] + 2

    discriminator = DCGANDiscriminator(image_size=64, base_width=WIDTH)
    first, *rest = discriminator.hidden
    assert not any(isinstance(m, nn.BatchNorm2d) for m in first.modules())
    for block in rest:
        assert any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    for block in discriminator.hidden:
        activation = block[-1]
        assert isinstance(activation, nn.LeakyReLU) and activation.negative_slope == 0.2
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.stride == (2, 2) for m in convs[:-1])


def test_a_discriminator_without_batch_norm_judges_each_image_alone():
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    plain = DCGANDiscriminator(image_size=32, base_width=WIDTH, batch_norm=False).train()
    alone = torch.cat([plain(image[None]) for image in images])
    assert torch.allclose(alone, plain(images), atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))
    normed = DCGANDiscriminator(image_size=32, base_width=WIDTH).train()  # DCGAN's: logits move with the batch
    assert not torch.allclose(normed(images[:3]), normed(images)[:3], atol=1e-4)


def test_generator_output_lies_in_tanh_range():
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=8, image_size=32, channels=3, base_width=WIDTH)
    assert generator.output_range == (-1.0, 1.0)
    last = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.weight.mul_(100)  # pre-activations far beyond ±1 (batch norm would undo a larger z)
    images = generator(torch.randn(16, 8))
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() < -0.9 and images.max() > 0.9  # bounded by tanh, not clipped near 0


def test_discriminator_outputs_logits_not_probabilities():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(image_size=32, channels=1, base_width=WIDTH)
    nn.init.constant_(discriminator.to_logit.bias, 5.0)
    logits = discriminator(torch.randn(4, 1, 32, 32))
    assert torch.all(logits > 1.0)  # a sigmoid could never exceed 1


@pytest.mark.parametrize("image_size", [48, 16, 0, 100])
def test_bad_image_size_is_a_one_line_config_error(image_size):
    for build in (lambda: DCGANGenerator(image_size=image_size), lambda: DCGANDiscriminator(image_size=image_size)):
        with pytest.raises(ZooConfigError, match="power of two") as error:
            build()
        assert "\n" not in str(error.value)


def test_bad_channels_and_inputs_are_config_errors():
    with pytest.raises(ZooConfigError, match="channels"):
        DCGANGenerator(channels=0)
    with pytest.raises(ZooConfigError, match="channels"):
        DCGANDiscriminator(channels=-1)
    with pytest.raises(ZooConfigError, match=r"\(batch, 16\)"):
        DCGANGenerator(latent_dim=16, image_size=32, base_width=WIDTH)(torch.randn(2, 8))
    with pytest.raises(ZooConfigError, match="shape"):
        DCGANDiscriminator(image_size=32, channels=3, base_width=WIDTH)(torch.randn(2, 1, 32, 32))


def test_gradients_reach_every_parameter():
    generator = DCGANGenerator(latent_dim=8, image_size=32, channels=3, base_width=WIDTH)
    discriminator = DCGANDiscriminator(image_size=32, channels=3, base_width=WIDTH)
    loss = nn.functional.binary_cross_entropy_with_logits(
        discriminator(generator(torch.randn(4, 8))), torch.ones(4)
    )
    loss.backward()
    for net in (generator, discriminator):
        for name, parameter in net.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
