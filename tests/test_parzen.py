"""Parzen-window log-likelihood: exactness, chunking, σ selection, standard error and protocols."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import zoo.data.mnist as mnist_data
from zoo.errors import ZooConfigError
from zoo.eval.parzen import (
    DEFAULT_SIGMAS,
    evaluate_parzen,
    log_likelihood_grid,
    mean_and_stderr,
    parzen_log_likelihood,
    select_sigma,
    validation_curve,
)
from zoo.eval.protocols import FGAN, GAN2014, PARZEN_PROTOCOLS, ParzenProtocol, get_protocol, real_data_row


def direct_float64(samples: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """The estimate written out with explicit differences, all in float64."""
    s = samples.reshape(samples.shape[0], -1).double()
    x = points.reshape(points.shape[0], -1).double()
    sq_dist = (x[:, None, :] - s[None, :, :]).square().sum(-1)
    d = s.shape[1]
    return torch.logsumexp(-sq_dist / (2 * sigma**2), 1) - math.log(len(s)) - 0.5 * d * math.log(2 * math.pi * sigma**2)


def near_and_far_points(samples: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    d = samples.shape[1]
    exact = samples[:4]
    near = samples[4:8] + 1e-3 * torch.randn(4, d, generator=generator) / math.sqrt(d)  # 1e-3 away
    far = samples[8:12] + 3.0
    between = torch.rand(6, d, generator=generator)
    return torch.cat([exact, near, far, between])


CASES = [(784, 0.05), (784, 0.2), (10, 0.05), (2, 0.05), (2, 1.0), (50, 0.5)]


@pytest.mark.parametrize(("dim", "sigma"), CASES)
@pytest.mark.parametrize("chunks", [(None, None), (7, 13), (1, 1)])
def test_matches_float64_direct_computation(dim, sigma, chunks):
    generator = torch.Generator().manual_seed(dim)
    samples = torch.rand(150 if chunks[0] != 1 else 40, dim, generator=generator)
    points = near_and_far_points(samples, generator)
    got = parzen_log_likelihood(samples, points, sigma, point_chunk=chunks[0], sample_chunk=chunks[1])
    assert got.shape == (points.shape[0],)
    torch.testing.assert_close(got, direct_float64(samples, points, sigma), rtol=1e-4, atol=1e-5)


def test_exact_where_float32_expansion_cancels():
    # A large common offset makes ‖x‖² + ‖s‖² - 2x·s lose every digit in float32 when x ≈ s.
    generator = torch.Generator().manual_seed(1)
    d, sigma = 100, 0.05
    samples = 50.0 + 10.0 * torch.randn(20, d, generator=generator)  # pairwise distances ~140
    offset = torch.zeros(d)
    offset[0] = 1e-3
    points = torch.stack([samples[3], samples[7] + offset])
    got = parzen_log_likelihood(samples, points, sigma)
    log_norm = -math.log(20) - 0.5 * d * math.log(2 * math.pi * sigma**2)
    sq_dist = (points[1].double() - samples[7].double()).square().sum().item()  # 1e-6 up to float32 rounding
    assert sq_dist == pytest.approx(1e-6, rel=1e-2)
    expected = torch.tensor([log_norm, log_norm - sq_dist / (2 * sigma**2)], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_chunk_sizes_agree_and_blocks_stay_small(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    samples, points = torch.rand(37, 30, generator=generator), torch.rand(11, 30, generator=generator)
    reference = parzen_log_likelihood(samples, points, 0.3, point_chunk=1000, sample_chunk=1000)
    block_sizes = []
    real_addmm = torch.addmm

    def recording_addmm(*args, **kwargs):
        block_sizes.append(kwargs["out"].numel())
        return real_addmm(*args, **kwargs)

    monkeypatch.setattr(torch, "addmm", recording_addmm)
    for point_chunk, sample_chunk in [(1, 1), (3, 5), (10, 36), (11, 37)]:
        block_sizes.clear()
        got = parzen_log_likelihood(samples, points, 0.3, point_chunk=point_chunk, sample_chunk=sample_chunk)
        torch.testing.assert_close(got, reference, rtol=1e-6, atol=1e-6)
        assert max(block_sizes) <= point_chunk * sample_chunk


def test_any_input_shape_is_flattened_and_mismatches_are_refused():
    generator = torch.Generator().manual_seed(3)
    samples, points = torch.rand(20, 1, 4, 4, generator=generator), torch.rand(5, 1, 4, 4, generator=generator)
    torch.testing.assert_close(
        parzen_log_likelihood(samples, points, 0.2),
        parzen_log_likelihood(samples.reshape(20, 16), points.reshape(5, 16), 0.2),
    )
    with pytest.raises(ZooConfigError, match="flatten to the same size"):
        parzen_log_likelihood(samples, torch.rand(5, 15), 0.2)
    with pytest.raises(ZooConfigError, match="positive"):
        parzen_log_likelihood(samples, points, 0.0)


def test_grid_matches_one_sigma_at_a_time():
    generator = torch.Generator().manual_seed(4)
    samples, points = torch.rand(64, 20, generator=generator), torch.rand(9, 20, generator=generator)
    grid = log_likelihood_grid(samples, points, DEFAULT_SIGMAS, point_chunk=4, sample_chunk=16)
    for row, sigma in zip(grid, DEFAULT_SIGMAS):
        torch.testing.assert_close(row, parzen_log_likelihood(samples, points, sigma), rtol=1e-6, atol=1e-6)


def test_default_grid_is_goodfellows_logspace():
    torch.testing.assert_close(
        torch.tensor(DEFAULT_SIGMAS, dtype=torch.float64), torch.logspace(-1, 0, 10, dtype=torch.float64)
    )


def clusters_with_noise(noise: float, d: int = 50, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Far-apart centres and validation points at Gaussian noise ``noise`` around them.

    The KDE of the centres is then a Gaussian noise model around the nearest centre, whose maximum
    likelihood width is the noise's standard deviation.
    """
    generator = torch.Generator().manual_seed(seed)
    centres = 20.0 * torch.randn(40, d, generator=generator)
    validation = centres.repeat(5, 1) + noise * torch.randn(200, d, generator=generator)
    return centres, validation


@pytest.mark.parametrize("true_index", [2, 6])
def test_select_sigma_recovers_a_known_width(true_index):
    true_sigma = DEFAULT_SIGMAS[true_index]
    centres, validation = clusters_with_noise(true_sigma)
    assert select_sigma(centres, validation) == pytest.approx(true_sigma)
    curve = validation_curve(centres, validation)
    assert [sigma for sigma, _ in curve] == pytest.approx(list(DEFAULT_SIGMAS))


def test_stderr_is_std_over_sqrt_m():
    mean, stderr = mean_and_stderr(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert mean == pytest.approx(2.5)
    assert stderr == pytest.approx(math.sqrt(1.25) / 2)  # population std (ddof=0), as numpy's default


def test_evaluate_parzen_reports_mean_and_stderr_of_the_test_points():
    centres, validation = clusters_with_noise(DEFAULT_SIGMAS[4])
    test = clusters_with_noise(DEFAULT_SIGMAS[4], seed=6)[1][:50] + 0.0
    result = evaluate_parzen(centres, validation, test)
    values = parzen_log_likelihood(centres, test, result.sigma)
    assert result.sigma == pytest.approx(DEFAULT_SIGMAS[4])
    assert result.mean == pytest.approx(values.mean().item())
    assert result.stderr == pytest.approx(values.std(correction=0).item() / math.sqrt(50))
    assert (result.n_samples, result.n_points, result.protocol) == (40, 50, None)
    record = result.to_dict()
    assert record["mean"] == result.mean and len(record["validation_curve"]) == len(DEFAULT_SIGMAS)


def test_a_protocol_checks_its_sample_count_and_scores_with_its_own_grid():
    samples = torch.rand(10, 4)
    with pytest.raises(ZooConfigError, match="10000 samples"):
        GAN2014.score(samples, samples, samples)
    centres, validation = clusters_with_noise(DEFAULT_SIGMAS[4])
    small = dataclasses.replace(GAN2014, name="small", n_samples=len(centres), sigmas=(0.05, 3.0))
    result = small.score(centres, validation, validation[:20])
    assert result.protocol == "small" and [s for s, _ in result.validation_curve] == [0.05, 3.0]


def fake_mnist(train_size: int = 60_000, test_size: int = 7, pixels: int = 1):
    """A loader whose training image i holds the value i, to check which images a protocol takes."""

    def load(data_root=None, train=True, download=False):
        size = train_size if train else test_size
        index = torch.arange(size, dtype=torch.float32)
        images = index[:, None, None, None].expand(size, 1, 1, pixels).clone()
        return images, torch.zeros(size, dtype=torch.long)

    return load


def test_protocols_take_the_documented_images(monkeypatch):
    monkeypatch.setattr(mnist_data, "load_mnist_tensors", fake_mnist(pixels=3))
    assert set(PARZEN_PROTOCOLS) == {"gan2014", "fgan"} and get_protocol("fgan") is FGAN
    assert (GAN2014.n_samples, FGAN.n_samples) == (10_000, 16_384)
    for protocol in (GAN2014, FGAN):
        validation = protocol.validation_images()
        assert validation.shape == (1000, 3)
        assert validation[:, 0].tolist() == list(range(50_000, 51_000))
        assert protocol.test_images().shape == (7, 3)
        assert protocol.sigmas == DEFAULT_SIGMAS and protocol.citation
    with pytest.raises(dataclasses.FrozenInstanceError):
        GAN2014.n_samples = 5
    with pytest.raises(ZooConfigError, match="unknown Parzen protocol"):
        get_protocol("gan2015")


def test_real_data_row_separates_validation_images_from_the_sigma_choice(monkeypatch):
    # Train 0-49 are cluster centres, train 50-99 the same centres plus noise; validation is 50-59.
    d, noise = 50, DEFAULT_SIGMAS[5]
    generator = torch.Generator().manual_seed(7)
    centres = 20.0 * torch.randn(50, d, generator=generator)
    train = torch.cat([centres, centres + noise * torch.randn(50, d, generator=generator)])
    test = centres[:15] + noise * torch.randn(15, d, generator=generator)

    def load(data_root=None, train=True, download=False):
        images = train_images if train else test_images
        return images.reshape(images.shape[0], 1, 1, d), torch.zeros(images.shape[0], dtype=torch.long)

    train_images, test_images = train, test
    monkeypatch.setattr(mnist_data, "load_mnist_tensors", load)
    tiny = ParzenProtocol(
        name="tiny", n_samples=20, validation_start=50, validation_stop=60, sigmas=DEFAULT_SIGMAS,
        citation="test", validation_description="train 50-59",
    )
    row = real_data_row(tiny, device="cpu")
    variants = {variant["variant"]: variant for variant in row["variants"]}
    counts = {name: (v["n_kernel_centres"], v["n_selection_centres"]) for name, v in variants.items()}
    assert counts == {
        "all_train": (100, 100),
        "all_train_sigma_heldout": (100, 90),
        "train_before_validation": (50, 50),
        "train_first_n_samples": (20, 20),
    }
    assert variants["all_train"]["sigma"] == min(DEFAULT_SIGMAS)  # each validation image matches itself
    assert variants["all_train_sigma_heldout"]["sigma"] == pytest.approx(noise)
    assert variants["train_before_validation"]["sigma"] == pytest.approx(noise)
    assert all(v["n_test"] == 15 and v["n_validation"] == 10 for v in variants.values())
    assert row["paper"]["mean"] == 502.0
