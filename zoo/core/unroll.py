"""A look-ahead discriminator: D after K steps of its own optimizer (Metz et al. 2017, §2.2).

    ω⁰ = ω,    ω^{k+1} = ω^k + η^k · update(∂f(θ, ω^k)/∂ω^k)             (Eq. 4)
    f_K(θ, ω) = f(θ, ω^K(θ, ω))                                         (Eq. 5)

The generator descends f_K. Its gradient has a second-order term, df/dω^K · dω^K/dθ, that exists
only if the K steps are differentiable; so the optimizer's update rule is re-implemented here as a
pure function of tensors that reads the real optimizer's hyper-parameters and state (Adam's moments
and step count, SGD's momentum buffer) and never writes to them, and D is called functionally on
the unrolled parameters with :func:`torch.func.functional_call`. The real D and its optimizer are
left exactly as they were.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from zoo.core.optimizers import SqrtEpsAdam, sqrt_eps_adam_update
from zoo.errors import ZooConfigError

Lookahead = Callable[..., Tensor]
State = dict[str, Any]


def _safe_sqrt(x: Tensor) -> Tensor:
    """√x whose derivative at 0 is 0, not ∞ (∞ · 0 would turn a dead unit's gradient into NaN)."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def adam_update(param: Tensor, grad: Tensor, state: State, group: dict[str, Any], decoupled: bool = False) -> tuple[Tensor, State]:
    """One step of :class:`torch.optim.Adam` (AdamW with ``decoupled``), as torch computes it, out of place."""
    beta1, beta2 = group["betas"]
    lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
    grad = -grad if group.get("maximize", False) else grad
    if decoupled or group.get("decoupled_weight_decay", False):
        param = param * (1 - lr * decay)
    elif decay:
        grad = grad + decay * param
    step = float(state.get("step", 0)) + 1
    exp_avg = torch.lerp(state.get("exp_avg", torch.zeros_like(param)), grad, 1 - beta1)
    exp_avg_sq = beta2 * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - beta2) * grad * grad
    second = exp_avg_sq
    if group.get("amsgrad", False):
        second = torch.maximum(state.get("max_exp_avg_sq", torch.zeros_like(param)), exp_avg_sq)
    denom = _safe_sqrt(second) / (1 - beta2**step) ** 0.5 + eps
    param = param - lr / (1 - beta1**step) * exp_avg / denom
    return param, {**state, "step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq, "max_exp_avg_sq": second}


def sgd_update(param: Tensor, grad: Tensor, state: State, group: dict[str, Any]) -> tuple[Tensor, State]:
    """One step of :class:`torch.optim.SGD` with its momentum, dampening and Nesterov options."""
    grad = -grad if group.get("maximize", False) else grad
    if group["weight_decay"]:
        grad = grad + group["weight_decay"] * param
    momentum = group["momentum"]
    if momentum:
        buffer = state.get("momentum_buffer")
        buffer = grad if buffer is None else momentum * buffer + (1 - group["dampening"]) * grad
        grad = grad + momentum * buffer if group["nesterov"] else buffer
        state = {**state, "momentum_buffer": buffer}
    return param - group["lr"] * grad, state


UPDATE_RULES: dict[type, Callable[..., tuple[Tensor, State]]] = {
    torch.optim.Adam: adam_update,
    torch.optim.AdamW: partial(adam_update, decoupled=True),
    torch.optim.SGD: sgd_update,
    SqrtEpsAdam: sqrt_eps_adam_update,
}


def _clip(grads: tuple[Tensor | None, ...], max_norm: float) -> list[Tensor | None]:
    """:func:`torch.nn.utils.clip_grad_norm_`, out of place."""
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads if g is not None]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    return [None if g is None else g * scale for g in grads]


class _Scope(nn.Module):
    """Lets :func:`functional_call` run any function, not only ``forward``, with D's tensors replaced."""

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        self.discriminator = discriminator

    def forward(self, fn: Callable[..., Tensor], *args: Any) -> Tensor:
        return fn(*args)


def with_tensors(discriminator: nn.Module, tensors: dict[str, Tensor]) -> Lookahead:
    """``run(fn, *args)``: ``fn(*args)`` evaluated with ``discriminator``'s parameters and buffers
    replaced by ``tensors`` (by name), through :func:`torch.func.functional_call`."""
    scope, prefixed = _Scope(discriminator), {f"discriminator.{name}": t for name, t in tensors.items()}
    return lambda fn, *args: functional_call(scope, prefixed, (fn, *args))


def unroll(
    discriminator: nn.Module,
    loss: Callable[[], Tensor],
    optimizer: torch.optim.Optimizer | None,
    steps: int,
    second_order: bool = True,
    max_grad_norm: float | None = None,
) -> Lookahead:
    """D after ``steps`` updates of ``optimizer`` on ``loss``: returns ``lookahead(fn, *args)``,
    which evaluates ``fn(*args)`` with D's parameters at ω^K.

    Args:
        discriminator: D; its parameters are the starting point ω⁰ and are never modified.
        loss: D's loss, a function of nothing that calls ``discriminator`` as usual; each step
            evaluates it with D's parameters at the current ω^k.
        optimizer: D's optimizer; its hyper-parameters (at their current learning rate) and state
            are read, never written. Adam, AdamW, SGD and SqrtEpsAdam are supported (unused when K = 0).
        steps: K ≥ 0. With K = 0, ``lookahead(fn, *args)`` is ``fn(*args)`` against the real D.
        second_order: differentiate through the K steps (Eq. 5); ``False`` treats ω^K as a
            constant, the paper's first-order variant.
        max_grad_norm: clip each step's gradient norm as D's own update does (``None``: no clipping).
    """
    if steps == 0:
        return lambda fn, *args: fn(*args)
    rule = UPDATE_RULES.get(type(optimizer))
    if rule is None:
        raise ZooConfigError(f"cannot unroll {type(optimizer).__name__}: supported optimizers are Adam, AdamW, SGD and SqrtEpsAdam")
    groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    named = [(name, p) for name, p in discriminator.named_parameters() if id(p) in groups]
    # Copies, so that neither the real state nor BatchNorm's running statistics change, and the
    # real optimizer may step before G's backward pass.
    states = [{k: v.detach().clone() if torch.is_tensor(v) else v for k, v in optimizer.state.get(p, {}).items()}
              for _, p in named]
    buffers = {name: b.detach().clone() for name, b in discriminator.named_buffers()}
    params = [p.detach() for _, p in named]

    def at(values: list[Tensor]) -> Lookahead:
        return with_tensors(discriminator, {**buffers, **{name: v for (name, _), v in zip(named, values)}})

    for _ in range(steps):
        if not second_order:
            params = [p.detach() for p in params]
        params = [p if p.requires_grad else p.requires_grad_() for p in params]
        grads = torch.autograd.grad(at(params)(loss), params, create_graph=second_order, retain_graph=True, allow_unused=True)
        if max_grad_norm is not None:
            grads = _clip(grads, max_grad_norm)
        # like torch's optimizers, leave a parameter without a gradient (and its state) alone
        stepped = [(p, s) if g is None else rule(p, g, s, groups[id(real)])
                   for p, g, s, (_, real) in zip(params, grads, states, named)]
        params, states = [p for p, _ in stepped], [s for _, s in stepped]
    return at(params if second_order else [p.detach() for p in params])
