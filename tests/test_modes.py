"""Mode counting on the ring of 8 Gaussians and the 5×5 grid."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.errors import ZooConfigError
from zoo.eval.modes import count_modes


def ring(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(modes) * 2 * math.pi / modes
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def grid() -> torch.Tensor:
    axis = torch.arange(-4.0, 5.0, 2.0)
    return torch.cartesian_prod(axis, axis)


def mixture_samples(centres: torch.Tensor, std: float, per_mode: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    points = centres.repeat_interleave(per_mode, dim=0)
    return points + std * torch.randn(points.shape, generator=generator)


@pytest.mark.parametrize("centres,std", [(ring(), 0.02), (grid(), 0.05)])
def test_perfect_samples_cover_every_mode(centres, std):
    result = count_modes(mixture_samples(centres, std, per_mode=300), centres, std)
    assert result["modes_covered"] == result["num_modes"] == len(centres)
    assert result["high_quality_share"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # 3σ disc in 2-D
    assert result["kl_to_uniform"] == pytest.approx(0.0, abs=0.01)
    assert result["n_samples"] == 300 * len(centres) and sum(result["counts"]) < result["n_samples"]


def test_collapsed_samples_cover_one_mode_with_kl_log_k():
    centres, std = ring(), 0.02
    samples = mixture_samples(centres[2:3], std, per_mode=1000)
    result = count_modes(samples, centres, std)
    assert result["modes_covered"] == 1
    assert result["counts"][2] == sum(result["counts"]) > 0
    assert result["kl_to_uniform"] == pytest.approx(math.log(8))


def test_far_away_samples_are_not_high_quality():
    centres, std = grid(), 0.05
    samples = torch.full((500, 2), 20.0) + torch.randn(500, 2)
    result = count_modes(samples, centres, std)
    assert result["high_quality_share"] == 0.0
    assert result["modes_covered"] == 0
    assert math.isnan(result["kl_to_uniform"])


def test_coverage_threshold_is_configurable():
    centres, std = ring(), 0.02
    # mode 0 gets 500 samples, modes 1..7 get 5 each
    samples = torch.cat([mixture_samples(centres[:1], std, 500), mixture_samples(centres[1:], std, 5, seed=1)])
    default = count_modes(samples, centres, std, threshold_stds=10.0)
    assert default["min_count"] == math.ceil(0.01 * len(samples) / 8) == 1
    assert default["modes_covered"] == 8
    strict = count_modes(samples, centres, std, threshold_stds=10.0, min_count=20)
    assert strict["modes_covered"] == 1
    share = count_modes(samples, centres, std, threshold_stds=10.0, min_share=0.5)
    assert share["min_count"] == math.ceil(0.5 * len(samples) / 8) and share["modes_covered"] == 1
    tight = count_modes(samples, centres, std, threshold_stds=0.5)
    assert tight["high_quality_share"] < 0.2  # P(r <= σ/2) = 1 - exp(-1/8) ≈ 0.12


def test_rejects_mismatched_shapes():
    with pytest.raises(ZooConfigError):
        count_modes(torch.zeros(10, 3), ring(), 0.02)
