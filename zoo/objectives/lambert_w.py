"""Principal branch W0 of the Lambert W function, in torch, with autograd.

W0(x) is the solution w >= -1 of ``w * exp(w) = x`` for ``x >= -1/e``. The f-GAN
paper (Nowozin, Cseke & Tomioka 2016, Table 2) needs it for the Fenchel conjugate of
the Jeffrey divergence, ``f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2``, where the
argument ``e^{1-t}`` overflows for very negative ``t``. :func:`lambert_w_of_exp`
therefore works in log space: it takes ``a`` and returns ``W0(e^a)`` without ever
forming ``e^a``.

Both functions are :class:`torch.autograd.Function` s. Their backward passes use the
closed-form derivative ``W'(x) = W / (x (1 + W)) = exp(-W) / (1 + W)`` (the second
form is finite at ``x = 0``) computed from the saved output, so second derivatives
work too. They run on any device and dtype; the Halley iteration count is fixed, so
there is no host synchronisation on GPU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Halley's method converges cubically; from the initial guesses below, 6 steps reach
# float64 round-off over the whole domain (checked against scipy in the tests).
_HALLEY_STEPS = 6
_NEG_INV_E = -math.exp(-1.0)
# Above this, W0 is computed as exp(log W0(e^{log x})); below, directly on w.
_DIRECT_MAX = 10.0


def _log_w0_of_exp(a: Tensor) -> Tensor:
    """Return ``y = log W0(e^a)``, the root of ``h(y) = e^y + y - a``.

    ``h`` is convex and increasing in ``y``, so Halley/Newton steps never leave the
    basin. Initial guess: ``W ~ e^a`` (``y = a``) for ``a <= 1`` and the asymptotic
    ``W ~ a - log a`` for larger ``a``.
    """
    large = a > 1.0
    a_safe = torch.where(large, a, torch.ones_like(a))
    y = torch.where(large, torch.log(a_safe - torch.log(a_safe)), a)
    for _ in range(_HALLEY_STEPS):
        ey = torch.exp(y)
        h = ey + y - a
        dh = ey + 1.0
        # Halley: y -= 2 h h' / (2 h'^2 - h h''), with h'' = e^y, divided through
        # by h' so that nothing overflows for huge a.
        y = y - h / (dh - 0.5 * h * ey / dh)
    return y


def _w0_of_exp(a: Tensor) -> Tensor:
    """``W0(e^a)``: the log-space root, then for ``a > 1`` one Newton step on
    ``w + log w - a`` in linear space, since ``exp(y)`` carries ``|y|`` ulps of error."""
    w = torch.exp(_log_w0_of_exp(a))
    refined = w - (w + torch.log(w) - a) / (1.0 + 1.0 / w)
    w = torch.where(a > 1.0, refined, w)
    return torch.where(torch.isinf(a), torch.clamp(a, min=0.0), w)


def _w0_direct(x: Tensor) -> Tensor:
    """W0 on ``[-1/e, _DIRECT_MAX]`` by Halley's method on ``w e^w - x``.

    Working on ``w`` itself (not its log) keeps full relative accuracy for tiny
    ``|x|``, where ``W(x) ~ x``. Near the branch point the series in
    ``p = sqrt(2 (e x + 1))`` is a good start; elsewhere ``log1p(x)`` is.
    """
    p = torch.sqrt(torch.clamp(2.0 * (math.e * x + 1.0), min=0.0))
    near_branch = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
    w = torch.where(x < -0.25, near_branch, torch.log1p(x))
    for _ in range(_HALLEY_STEPS + 2):
        ew = torch.exp(w)
        residual = w * ew - x
        slope = ew * (w + 1.0)
        denominator = slope - (w + 2.0) * residual / (2.0 * w + 2.0)
        step = torch.where(denominator != 0, residual / denominator, torch.zeros_like(w))
        w = torch.where(torch.isfinite(step), w - step, w)
    return torch.clamp(w, min=-1.0)


def _w0_forward(x: Tensor) -> Tensor:
    large = x > _DIRECT_MAX
    x_large = torch.where(large, x, torch.full_like(x, _DIRECT_MAX))
    w_large = _w0_of_exp(torch.log(x_large))
    x_small = torch.where(large, torch.zeros_like(x), x)
    w = torch.where(large, w_large, _w0_direct(x_small))
    w = torch.where(torch.isposinf(x), x, w)
    return torch.where(x < _NEG_INV_E, torch.full_like(x, float("nan")), w)


class _LambertW0(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        w = _w0_forward(x)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:  # type: ignore[override]
        (w,) = ctx.saved_tensors
        return grad_output * torch.exp(-w) / (1.0 + w)


class _LambertW0OfExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor) -> Tensor:  # type: ignore[override]
        w = _w0_of_exp(a)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:  # type: ignore[override]
        (w,) = ctx.saved_tensors
        # d/da W(e^a) = e^a W'(e^a) = W / (1 + W)
        return grad_output * w / (1.0 + w)


def lambert_w(x: Tensor) -> Tensor:
    """Principal branch ``W0(x)`` for ``x >= -1/e`` (NaN below), differentiable."""
    return _LambertW0.apply(x)


def lambert_w_of_exp(a: Tensor) -> Tensor:
    """``W0(exp(a))`` for any real ``a``, computed in log space (no overflow for large ``a``).

    For ``a -> -inf`` this tends to ``exp(a)``; for ``a -> +inf`` to ``a - log a``.
    Differentiable, with ``d/da W0(e^a) = W / (1 + W)``.
    """
    return _LambertW0OfExp.apply(a)
