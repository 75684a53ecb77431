"""LAPGAN's pyramid, the nets of a level, and the coarse-to-fine sampler (Denton et al. 2015)."""

from __future__ import annotations

import pytest
import torch

from zoo.errors import ZooConfigError
from zoo.models.lapgan import LAPGAN, chain_figure
from zoo.models.lapgan_level import Condition, LAPGANLevel
from zoo.nets.laplacian import build_pyramid, downsample, pyramid_sizes, reconstruct, upsample

TINY = dict(latent_dim=8, coarse_g_hidden=(16,), coarse_d_hidden=(16,), g_planes=4, d_planes=4)


@pytest.mark.parametrize("side, levels, channels", [
    (28, 3, 1), (32, 3, 3), (64, 4, 3), (96, 4, 3), (28, [8, 14, 28], 3), (96, [12, 24, 48, 96], 3),
])
def test_pyramid_round_trip_is_exact(side, levels, channels):
    images = torch.rand(3, channels, side, side)
    pyramid = build_pyramid(images, levels)
    assert pyramid.sizes == pyramid_sizes(side, levels)
    assert pyramid.coarse.shape == (3, channels, pyramid.sizes[0], pyramid.sizes[0])
    torch.testing.assert_close(reconstruct(pyramid), images, rtol=0, atol=1e-6)


def test_pyramid_splits_an_image_into_low_and_band_pass():
    images = torch.rand(4, 1, 28, 28)
    pyramid = build_pyramid(images, 3)
    assert pyramid.sizes == (7, 14, 28)
    # the coarse image keeps each image's mean (up to the filter's renormalised borders); a residual
    # carries only detail, with zero mean
    torch.testing.assert_close(pyramid.coarse.mean((1, 2, 3)), images.mean((1, 2, 3)), rtol=0, atol=5e-3)
    assert pyramid.residuals[-1].mean().abs() < 1e-2 < pyramid.residuals[-1].abs().mean()
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert all(r.abs().max() < 1e-6 for r in build_pyramid(flat, 3).residuals)


def test_downsampling_by_two_blurs_then_decimates():
    impulse = torch.zeros(1, 1, 8, 8)
    impulse[0, 0, 3, 3] = 1.0
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8  # the triangle filter of a factor 2
    assert downsample(impulse, 4)[0, 0, 1, 1].item() == pytest.approx(float(taps[1] * taps[1]))
    assert upsample(torch.ones(1, 1, 7, 7), 14).shape == (1, 1, 14, 14)


def test_pyramid_sizes_refuse_what_the_side_does_not_allow():
    with pytest.raises(ZooConfigError, match="cannot be halved"):
        pyramid_sizes(28, 4)
    with pytest.raises(ZooConfigError, match="must end at"):
        pyramid_sizes(32, [8, 16])
    with pytest.raises(ZooConfigError, match="model.level"):
        LAPGANLevel(level=3, **TINY)


def test_finer_level_generates_residuals_and_its_discriminator_sees_coarse_plus_residual():
    level = LAPGANLevel(image_size=28, levels=3, level=1, **TINY)
    images = torch.rand(5, 1, 28, 28)
    target = level.condition_on(images, torch.zeros(5, dtype=torch.long))
    pyramid = build_pyramid(images, 3)
    torch.testing.assert_close(target, pyramid.residuals[0])
    coarse_up = upsample(pyramid.coarse, 14)
    torch.testing.assert_close(level.prior.condition.coarse_up, coarse_up)
    noise = level.sample_noise(5)
    assert noise.shape == (5, 2, 14, 14)  # u(I_0) and one noise plane
    torch.testing.assert_close(noise[:, :1], coarse_up)
    fake = level.generator(noise)
    assert fake.shape == target.shape == (5, 1, 14, 14)

    seen = []
    original = level.discriminator.forward
    level.discriminator.forward = lambda image, onehot=None: seen.append(image) or original(image, onehot)
    level.discriminator_loss(target, fake.detach())
    torch.testing.assert_close(seen[0], coarse_up + target)
    torch.testing.assert_close(seen[1], coarse_up + fake)


def test_coarse_level_is_an_unconditional_gan_on_the_smallest_image():
    level = LAPGANLevel(image_size=28, levels=3, level=0, **TINY)
    images = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(level.condition_on(images, torch.zeros(4, dtype=torch.long)), build_pyramid(images, 3).coarse)
    assert level.sample_noise(4).shape == (4, 8)
    assert level.generator(level.sample_noise(4)).shape == (4, 1, 7, 7)


def test_held_out_losses_judge_residuals_of_the_batch_coarse_images():
    # the core's default would judge generate()'s full-size previews; a finer level's D sees residuals
    level = LAPGANLevel(image_size=28, levels=3, level=2, **TINY)
    images = torch.rand(4, 1, 28, 28)
    residual = level.real_batch((images, torch.zeros(4, dtype=torch.long)))
    torch.manual_seed(0)
    fakes = level.held_out_fakes(4)
    torch.manual_seed(0)
    assert fakes.shape == residual.shape == (4, 1, 28, 28)
    torch.testing.assert_close(fakes, level.generator(level.sample_noise(4)))


def test_level_checks_the_data_it_is_given():
    level = LAPGANLevel(image_size=28, levels=3, level=2, **TINY)
    with pytest.raises(ZooConfigError, match="image_size"):
        level.check_data_compatibility((1, 32, 32), (0.0, 1.0))
    with pytest.raises(ZooConfigError, match="coarse_output"):
        level.check_data_compatibility((1, 28, 28), (-1.0, 1.0))
    cc = LAPGANLevel(image_size=28, levels=3, level=1, num_classes=10, **TINY)
    with pytest.raises(ZooConfigError, match="class labels"):
        cc.condition_on(torch.rand(2, 1, 28, 28), torch.tensor([-1, -1]))


def chain_of(num_classes=0, side=28, levels=3, channels=1, output="sigmoid"):
    options = [dict(LAPGANLevel(image_size=side, channels=channels, levels=levels, level=k, num_classes=num_classes,
                                coarse_output=output, **TINY).hparams) for k in range(len(pyramid_sizes(side, levels)))]
    return LAPGAN(options, [[3, 3]] * len(options))


@pytest.mark.parametrize("side, levels, channels, output", [(28, 3, 1, "sigmoid"), (32, [8, 16, 32], 3, "tanh")])
def test_chain_samples_have_the_full_size_and_the_data_range(side, levels, channels, output):
    torch.manual_seed(0)
    model = chain_of(side=side, levels=levels, channels=channels, output=output)
    with torch.no_grad():  # make the residuals large, so that only the clamp keeps the range
        for generator in model.generator.generators[1:]:
            generator.net[-1].bias.fill_(3.0)
    samples = model.sample(16)
    low, high = model.generator.output_range
    assert samples.shape == (16, channels, side, side)
    assert samples.min() >= low and samples.max() <= high
    steps = model.chain(model.prior.sample(2))
    assert [image.shape[-1] for _, image in steps] == list(pyramid_sizes(side, levels))
    for (_, coarse), (residual, image) in zip(steps, steps[1:]):
        torch.testing.assert_close(image, (upsample(coarse, image.shape[-1]) + residual).clamp(low, high))
    model.check_data_compatibility((channels, side, side), (low, high))
    assert model.generator_steps == 3 * len(steps)


def test_cc_lapgan_samples_change_with_the_label():
    torch.manual_seed(0)
    model = chain_of(num_classes=10)
    codes = model.prior.sample(4, labels=torch.zeros(4, dtype=torch.long))
    assert codes[:, 0].eq(0).all()
    other = codes.clone()
    other[:, 0] = 7
    first, second = model.generate(codes), model.generate(other)
    assert (first - second).abs().amax(dim=(1, 2, 3)).gt(1e-4).all()
    torch.testing.assert_close(model.generate(codes), first)  # the same codes, the same images
    labels = model.prior.sample(2000)[:, 0]
    assert set(labels.long().tolist()) == set(range(10))


def test_cc_lapgan_levels_give_the_label_to_g_and_d():
    torch.manual_seed(0)
    level = LAPGANLevel(image_size=28, levels=3, level=2, num_classes=10, **TINY).eval()
    images = torch.rand(3, 1, 28, 28)
    judged, drawn = [], []
    for label in (2, 5):
        target = level.condition_on(images, torch.full((3,), label))
        torch.manual_seed(1)
        drawn.append(level.generator(level.sample_noise(3)))
        judged.append(level.judge(target))
    assert not torch.allclose(drawn[0], drawn[1]) and not torch.allclose(judged[0], judged[1])


def test_chain_figure_writes_a_png(tmp_path):
    from PIL import Image

    path = chain_figure(chain_of(num_classes=10), tmp_path / "chain.png", n=3, labels=torch.tensor([0, 1, 2]))
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > image.height > 0


def test_lapgan_refuses_levels_of_different_pyramids():
    first = dict(LAPGANLevel(image_size=28, levels=3, level=0, **TINY).hparams)
    other = dict(LAPGANLevel(image_size=32, levels=3, level=1, **TINY).hparams)
    with pytest.raises(ZooConfigError, match="another pyramid"):
        LAPGAN([first, other, dict(LAPGANLevel(image_size=28, levels=3, level=2, **TINY).hparams)])
    with pytest.raises(ZooConfigError, match="once each"):
        LAPGAN([first, first])
    assert Condition().coarse_up is None
