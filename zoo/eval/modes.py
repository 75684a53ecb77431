"""Mode counting for 2-D Gaussian mixtures (ring of 8, 5×5 grid).

The protocol of the Unrolled GAN (Metz et al., 2017) and VEEGAN (Srivastava et al., 2017, Table 1)
papers: a generated point is *high quality* when it lies within ``threshold_stds``
standard deviations (3σ) of its nearest mixture centre; each high-quality point is assigned to that
centre; a mode is *covered* when it receives at least ``min_count`` high-quality points.

Coverage rule used here (papers differ, so it is explicit and configurable): ``min_count`` if given,
else ``max(1, ceil(min_share · N / K))`` with ``min_share = 0.01``, i.e. 1 % of the points a mode would
receive if the N samples were spread evenly over the K modes (for N = 2500, K = 25 that is 1 point).

Note that for an isotropic 2-D Gaussian, P(‖x − μ‖ ≤ 3σ) = 1 − exp(−9/2) ≈ 0.989: perfect samples
score a high-quality share of about 0.99, not 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.errors import require


def count_modes(
    samples: Tensor,
    centres: Tensor,
    std: float,
    threshold_stds: float = 3.0,
    min_count: int | None = None,
    min_share: float = 0.01,
) -> dict:
    """Modes covered, share of high-quality samples and KL(mode histogram ‖ uniform).

    Args:
        samples: N×2 generated points.
        centres: K×2 mixture means (e.g. ``Toy2DDataModule.centres``).
        std: the mixture components' standard deviation σ.
        threshold_stds: a sample is high quality within ``threshold_stds · σ`` of its nearest centre.
        min_count: high-quality samples a mode needs to count as covered (overrides ``min_share``).
        min_share: else the threshold is ``max(1, ceil(min_share · N / K))``.

    Returns:
        ``{"modes_covered", "num_modes", "high_quality_share", "kl_to_uniform", "counts", "min_count",
        "n_samples"}``. ``kl_to_uniform`` is Σ_k p_k log(K p_k) over the high-quality samples' histogram
        p (0 when spread evenly, log K when all in one mode; NaN when there is no high-quality sample).
    """
    require(samples.dim() == 2 and samples.shape[1] == centres.shape[1], f"samples must be N×{centres.shape[1]}, "
            f"got {tuple(samples.shape)}")
    require(centres.dim() == 2 and len(centres) > 0, f"centres must be K×D with K > 0, got {tuple(centres.shape)}")
    require(std > 0 and threshold_stds > 0, f"std and threshold_stds must be positive, got {std}, {threshold_stds}")
    samples, centres = samples.detach().double().cpu(), centres.detach().double().cpu()
    count, modes = len(samples), len(centres)
    if min_count is None:
        min_count = max(1, math.ceil(min_share * count / modes))

    distances = torch.cdist(samples, centres)
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= threshold_stds * std
    counts = torch.bincount(nearest[high_quality], minlength=modes)
    total = int(counts.sum())
    if total > 0:
        histogram = counts.double() / total
        occupied = histogram > 0
        kl = float((histogram[occupied] * (histogram[occupied] * modes).log()).sum())
    else:
        kl = math.nan
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "num_modes": modes,
        "high_quality_share": total / count if count else math.nan,
        "kl_to_uniform": kl,
        "counts": counts.tolist(),
        "min_count": min_count,
        "n_samples": count,
    }
