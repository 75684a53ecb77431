"""The f-divergence table of f-GAN (Nowozin, Cseke & Tomioka 2016, Tables 1 and 2).

An f-divergence is ``D_f(P||Q) = ∫ q(x) f(p(x)/q(x)) dx`` (Eq. 1) for a convex,
lower-semicontinuous generator ``f`` with ``f(1) = 0`` (the GAN row excepted). Its variational lower bound
(Eq. 4) is ``D_f(P||Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))]``, where ``f*`` is the
Fenchel conjugate of ``f``; the bound is tight at ``T*(x) = f'(p(x)/q(x))`` (Eq. 5).
f-GAN writes ``T = g_f(V)`` with an unconstrained network output ``V`` and an output
activation ``g_f`` that maps ℝ into the domain of ``f*`` (Eq. 6, Table 2).

Every row below holds, for one divergence, on torch tensors:

* ``f(u)``, the generator, for density ratios ``u > 0``;
* ``conjugate(t)``, ``f*(t)`` for ``t`` in ``dom f*`` (the open interval
  ``conjugate_domain``; closed for total variation). Values of ``t`` at or past a
  finite boundary, which only round-off produces, are clamped just inside it so
  that results and gradients stay finite;
* ``activation(v)``, ``g_f(v)``, written with ``softplus``/``expm1`` so that it is
  finite for every finite ``v``;
* ``conjugate_of_activation(v)``, ``f*(g_f(v))`` in closed form: equal to
  ``conjugate(activation(v))`` but exact for large ``|v|`` (e.g. ``softplus(v)`` for
  GAN), which is what the f-GAN losses use;
* ``optimal_t(u)``, ``T* = f'(u)`` as a function of the density ratio ``u = p/q``;
* ``f_prime_at_one``, ``f'(1)``: the threshold on ``T`` separating "real" from
  "fake" (Section 3 of the paper).

Notes on conventions, following the paper's tables. The Jensen–Shannon generator
``u log u - (1+u) log((1+u)/2)`` gives ``D_f = 2 JSD``; the GAN generator
``u log u - (1+u) log(1+u)`` has ``f(1) = -log 4`` rather than 0 and gives
``D_f = 2 JSD - log 4`` (the GAN value function of Goodfellow et al.). Pearson's conjugate
``t²/4 + t`` is that of ``(u-1)²`` on all of ℝ; for ``t < -2`` it exceeds the
conjugate over ``u > 0``, which keeps Eq. 4 a valid lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.errors import ZooConfigError
from zoo.objectives.lambert_w import lambert_w_of_exp

TensorFn = Callable[[Tensor], Tensor]
_LOG2 = math.log(2.0)
# |log p - log q| is capped here in fdivergence_integrand: e^300 squared still fits
# in float64, and ratios that extreme only occur where both densities are negligible
# (or where the integral diverges, and the result is then huge anyway).
_MAX_LOG_RATIO = 300.0


@dataclass(frozen=True)
class FDivergence:
    """One row of f-GAN's Tables 1 and 2 (see the module docstring for each field)."""

    name: str
    label: str
    f: TensorFn
    conjugate: TensorFn
    activation: TensorFn
    conjugate_of_activation: TensorFn
    optimal_t: TensorFn
    f_prime_at_one: float
    conjugate_domain: tuple[float, float]


def _floor(x: Tensor) -> Tensor:
    """Keep a positive quantity off zero: the smallest gap a float below 1 can have."""
    return torch.clamp(x, min=torch.finfo(x.dtype).eps / 2)


def _tiny(x: Tensor) -> Tensor:
    return torch.clamp(x, min=torch.finfo(x.dtype).tiny)


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    # f*(t) = W + 1/W + t - 2 with W = W0(e^{1-t}). Since log W = 1 - t - W this is
    # 1/W - log W - 1, which avoids cancelling W against t for t -> -inf. For W <= 1
    # (t >= 0), 1/W is computed as exp(W + t - 1) so that the gradient (= 1/W) has no
    # 1/W**2 intermediate that overflows; each branch gets a harmless input where
    # it is not selected, so torch.where passes no NaN gradients.
    w = lambert_w_of_exp(1.0 - t)
    log_w = torch.log(w)
    large = w > 1.0
    inverse_w = torch.where(
        large,
        torch.exp(-torch.where(large, log_w, torch.zeros_like(log_w))),
        torch.exp(torch.where(large, torch.zeros_like(t), w + t - 1.0)),
    )
    return inverse_w - log_w - 1.0


def _identity(v: Tensor) -> Tensor:
    return v


def _one_minus_exp_neg(v: Tensor) -> Tensor:
    return -torch.expm1(-v)


_ROWS = (
    FDivergence(
        name="total_variation",
        label="Total variation",
        f=lambda u: 0.5 * torch.abs(u - 1.0),
        conjugate=lambda t: t,
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
        optimal_t=lambda u: 0.5 * torch.sign(u - 1.0),
        f_prime_at_one=0.0,
        conjugate_domain=(-0.5, 0.5),
    ),
    FDivergence(
        name="kl",
        label="Kullback-Leibler",
        f=lambda u: torch.xlogy(u, u),
        conjugate=lambda t: torch.exp(t - 1.0),
        activation=_identity,
        conjugate_of_activation=lambda v: torch.exp(v - 1.0),
        optimal_t=lambda u: 1.0 + torch.log(u),
        f_prime_at_one=1.0,
        conjugate_domain=(-math.inf, math.inf),
    ),
    FDivergence(
        name="reverse_kl",
        label="Reverse KL",
        f=lambda u: -torch.log(u),
        conjugate=lambda t: -1.0 - torch.log(_tiny(-t)),
        activation=lambda v: -torch.exp(-v),
        conjugate_of_activation=lambda v: v - 1.0,
        optimal_t=lambda u: -1.0 / u,
        f_prime_at_one=-1.0,
        conjugate_domain=(-math.inf, 0.0),
    ),
    FDivergence(
        name="pearson",
        label="Pearson chi^2",
        f=lambda u: (u - 1.0) ** 2,
        conjugate=lambda t: 0.25 * t * t + t,
        activation=_identity,
        conjugate_of_activation=lambda v: 0.25 * v * v + v,
        optimal_t=lambda u: 2.0 * (u - 1.0),
        f_prime_at_one=0.0,
        conjugate_domain=(-math.inf, math.inf),
    ),
    FDivergence(
        name="neyman",
        label="Neyman chi^2",
        f=lambda u: (1.0 - u) ** 2 / u,
        conjugate=lambda t: 2.0 - 2.0 * torch.sqrt(_floor(1.0 - t)),
        activation=_one_minus_exp_neg,
        conjugate_of_activation=lambda v: 2.0 - 2.0 * torch.exp(-0.5 * v),
        optimal_t=lambda u: 1.0 - 1.0 / (u * u),
        f_prime_at_one=0.0,
        conjugate_domain=(-math.inf, 1.0),
    ),
    FDivergence(
        name="squared_hellinger",
        label="Squared Hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        conjugate=lambda t: t / _floor(1.0 - t),
        activation=_one_minus_exp_neg,
        conjugate_of_activation=torch.expm1,
        optimal_t=lambda u: 1.0 - 1.0 / torch.sqrt(u),
        f_prime_at_one=0.0,
        conjugate_domain=(-math.inf, 1.0),
    ),
    FDivergence(
        name="jeffrey",
        label="Jeffrey",
        f=lambda u: (u - 1.0) * torch.log(u),
        conjugate=_jeffrey_conjugate,
        activation=_identity,
        conjugate_of_activation=_jeffrey_conjugate,
        optimal_t=lambda u: 1.0 + torch.log(u) - 1.0 / u,
        f_prime_at_one=0.0,
        conjugate_domain=(-math.inf, math.inf),
    ),
    FDivergence(
        name="js",
        label="Jensen-Shannon",
        f=lambda u: torch.xlogy(u, u) - (1.0 + u) * torch.log((1.0 + u) / 2.0),
        # -log(2 - e^t) = -log 2 - log(1 - e^{t - log 2}), accurate for t near log 2
        conjugate=lambda t: -_LOG2 - torch.log(_tiny(-torch.expm1(t - _LOG2))),
        activation=lambda v: _LOG2 - F.softplus(-v),
        conjugate_of_activation=lambda v: F.softplus(v) - _LOG2,
        optimal_t=lambda u: torch.log(2.0 * u / (1.0 + u)),
        f_prime_at_one=0.0,
        conjugate_domain=(-math.inf, _LOG2),
    ),
    FDivergence(
        name="gan",
        label="GAN",
        f=lambda u: torch.xlogy(u, u) - torch.xlogy(1.0 + u, 1.0 + u),
        conjugate=lambda t: -torch.log(_tiny(-torch.expm1(t))),
        activation=lambda v: -F.softplus(-v),
        conjugate_of_activation=F.softplus,
        optimal_t=lambda u: torch.log(u / (1.0 + u)),
        f_prime_at_one=-_LOG2,
        conjugate_domain=(-math.inf, 0.0),
    ),
)

#: The f-GAN divergences by name, in the order of the paper's Table 1.
DIVERGENCES: dict[str, FDivergence] = {row.name: row for row in _ROWS}


def resolve_divergence(divergence: str | FDivergence) -> FDivergence:
    """Return the row for ``divergence`` (a row or one of the names in :data:`DIVERGENCES`)."""
    if isinstance(divergence, FDivergence):
        return divergence
    if divergence not in DIVERGENCES:
        raise ZooConfigError(
            f"unknown f-divergence {divergence!r}; choose one of: {', '.join(DIVERGENCES)}"
        )
    return DIVERGENCES[divergence]


def fdivergence_integrand(
    divergence: str | FDivergence, log_p: Tensor, log_q: Tensor
) -> Tensor:
    """The integrand ``q f(p/q)`` of Eq. 1, from log densities, without over/underflow.

    Where ``p <= q`` it is ``q f(u)``; where ``p > q`` it is rewritten ``p f(u)/u`` so
    that the larger density multiplies a bounded factor. ``|log u|`` is capped at
    300, which matters only where both densities are below ``e^-300`` relative to
    each other, i.e. in negligible tails or in integrals that diverge anyway. Use
    float64 for quadrature.
    """
    row = resolve_divergence(divergence)
    log_ratio = torch.clamp(log_p - log_q, -_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    u = torch.exp(log_ratio)
    q_side = torch.exp(log_q) * row.f(u)
    p_side = torch.exp(log_p) * row.f(u) / u
    return torch.where(log_ratio <= 0, q_side, p_side)
