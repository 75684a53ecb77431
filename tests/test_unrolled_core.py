"""The functional unroll (zoo.core.unroll): it steps like the real optimizer, differentiates
correctly through the steps, and leaves the real discriminator and its optimizer alone."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from zoo.core.optimizers import SqrtEpsAdam
from zoo.core.unroll import unroll
from zoo.errors import ZooConfigError
from zoo.objectives.adversarial import discriminator_loss, minimax_generator_loss

OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=0.05, betas=(0.5, 0.999)),
    "adam-amsgrad-l2": lambda params: torch.optim.Adam(params, lr=0.05, amsgrad=True, weight_decay=0.01),
    "adamw": lambda params: torch.optim.AdamW(params, lr=0.05, weight_decay=0.1),
    "sqrt-eps-adam": lambda params: SqrtEpsAdam(params, lr=0.05, betas=(0.5, 0.999)),
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1),
    "sgd-momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd-nesterov": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
}


class TinyProblem:
    """A linear G: z ↦ zθ, a smooth (tanh) D, both in float64, and D's optimizer after one real step."""

    def __init__(self, optimizer: str = "adam", seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.discriminator = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1), nn.Flatten(0)).double()
        self.theta = torch.randn(3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
        self.z = torch.randn(10, 3, generator=generator, dtype=torch.float64)
        self.real = torch.randn(10, 2, generator=generator, dtype=torch.float64) + 1.0
        self.optimizer = OPTIMIZERS[optimizer](self.discriminator.parameters())
        self.optimizer.zero_grad()
        self.d_loss(self.z @ self.theta.detach()).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def d_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(self.discriminator(self.real), self.discriminator(fake))

    def generator_loss(self, theta: torch.Tensor, steps: int, second_order: bool = True) -> torch.Tensor:
        """f_K(θ): G's minimax loss against D after ``steps`` unrolled steps."""
        fake = self.z @ theta
        lookahead = unroll(self.discriminator, lambda: self.d_loss(fake), self.optimizer, steps, second_order)
        return lookahead(lambda: minimax_generator_loss(self.discriminator(fake)))

    def gradient(self, steps: int, second_order: bool = True) -> torch.Tensor:
        return torch.autograd.grad(self.generator_loss(self.theta, steps, second_order), self.theta)[0]

    def finite_difference_gradient(self, steps: int, h: float = 1e-6) -> torch.Tensor:
        gradient = torch.zeros_like(self.theta)
        with torch.no_grad():
            base = self.theta.detach()
        for index in range(base.numel()):
            delta = torch.zeros_like(base).view(-1)
            delta[index] = h
            delta = delta.view_as(base)
            with torch.enable_grad():
                up = self.generator_loss(base + delta, steps)
                down = self.generator_loss(base - delta, steps)
            gradient.view(-1)[index] = (up - down).item() / (2 * h)
        return gradient


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_unrolled_parameters_match_the_real_optimizers_steps(name):
    problem = TinyProblem(name)
    fake = problem.z @ problem.theta.detach()
    lookahead = unroll(problem.discriminator, lambda: problem.d_loss(fake), problem.optimizer, steps=4)
    unrolled = lookahead(lambda: {k: v.detach().clone() for k, v in problem.discriminator.state_dict().items()})

    for _ in range(4):  # the same four steps, taken for real
        problem.optimizer.zero_grad()
        problem.d_loss(fake).backward()
        problem.optimizer.step()
    for key, value in problem.discriminator.state_dict().items():
        torch.testing.assert_close(unrolled[key], value, rtol=1e-12, atol=1e-12, msg=f"{name}: {key}")


@pytest.mark.parametrize("name", ["adam", "sgd-momentum", "sqrt-eps-adam"])
def test_unrolled_gradient_matches_finite_differences(name):
    problem = TinyProblem(name, seed=1)
    analytic = problem.gradient(steps=3)
    numeric = problem.finite_difference_gradient(steps=3)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-8)
    # the second-order term matters on this problem: dropping it gives a different gradient
    first_order = problem.gradient(steps=3, second_order=False)
    assert (first_order - numeric).abs().max() > 100 * (analytic - numeric).abs().max()


def test_first_order_variant_treats_the_unrolled_discriminator_as_constant():
    problem = TinyProblem("adam", seed=2)
    fake = problem.z @ problem.theta.detach()
    lookahead = unroll(problem.discriminator, lambda: problem.d_loss(fake), problem.optimizer, steps=3)
    frozen = lookahead(lambda: {k: v.detach().clone() for k, v in problem.discriminator.state_dict().items()})
    constant_d = copy.deepcopy(problem.discriminator)
    constant_d.load_state_dict(frozen)
    expected = torch.autograd.grad(minimax_generator_loss(constant_d(problem.z @ problem.theta)), problem.theta)[0]
    torch.testing.assert_close(problem.gradient(steps=3, second_order=False), expected, rtol=1e-12, atol=1e-12)


def test_zero_steps_is_the_discriminator_itself():
    problem = TinyProblem("adam")
    plain = torch.autograd.grad(minimax_generator_loss(problem.discriminator(problem.z @ problem.theta)), problem.theta)[0]
    assert torch.equal(problem.gradient(steps=0), plain)
    assert not torch.equal(problem.gradient(steps=1), plain)


@pytest.mark.parametrize("name", ["adam", "sgd-nesterov"])
def test_unrolling_leaves_the_discriminator_and_its_optimizer_alone(name):
    problem = TinyProblem(name)
    params = copy.deepcopy(problem.discriminator.state_dict())
    optimizer_state = copy.deepcopy(problem.optimizer.state_dict())

    problem.generator_loss(problem.theta, steps=5).backward()

    assert problem.theta.grad is not None and problem.theta.grad.abs().sum() > 0
    for key, value in problem.discriminator.state_dict().items():
        assert torch.equal(value, params[key]), key
    assert all(p.grad is None for p in problem.discriminator.parameters())
    after = problem.optimizer.state_dict()
    for index, state in optimizer_state["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(after["state"][index][key]), torch.as_tensor(value)), (index, key)


def test_batchnorm_statistics_are_not_updated_by_the_unroll():
    discriminator = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.Adam(discriminator.parameters())
    x = torch.randn(8, 2)
    before = copy.deepcopy(discriminator.state_dict())
    lookahead = unroll(discriminator, lambda: discriminator(x).mean(), optimizer, steps=2)
    lookahead(lambda: discriminator(x).sum()).backward()
    for key, value in discriminator.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_clipping_matches_clip_grad_norm():
    problem = TinyProblem("sgd")
    fake = problem.z @ problem.theta.detach()
    lookahead = unroll(problem.discriminator, lambda: problem.d_loss(fake), problem.optimizer, 2, max_grad_norm=1e-3)
    unrolled = lookahead(lambda: {k: v.detach().clone() for k, v in problem.discriminator.state_dict().items()})
    for _ in range(2):
        problem.optimizer.zero_grad()
        problem.d_loss(fake).backward()
        torch.nn.utils.clip_grad_norm_(problem.discriminator.parameters(), 1e-3)
        problem.optimizer.step()
    for key, value in problem.discriminator.state_dict().items():
        torch.testing.assert_close(unrolled[key], value, rtol=1e-12, atol=1e-12)


def test_unsupported_optimizer_is_a_config_error():
    discriminator = nn.Linear(2, 1)
    with pytest.raises(ZooConfigError, match="cannot unroll RMSprop"):
        unroll(discriminator, lambda: discriminator(torch.ones(1, 2)).sum(), torch.optim.RMSprop(discriminator.parameters()), 1)
