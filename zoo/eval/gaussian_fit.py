"""Exact f-divergences between a 1-D Gaussian mixture P and a Gaussian Q = N(μ, σ²), and the Gaussian
that minimises each: the reference answers f-GAN's 1-D experiment (Table 3) is scored against.

``D_f(P||Q) = ∫ q f(p/q)`` (Nowozin et al. 2016, Eq. 1) is integrated by quadrature over ±12 standard
deviations of every component, and minimised over (μ, log σ) with Nelder-Mead from several starts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, optimize
from torch import Tensor

from zoo.objectives.divergences import fdivergence_integrand, resolve_divergence

_SIGMA_RANGE = (0.05, 20.0)
# The integrand caps density ratios at e^±300, so a divergent integral comes out
# finite but astronomically large; anything above this is reported as infinite.
_DIVERGES_ABOVE = 1e30


@dataclass(frozen=True)
class GaussianMixture1D:
    """A 1-D mixture of Gaussians with the given weights, means and standard deviations."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def log_density(self, x: Tensor) -> Tensor:
        parts = [math.log(w) + gaussian_log_density(x, m, s)
                 for w, m, s in zip(self.weights, self.means, self.stds)]
        return torch.logsumexp(torch.stack(parts), dim=0)

    def sample(self, n: int, generator: torch.Generator, device: str | torch.device) -> Tensor:
        weights = torch.tensor(self.weights, device=device)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        means = torch.tensor(self.means, device=device)[component]
        stds = torch.tensor(self.stds, device=device)[component]
        return means + stds * torch.randn(n, generator=generator, device=device)

    @property
    def mean(self) -> float:
        return float(np.dot(self.weights, self.means))

    @property
    def std(self) -> float:
        second = np.dot(self.weights, np.square(self.stds) + np.square(self.means))
        return float(math.sqrt(second - self.mean**2))


def gaussian_log_density(x: Tensor, mu: float | Tensor, sigma: float | Tensor) -> Tensor:
    """``log N(x; μ, σ²)``, elementwise."""
    z = (x - mu) / sigma
    log_sigma = torch.log(torch.as_tensor(sigma, dtype=x.dtype))
    return -0.5 * z * z - log_sigma - 0.5 * math.log(2 * math.pi)


def _integration_range(mu: float, sigma: float, target: GaussianMixture1D) -> tuple[float, float]:
    low = min([m - 12 * s for m, s in zip(target.means, target.stds)] + [mu - 12 * sigma])
    high = max([m + 12 * s for m, s in zip(target.means, target.stds)] + [mu + 12 * sigma])
    return low, high


def divergence_to_gaussian(divergence: str, mu: float, sigma: float,
                           target: GaussianMixture1D, exact: bool = False) -> float:
    """``D_f(P||N(μ, σ²))`` by quadrature: trapezoid on 4001 points (fast, for the
    optimiser) or, with ``exact=True``, adaptive ``scipy.integrate.quad``, over ±12
    standard deviations of every component. Returns ``inf`` where the integral
    clearly diverges (e.g. Neyman χ² for σ well above √2 times P's sd); just past
    such a boundary the truncated integral is still finite."""
    row = resolve_divergence(divergence)
    low, high = _integration_range(mu, sigma, target)

    def integrand(x: Tensor) -> Tensor:
        return fdivergence_integrand(row, target.log_density(x), gaussian_log_density(x, mu, sigma))

    if not exact:
        grid = torch.linspace(low, high, 4001, dtype=torch.float64)
        value = float(torch.trapezoid(integrand(grid), grid))
    else:
        value, _ = integrate.quad(
            lambda x: float(integrand(torch.tensor([x], dtype=torch.float64))), low, high,
            points=sorted(set(target.means) | {mu}), limit=500, epsabs=1e-12, epsrel=1e-10)
    return math.inf if value > _DIVERGES_ABOVE else float(value)


@contextlib.contextmanager
def one_cpu_thread(device: str) -> Iterator[None]:
    """Tiny networks run fastest on one thread (and do not oversubscribe shared CPUs)."""
    previous = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def numerically_optimal_gaussian(divergence: str, target: GaussianMixture1D) -> tuple[float, float]:
    """θ* = argmin over (μ, σ) of the quadrature divergence (best of several starts)."""

    def objective(params: np.ndarray) -> float:
        mu, log_sigma = float(params[0]), float(params[1])
        if not math.log(_SIGMA_RANGE[0]) <= log_sigma <= math.log(_SIGMA_RANGE[1]):
            return 1e300
        value = divergence_to_gaussian(divergence, mu, math.exp(log_sigma), target)
        # A finite stand-in for inf keeps Nelder-Mead's convergence test (f differences) valid.
        return value if math.isfinite(value) else 1e300

    starts = [(target.mean, target.std)] + list(zip(target.means, target.stds))
    best = None
    with one_cpu_thread("cpu"):
        for mu0, sigma0 in starts:
            fit = optimize.minimize(objective, np.array([mu0, math.log(sigma0)]),
                                    method="Nelder-Mead",
                                    options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 2000})
            if best is None or fit.fun < best.fun:
                best = fit
    return float(best.x[0]), float(math.exp(best.x[1]))
