"""Mode counting with the zoo's MNIST classifier: on MNIST each sample falls in one of 10 digit modes;
on Stacked MNIST (Metz et al. 2017, Table 2) the classifier reads the digit in each channel, so each
sample falls in one of 1000 modes.

* modes covered: modes holding at least ``min_count`` samples (1, as in the papers);
* KL(model ‖ uniform) = Σ_m p_m log(M p_m) over the histogram p of the samples' M modes (0 when
  spread evenly, log M when all in one mode: log 1000 ≈ 6.91, log 10 ≈ 2.30).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from zoo.data.stacked_mnist import NUM_MODES, PLACE_VALUES
from zoo.errors import require


def mode_histogram(digits: Tensor) -> Tensor:
    """Counts of the 1000 modes, given the N×3 digits read from each channel."""
    require(digits.dim() == 2 and digits.shape[1] == 3, f"digits must be N×3, got {tuple(digits.shape)}")
    return torch.bincount((digits.long().cpu() * PLACE_VALUES).sum(1), minlength=NUM_MODES)


def histogram_scores(counts: Tensor, min_count: int = 1) -> dict[str, Any]:
    """Modes covered and KL to uniform of a mode histogram."""
    total = int(counts.sum())
    require(total > 0, "the mode histogram is empty")
    p = counts.double() / total
    occupied = p > 0
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "num_modes": len(counts),
        "kl_to_uniform": float((p[occupied] * (p[occupied] * len(counts)).log()).sum()),
        "min_count": min_count,
        "n_samples": total,
    }


@torch.no_grad()
def count_stacked_modes(images: Tensor, classifier: Any, value_range: tuple[float, float], min_count: int = 1) -> dict[str, Any]:
    """Scores of N×3×H×W samples in ``value_range`` (:class:`zoo.eval.classifier.MNISTClassifier`)."""
    counts = mode_histogram(classifier.predict_channels(images, value_range))
    return {**histogram_scores(counts, min_count), "max_kl": math.log(NUM_MODES)}


@torch.no_grad()
def count_digit_modes(images: Tensor, classifier: Any, value_range: tuple[float, float], min_count: int = 1) -> dict[str, Any]:
    """Scores of N×1×H×W MNIST-like samples over the 10 digit modes, with the digit histogram."""
    counts = torch.bincount(classifier.predict(images, value_range), minlength=10)
    return {**histogram_scores(counts, min_count), "max_kl": math.log(10), "histogram": counts.tolist()}
