"""Salimans et al. (2016) losses and instance noise, against hand computations."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from zoo.errors import ZooConfigError
from zoo.objectives.improved import (
    HistoricalAverage,
    add_instance_noise,
    feature_matching_loss,
    historical_average_penalty,
    instance_noise_sigma,
    semisupervised_generator_loss,
    supervised_loss,
    unsupervised_discriminator_loss,
)


def test_feature_matching_is_the_distance_between_batch_means():
    real = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 2.0]])  # means 2, 3, 1
    fake = torch.tensor([[0.0, 5.0, 1.0], [0.0, 1.0, 1.0], [3.0, 0.0, 1.0]])  # means 1, 2, 1
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.0 + 1.0 + 0.0)
    assert feature_matching_loss(real, fake, reduction="mean").item() == pytest.approx(2.0 / 3)
    assert feature_matching_loss(real, fake, norm="l1").item() == pytest.approx(2.0)
    assert feature_matching_loss(real, fake, norm="l1", reduction="mean").item() == pytest.approx(2.0 / 3)


def test_feature_matching_flattens_maps_and_is_zero_for_equal_means():
    real = torch.randn(6, 2, 3, 3)
    shuffled = real[torch.randperm(6)]
    assert feature_matching_loss(real, shuffled).item() == pytest.approx(0.0, abs=1e-10)
    shifted = real + 0.5
    assert feature_matching_loss(real, shifted).item() == pytest.approx(0.25 * 2 * 3 * 3, rel=1e-5)


def test_feature_matching_gradient_moves_fake_mean_towards_real_mean():
    real = torch.zeros(4, 3)
    fake = torch.ones(4, 3, requires_grad=True)
    feature_matching_loss(real, fake).backward()
    # d/dfake_i Σ (mean_real − mean_fake)² = −2 (mean_real − mean_fake) / n = 2 · 1 / 4
    assert torch.allclose(fake.grad, torch.full((4, 3), 0.5))


def test_feature_matching_rejects_an_unknown_norm():
    with pytest.raises(ZooConfigError, match="norm"):
        feature_matching_loss(torch.zeros(2, 2), torch.zeros(2, 2), norm="l3")


def test_historical_penalty_value_and_gradient_by_hand():
    theta = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([[3.0]], requires_grad=True)]
    averages = [torch.tensor([0.0, 4.0]), torch.tensor([[1.0]])]
    penalty = historical_average_penalty(theta, averages)
    assert penalty.item() == pytest.approx(1.0 + 4.0 + 4.0)
    penalty.backward()
    assert torch.equal(theta[0].grad, torch.tensor([2.0, -4.0]))  # 2 (θ − θ̄)
    assert torch.equal(theta[1].grad, torch.tensor([[4.0]]))


def test_historical_average_is_the_mean_of_all_visited_parameters():
    net = nn.Linear(3, 2)
    history = HistoricalAverage(net)
    visited = [[p.detach().clone() for p in net.parameters()]]
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        history.update(net)
        visited.append([p.detach().clone() for p in net.parameters()])
    for index, average in enumerate(history.averages()):
        assert torch.allclose(average, torch.stack([step[index] for step in visited]).mean(0), atol=1e-6)
    expected = sum(((p - a) ** 2).sum() for p, a in zip(net.parameters(), history.averages()))
    penalty = history.penalty(net)
    assert penalty.item() == pytest.approx(expected.item())
    penalty.backward()
    assert torch.allclose(net.weight.grad, 2 * (net.weight - history.averages()[0]))


def test_historical_average_round_trips_exactly_through_a_checkpoint():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
    history = HistoricalAverage(net)
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(1.1).add_(0.3)
        history.update(net)
    buffer = io.BytesIO()
    torch.save(history.state_dict(), buffer)
    buffer.seek(0)
    restored = HistoricalAverage(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1)))
    restored.load_state_dict(torch.load(buffer))
    assert restored.count == history.count == 4
    assert all(torch.equal(a, b) for a, b in zip(restored.averages(), history.averages()))
    # and both continue identically
    history.update(net)
    restored.update(net)
    assert all(torch.equal(a, b) for a, b in zip(restored.averages(), history.averages()))


def test_historical_average_refuses_another_module():
    history = HistoricalAverage(nn.Linear(2, 2))
    with pytest.raises(ZooConfigError, match="other parameters"):
        history.penalty(nn.Sequential(nn.Linear(2, 2)))


def test_instance_noise_sigma_anneals_linearly_to_zero():
    assert instance_noise_sigma(0, 0.2, 100) == pytest.approx(0.2)
    assert instance_noise_sigma(25, 0.2, 100) == pytest.approx(0.15)
    assert instance_noise_sigma(50, 0.2, 100) == pytest.approx(0.1)
    assert instance_noise_sigma(100, 0.2, 100) == 0.0
    assert instance_noise_sigma(10_000, 0.2, 100) == 0.0
    with pytest.raises(ZooConfigError, match="anneal_steps"):
        instance_noise_sigma(0, 0.2, 0)


def test_instance_noise_has_the_requested_scale_and_is_reproducible():
    x = torch.full((200_000,), 3.0)
    noisy = add_instance_noise(x, 0.5, generator=torch.Generator().manual_seed(1))
    assert (noisy - x).mean().abs() < 0.01 and abs((noisy - x).std().item() - 0.5) < 0.01
    again = add_instance_noise(x, 0.5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noisy, again)
    assert add_instance_noise(x, 0.0) is x


def _d_of(logits):
    """D(x) = Z/(Z + 1), Z = Σ_k exp l_k, written literally."""
    z = logits.exp().sum(dim=1)
    return z / (z + 1)


def test_semisupervised_losses_match_their_closed_forms_in_float64():
    torch.manual_seed(0)
    real, fake = torch.randn(32, 10, dtype=torch.float64), torch.randn(48, 10, dtype=torch.float64) - 1
    labels = torch.randint(0, 10, (32,))
    expected_unsup = -torch.log(_d_of(real)).mean() - torch.log(1 - _d_of(fake)).mean()
    assert torch.allclose(unsupervised_discriminator_loss(real, fake), expected_unsup, rtol=1e-12)
    # p(y | x, y < K + 1) = exp l_y / Σ_k exp l_k
    expected_sup = -torch.log(real.exp()[torch.arange(32), labels] / real.exp().sum(1)).mean()
    assert torch.allclose(supervised_loss(real, labels), expected_sup, rtol=1e-12)
    assert torch.allclose(semisupervised_generator_loss(fake), torch.log(1 - _d_of(fake)).mean(), rtol=1e-12)


def test_semisupervised_losses_stay_finite_where_d_saturates():
    confident_real = torch.full((4, 10), 200.0, requires_grad=True)  # Z overflows float32
    confident_fake = torch.full((4, 10), -200.0, requires_grad=True)
    loss = unsupervised_discriminator_loss(confident_real, confident_fake)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() < 1e-30
    assert torch.isfinite(confident_real.grad).all() and torch.isfinite(confident_fake.grad).all()
