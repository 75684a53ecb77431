"""Parzen-window (isotropic Gaussian KDE) log-likelihood, the MNIST score of the early GAN papers.

Goodfellow et al. (2014), "Generative Adversarial Nets", Section 5 and Table 1 (after Breuleux et al.,
2011): fit a Gaussian kernel density with one width σ to N generated samples ``s_i`` and report the
mean log-likelihood of the test images, in nats::

    log p(x) = logsumexp_i(-‖x - s_i‖² / 2σ²) - log N - (d/2) log(2πσ²)

σ is chosen by the mean log-likelihood of a validation set over a grid (Goodfellow et al. use
``10 ** linspace(-1, 0, 10)``); the score is reported as mean ± standard error over test points.

How it is computed. Distances come from matrix products, ``‖x‖² + ‖s‖² - 2 x·s``, in float32 blocks of
``point_chunk × sample_chunk``; each block is reduced at once by a streaming (online) logsumexp whose
running state is a float64 vector per point, so memory is one float32 copy of the samples plus one or
two blocks, whatever N and M are. The code is device-agnostic: everything runs where ``samples`` is.

Precision. The expansion cancels catastrophically when ``x ≈ s``: its float32 error is about
``ε·(‖x‖² + ‖s‖²)`` whatever the true distance, which ``1/2σ²`` then magnifies. So both sets are
centred on the samples' mean first (smaller norms), and the nearest sample of every point -- the term
that dominates the sum whenever the cancellation matters -- is recomputed exactly in float64 from the
original inputs and swapped into the logsumexp; distances are clamped at 0. The other terms keep an
absolute error of order ``ε·‖x‖²/σ²`` nats: a few 1e-6 nats in the tests, which check agreement with a
float64 direct computation to 1e-4 relative (1e-5 nats absolute, for values near 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from zoo.errors import require

# Goodfellow et al. (2014)'s grid, 10 ** linspace(-1, 0, 10): 0.1, 0.129, ..., 1.0.
DEFAULT_SIGMAS: tuple[float, ...] = tuple(10.0 ** (-1.0 + i / 9.0) for i in range(10))
_EXP_FLOOR = -80.0  # exp(-80) ~ 2e-35 is still a normal float32


def _as_matrix(values, name: str) -> torch.Tensor:
    values = torch.as_tensor(values)
    require(
        values.dim() >= 1 and values.shape[0] > 0,
        f"{name} must have shape (n, ...) with n >= 1, got {tuple(values.shape)}",
    )
    return values.reshape(values.shape[0], -1)


def _check_sigmas(sigmas: Sequence[float]) -> list[float]:
    sigmas = [float(s) for s in sigmas]
    require(len(sigmas) > 0, "the sigma grid is empty; pass at least one kernel width")
    bad = [s for s in sigmas if not (math.isfinite(s) and s > 0)]
    require(not bad, f"kernel widths must be positive and finite, got {bad}")
    return sigmas


def default_chunk_sizes(device: torch.device) -> tuple[int, int]:
    """Default ``(point_chunk, sample_chunk)`` for a device."""
    # CPU: a 512 × 2048 float32 block (4 MiB) stays in cache for the elementwise passes.
    # GPU: large blocks (256 MiB) keep the matmul busy.
    return (512, 2048) if device.type == "cpu" else (4096, 16384)


def log_likelihood_grid(
    samples: torch.Tensor,
    points: torch.Tensor,
    sigmas: Sequence[float],
    *,
    point_chunk: int | None = None,
    sample_chunk: int | None = None,
) -> torch.Tensor:
    """Parzen log-likelihood of every point under every σ, as a float64 tensor of shape ``(S, M)``.

    The distances do not depend on σ, so one pass over the data serves the whole grid.
    """
    samples, points = _as_matrix(samples, "samples"), _as_matrix(points, "points")
    sigmas = _check_sigmas(sigmas)
    n, d = samples.shape
    require(
        points.shape[1] == d,
        f"points have {points.shape[1]} values each but samples have {d}; both must flatten to the same size",
    )
    device = samples.device
    default_points, default_samples = default_chunk_sizes(device)
    point_chunk, sample_chunk = point_chunk or default_points, sample_chunk or default_samples
    require(point_chunk > 0 and sample_chunk > 0, "point_chunk and sample_chunk must be positive")

    inv_var = torch.tensor([1.0 / (s * s) for s in sigmas], dtype=torch.float64, device=device)
    # Any shift common to samples and points leaves distances unchanged; the mean makes norms small.
    center = samples.to(torch.float32).mean(0)
    centred = torch.empty(n, d, dtype=torch.float32, device=device)
    neg_half_sq = torch.empty(n, dtype=torch.float32, device=device)
    for start in range(0, n, sample_chunk):
        block = samples[start : start + sample_chunk].to(torch.float32) - center
        centred[start : start + sample_chunk] = block
        neg_half_sq[start : start + sample_chunk] = block.square().sum(1).mul_(-0.5)

    # Preallocated blocks: a fresh multi-MiB allocation per block costs page faults on CPU.
    block_buf = torch.empty(point_chunk * min(sample_chunk, n), dtype=torch.float32, device=device)
    scratch = torch.empty_like(block_buf) if len(sigmas) > 1 else None
    lse = torch.empty(len(sigmas), points.shape[0], dtype=torch.float64, device=device)
    for start in range(0, points.shape[0], point_chunk):
        exact_points = points[start : start + point_chunk].to(device=device, dtype=torch.float64)
        lse[:, start : start + point_chunk] = _point_block_lse(
            exact_points, samples, centred, neg_half_sq, center, inv_var, sample_chunk, block_buf, scratch
        )
    log_norm = math.log(n) + 0.5 * d * torch.log(2 * math.pi / inv_var)
    return lse - log_norm[:, None]


def _point_block_lse(
    exact_points: torch.Tensor,
    samples: torch.Tensor,
    centred: torch.Tensor,
    neg_half_sq: torch.Tensor,
    center: torch.Tensor,
    inv_var: torch.Tensor,
    sample_chunk: int,
    block_buf: torch.Tensor,
    scratch: torch.Tensor | None,
) -> torch.Tensor:
    """``logsumexp_i(-‖x - s_i‖² / 2σ²)`` for one chunk of points and every σ, shape ``(S, m)``.

    Works with ``h = x·s - ‖s‖²/2 = (‖x‖² - D)/2``, so ``-D/2σ² = (h - ‖x‖²/2)/σ²``: the row constant
    ``‖x‖²/2`` leaves the inner loop and the nearest sample is the row maximum of ``h`` for every σ.
    """
    m, n = exact_points.shape[0], centred.shape[0]
    x = exact_points.to(torch.float32) - center
    bound = 0.5 * x.square().sum(1, keepdim=True)  # h <= ‖x‖²/2 is D >= 0
    x_half_sq = bound[:, 0].to(torch.float64)
    inv_var_list = inv_var.tolist()

    best = torch.full((m,), -math.inf, dtype=torch.float64, device=x.device)
    best_index = torch.zeros(m, dtype=torch.long, device=x.device)
    sums = torch.zeros(len(inv_var_list), m, dtype=torch.float64, device=x.device)
    for start in range(0, n, sample_chunk):
        stop = min(start + sample_chunk, n)
        h = block_buf[: m * (stop - start)].view(m, stop - start)
        torch.addmm(neg_half_sq[start:stop], x, centred[start:stop].T, out=h)
        torch.minimum(h, bound, out=h)
        block_max, block_arg = h.max(dim=1)
        h.sub_(block_max[:, None])
        block_sums = torch.stack(
            [_exp_row_sums(h, iv, scratch, last=k == len(inv_var_list) - 1) for k, iv in enumerate(inv_var_list)]
        )
        # Online logsumexp: rescale both partial sums to the new running maximum.
        block_max = block_max.to(torch.float64)
        new_best = torch.maximum(best, block_max)
        sums = sums * torch.exp((best - new_best)[None] * inv_var[:, None])
        sums += block_sums * torch.exp((block_max - new_best)[None] * inv_var[:, None])
        best_index = torch.where(block_max > best, block_arg + start, best_index)
        best = new_best

    # The nearest sample enters `sums` with weight exactly 1; swap its float32 term for the exact one.
    approx_top = (best - x_half_sq)[None] * inv_var[:, None]
    nearest = samples[best_index].to(torch.float64)
    exact_top = -0.5 * (exact_points - nearest).square().sum(1)[None] * inv_var[:, None]
    rest = torch.log((sums - 1.0).clamp_min(0.0))
    return torch.logaddexp(exact_top, approx_top + rest)


def _exp_row_sums(shifted: torch.Tensor, inv_var: float, scratch: torch.Tensor | None, last: bool) -> torch.Tensor:
    """Row sums of ``exp(shifted / σ²)``; the last σ of the grid may overwrite ``shifted``.

    Exponents are floored at :data:`_EXP_FLOOR`: CPU ``exp`` is ~30× slower when its result underflows,
    and a term below ``e^-80`` of the largest one cannot change the sum of fewer than 1e18 terms.
    """
    if last or scratch is None:
        values = shifted.mul_(inv_var)
    else:
        values = torch.mul(shifted, inv_var, out=scratch[: shifted.numel()].view_as(shifted))
    return values.clamp_(min=_EXP_FLOOR).exp_().sum(1).to(torch.float64)


def parzen_log_likelihood(
    samples: torch.Tensor,
    points: torch.Tensor,
    sigma: float,
    *,
    point_chunk: int | None = None,
    sample_chunk: int | None = None,
) -> torch.Tensor:
    """Log-likelihood in nats of each of the M ``points`` under a Gaussian KDE of ``samples`` (width σ).

    ``samples`` is ``(N, ...)`` and ``points`` is ``(M, ...)``; both are flattened. Returns a float64
    tensor of shape ``(M,)`` on the samples' device. Chunk sizes trade memory for speed only.
    """
    grid = log_likelihood_grid(samples, points, [sigma], point_chunk=point_chunk, sample_chunk=sample_chunk)
    return grid[0]


def validation_curve(
    samples: torch.Tensor,
    validation: torch.Tensor,
    sigmas: Sequence[float] | None = None,
    *,
    point_chunk: int | None = None,
    sample_chunk: int | None = None,
) -> list[tuple[float, float]]:
    """``(σ, mean validation log-likelihood)`` for every σ of the grid (default :data:`DEFAULT_SIGMAS`)."""
    sigmas = _check_sigmas(DEFAULT_SIGMAS if sigmas is None else sigmas)
    grid = log_likelihood_grid(samples, validation, sigmas, point_chunk=point_chunk, sample_chunk=sample_chunk)
    return list(zip(sigmas, grid.mean(1).tolist()))


def select_sigma(
    samples: torch.Tensor,
    validation: torch.Tensor,
    sigmas: Sequence[float] | None = None,
    *,
    point_chunk: int | None = None,
    sample_chunk: int | None = None,
) -> float:
    """The σ of the grid with the highest mean validation log-likelihood (Goodfellow et al., 2014)."""
    curve = validation_curve(samples, validation, sigmas, point_chunk=point_chunk, sample_chunk=sample_chunk)
    return max(curve, key=lambda pair: pair[1])[0]


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error ``std / sqrt(M)``; std with ddof=0, numpy's default, as the reference script."""
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    require(values.numel() > 0, "cannot average an empty set of log-likelihoods")
    std = values.std(correction=0).item() if values.numel() > 1 else 0.0
    return values.mean().item(), std / math.sqrt(values.numel())


@dataclass(frozen=True)
class ParzenResult:
    """A Parzen score: mean ± standard error over test points, in nats, and how it was obtained."""

    mean: float
    stderr: float
    sigma: float
    n_samples: int
    n_points: int
    protocol: str | None = None
    validation_curve: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict:
        record = asdict(self)
        record["validation_curve"] = [list(pair) for pair in self.validation_curve]
        return record

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.stderr:.2f} nats (σ={self.sigma:.4g}, N={self.n_samples}, M={self.n_points})"


def evaluate_parzen(
    samples: torch.Tensor,
    validation: torch.Tensor,
    test: torch.Tensor,
    sigmas: Sequence[float] | None = None,
    *,
    protocol_name: str | None = None,
    point_chunk: int | None = None,
    sample_chunk: int | None = None,
) -> ParzenResult:
    """Choose σ on ``validation``, then score ``test``: the full Parzen protocol of Goodfellow et al. (2014).

    ``protocol_name`` is only recorded; to score under a named protocol (its σ grid, its sample count
    checked) use :meth:`zoo.eval.protocols.ParzenProtocol.score`.
    """
    chunks = {"point_chunk": point_chunk, "sample_chunk": sample_chunk}
    curve = validation_curve(samples, validation, sigmas, **chunks)
    sigma = max(curve, key=lambda pair: pair[1])[0]
    values = parzen_log_likelihood(samples, test, sigma, **chunks)
    mean, stderr = mean_and_stderr(values)
    return ParzenResult(
        mean=mean,
        stderr=stderr,
        sigma=sigma,
        n_samples=_as_matrix(samples, "samples").shape[0],
        n_points=values.numel(),
        protocol=protocol_name,
        validation_curve=tuple(curve),
    )
