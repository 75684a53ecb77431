"""The adversarial losses of Goodfellow et al. (2014), as pure functions of discriminator logits.

The discriminator returns logits ℓ; D(x) = σ(ℓ). Writing each loss through softplus keeps it exact
where σ(ℓ) saturates: log D = −softplus(−ℓ) and log(1 − D) = −softplus(ℓ).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0, scale: float = 1.0) -> Tensor:
    """−E[log D(x)] − E[log(1 − D(G(z)))]: the negated value function V(D, G) of Eq. 1, times ``scale``.

    ``real_target`` < 1 gives one-sided label smoothing (Salimans et al. 2016, §3.4): only the real
    targets are smoothed, never the fake ones. ``scale=0.5`` is the released code's
    ½[cost(real) + cost(fake)] (goodfeli/adversarial), which halves D's effective learning rate.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return scale * (real + fake)


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """E[log(1 − D(G(z)))], the generator's side of Eq. 1; its gradient vanishes when D wins."""
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """−E[log D(G(z))], the heuristic of Goodfellow et al. (2014) §3 with strong early gradients."""
    return F.softplus(-fake_logits).mean()


GENERATOR_LOSSES: dict[str, Callable[[Tensor], Tensor]] = {
    "minimax": minimax_generator_loss,
    "nonsaturating": nonsaturating_generator_loss,
}
