"""The players' optimizers: torch's, and those that papers' released code used and torch does not offer.

:class:`SqrtEpsAdam` is Adam as the released Theano code of Salimans et al. (2016) writes it
(``nn.adam_updates`` in openai/improved-gan): ε sits under the square root,

    θ ← θ − lr · m̂ / √(v̂ + ε),        torch.optim.Adam: θ ← θ − lr · m̂ / (√v̂ + ε).

With ε = 1e-8 the two agree where gradients are large, but a parameter whose gradients stay far below
√ε = 1e-4 (in that code's MNIST generator, most of the second hidden layer's weights) takes steps
shrunk by about √v̂ / 1e-4 there, and full-size, sign-like steps in torch's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

State = dict[str, Any]


def sqrt_eps_adam_update(param: Tensor, grad: Tensor, state: State, group: dict[str, Any]) -> tuple[Tensor, State]:
    """One :class:`SqrtEpsAdam` step, out of place: the new parameter and state."""
    beta1, beta2 = group["betas"]
    step = float(state.get("step", 0)) + 1
    exp_avg = torch.lerp(state.get("exp_avg", torch.zeros_like(param)), grad, 1 - beta1)
    exp_avg_sq = beta2 * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - beta2) * grad * grad
    direction = (exp_avg / (1 - beta1**step)) / (exp_avg_sq / (1 - beta2**step) + group["eps"]).sqrt()
    return param - group["lr"] * direction, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


class SqrtEpsAdam(torch.optim.Optimizer):
    """Adam with ε under the square root (see the module docstring); no weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if lr <= 0 or eps < 0 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"SqrtEpsAdam needs lr > 0, eps >= 0 and betas in [0, 1), got {lr}, {eps}, {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                updated, self.state[param] = sqrt_eps_adam_update(param, param.grad, self.state[param], group)
                param.copy_(updated)
        return loss


OPTIMIZERS = ("adam", "sgd", "adam_sqrt_eps")


def make_optimizer(name: str, params: Iterable[Any], lr: float, betas: tuple[float, float],
                   momentum: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``params``; ``betas`` for the Adams,
    ``momentum`` for SGD."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam_sqrt_eps":
        return SqrtEpsAdam(params, lr=lr, betas=tuple(betas))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
