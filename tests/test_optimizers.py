"""zoo.core.optimizers: the released Improved-GAN code's Adam, checked against its formula, and the players' optimizers by name."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import tiny_vanilla
from zoo.core.optimizers import SqrtEpsAdam
from zoo.errors import ZooConfigError


def _theano_adam(values, gradients, lr, beta1, beta2, eps=1e-8):
    """nn.adam_updates of openai/improved-gan, in plain Python floats, one parameter per value."""
    m, v, out = [0.0] * len(values), [0.0] * len(values), list(values)
    for t, grads in enumerate(gradients, start=1):
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            out[i] -= lr * (m[i] / (1 - beta1**t)) / math.sqrt(v[i] / (1 - beta2**t) + eps)
    return out


def test_steps_follow_the_released_codes_formula_and_differ_from_torch_adam_where_gradients_are_tiny():
    gradients = [[0.3, -2e-5, 1e-3], [0.1, -3e-5, -2e-3], [-0.2, -1e-5, 4e-3]]
    params = {name: torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64, requires_grad=True) for name in ("ours", "torch")}
    optimizers = {"ours": SqrtEpsAdam([params["ours"]], lr=0.003, betas=(0.5, 0.999)),
                  "torch": torch.optim.Adam([params["torch"]], lr=0.003, betas=(0.5, 0.999))}
    for grads in gradients:
        for name, optimizer in optimizers.items():
            params[name].grad = torch.tensor(grads, dtype=torch.float64)
            optimizer.step()
    expected = _theano_adam([1.0, -0.5, 0.25], gradients, 0.003, 0.5, 0.999)
    assert params["ours"].tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    moved = {name: (params[name].detach() - torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)).abs().tolist() for name in params}
    assert moved["ours"][0] == pytest.approx(moved["torch"][0], rel=1e-6)  # large gradients: the same step
    assert moved["ours"][1] < moved["torch"][1] / 3  # |g| ≈ 2e-5, far below √ε = 1e-4: a much smaller step


def test_state_round_trips_through_a_checkpoint_and_the_next_step_is_the_same():
    def fresh():
        torch.manual_seed(0)
        layer = torch.nn.Linear(3, 2)
        return layer, SqrtEpsAdam(layer.parameters(), lr=0.01)

    def step(layer, optimizer, seed):
        optimizer.zero_grad()
        layer(torch.randn(4, 3, generator=torch.Generator().manual_seed(seed))).pow(2).sum().backward()
        optimizer.step()

    straight, straight_opt = fresh()
    for seed in range(3):
        step(straight, straight_opt, seed)
    halfway, halfway_opt = fresh()
    for seed in range(2):
        step(halfway, halfway_opt, seed)
    saved = {"model": halfway.state_dict(), "optimizer": halfway_opt.state_dict()}
    torch.save(saved, buffer := __import__("io").BytesIO())
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    resumed, resumed_opt = fresh()
    resumed.load_state_dict(loaded["model"])
    resumed_opt.load_state_dict(loaded["optimizer"])
    step(resumed, resumed_opt, 2)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bad_hyper_parameters_fail_in_one_line():
    with pytest.raises(ValueError, match="lr > 0"):
        SqrtEpsAdam([torch.zeros(1, requires_grad=True)], lr=0.0)


def test_each_player_gets_the_optimizer_the_config_names_and_an_unknown_name_fails_at_construction():
    for name, expected in (("adam", torch.optim.Adam), ("sgd", torch.optim.SGD), ("adam_sqrt_eps", SqrtEpsAdam)):
        g_opt, d_opt = tiny_vanilla(optimizer=name, momentum=0.5, betas=(0.3, 0.9)).configure_optimizers()[0]
        assert type(g_opt) is expected and type(d_opt) is expected
        assert g_opt.defaults.get("betas", (0.3, 0.9)) == (0.3, 0.9) and g_opt.defaults.get("momentum", 0.5) == 0.5
    with pytest.raises(ZooConfigError, match="model.optimizer must be one of adam, sgd, adam_sqrt_eps, got 'rmsprop'"):
        tiny_vanilla(optimizer="rmsprop")
