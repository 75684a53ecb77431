"""Losses and schedules of "Improved Techniques for Training GANs" (Salimans et al. 2016) and of
instance noise (Arjovsky & Bottou 2017), as pure functions (plus one small state object).

* Feature matching (§3.1): G minimises ‖E_data f(x) − E_z f(G(z))‖², f an intermediate D layer.
* Historical averaging (§3.3): each player's cost gets ‖θ − (1/t) Σ_i θ[i]‖².
* Semi-supervised K+1 classifier (§5): D outputs K logits l_1..l_K, the (K+1)-th ("fake") logit is
  fixed at 0, so D(x) = Z(x)/(Z(x) + 1) with Z(x) = Σ_k exp l_k, i.e. D(x) = σ(logsumexp_k l_k).
* Instance noise: both real and fake inputs of D get N(0, σ²) noise, σ annealed to 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.errors import require


# --------------------------------------------------------------------------- feature matching
def feature_matching_loss(
    real_features: Tensor,
    fake_features: Tensor,
    norm: Literal["l2", "l1"] = "l2",
    reduction: Literal["sum", "mean"] = "sum",
) -> Tensor:
    """Distance between the batch means of D's features on real and on generated data (§3.1).

    With ``norm="l2"`` and ``reduction="sum"`` this is the paper's ‖E f(x) − E f(G(z))‖²₂.
    The released code averages over the feature dimension instead (``reduction="mean"``): the MNIST
    script uses the mean squared difference, the CIFAR/SVHN scripts the mean *absolute* difference
    (``norm="l1"``). "sum" and "mean" differ by the constant feature count, which Adam's update
    ignores up to its ε. Features of shape ``(N, ...)`` are flattened per example; only the
    generator should receive gradients, so callers usually pass ``real_features.detach()``.
    """
    require(norm in ("l2", "l1"), f"feature matching norm must be 'l2' or 'l1', got {norm!r}")
    require(reduction in ("sum", "mean"), f"feature matching reduction must be 'sum' or 'mean', got {reduction!r}")
    difference = real_features.flatten(1).mean(dim=0) - fake_features.flatten(1).mean(dim=0)
    per_feature = difference.square() if norm == "l2" else difference.abs()
    return per_feature.sum() if reduction == "sum" else per_feature.mean()


# ------------------------------------------------------------------------ historical averaging
def historical_average_penalty(parameters: Iterable[Tensor], averages: Iterable[Tensor]) -> Tensor:
    """Σ_j ‖θ_j − θ̄_j‖² over a player's parameter tensors; θ̄ is a constant (no gradient flows to it)."""
    terms = [(theta - average.detach()).square().sum() for theta, average in zip(parameters, averages, strict=True)]
    require(len(terms) > 0, "historical_average_penalty needs at least one parameter")
    return torch.stack(terms).sum()


class HistoricalAverage(nn.Module):
    """The running mean θ̄_t = (1/t) Σ_{i=1..t} θ[i] of one player's parameters.

    Construction records θ[1] (the initial parameters); call :meth:`update` after each optimizer
    step. The averages are buffers and the count is extra state, so the object rides in the owning
    LightningModule's checkpoint and resumes bit-exactly. It keeps no reference to the tracked
    module (which would register that module twice): pass it to :meth:`update` and :meth:`penalty`.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.names = [name for name, _ in module.named_parameters()]
        require(len(self.names) > 0, f"HistoricalAverage needs a module with parameters, got {type(module).__name__}")
        for index, parameter in enumerate(module.parameters()):
            self.register_buffer(f"average_{index}", parameter.detach().clone())
        self.count = 1

    @torch.no_grad()
    def restart(self, module: nn.Module) -> None:
        """Start the mean afresh at the module's current parameters (θ[1] = θ now)."""
        for average, parameter in zip(self.averages(), self._parameters_of(module), strict=True):
            average.copy_(parameter.detach())
        self.count = 1

    def averages(self) -> list[Tensor]:
        return [getattr(self, f"average_{index}") for index in range(len(self.names))]

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold the module's current parameters into the mean: θ̄ ← θ̄ + (θ − θ̄)/t."""
        self.count += 1
        for average, parameter in zip(self.averages(), self._parameters_of(module), strict=True):
            average.add_(parameter.detach() - average, alpha=1.0 / self.count)

    def penalty(self, module: nn.Module) -> Tensor:
        """‖θ − θ̄‖² summed over the module's parameters, differentiable in θ."""
        return historical_average_penalty(self._parameters_of(module), self.averages())

    def _parameters_of(self, module: nn.Module) -> list[Tensor]:
        named = list(module.named_parameters())
        require(
            [name for name, _ in named] == self.names,
            f"HistoricalAverage tracks other parameters than those of {type(module).__name__}",
        )
        return [parameter for _, parameter in named]

    def get_extra_state(self) -> dict[str, Any]:
        return {"count": self.count, "names": list(self.names)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        require(state["names"] == self.names, "HistoricalAverage checkpoint tracks other parameters than this model")
        self.count = int(state["count"])


# ------------------------------------------------------------------------------- instance noise
def instance_noise_sigma(step: int, initial_sigma: float, anneal_steps: int) -> float:
    """σ of instance noise at ``step``: linear from ``initial_sigma`` at step 0 to 0 at ``anneal_steps``."""
    require(initial_sigma >= 0, f"instance noise sigma must be >= 0, got {initial_sigma}")
    require(anneal_steps > 0, f"instance noise anneal_steps must be positive, got {anneal_steps}")
    require(step >= 0, f"instance noise step must be >= 0, got {step}")
    return initial_sigma * max(0.0, 1.0 - step / anneal_steps)


def add_instance_noise(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """x + σ ε with ε ~ N(0, I); apply to real and fake inputs of D alike. σ = 0 returns ``x``
    without drawing, so a finished anneal leaves the random stream untouched."""
    if sigma == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * noise


# ---------------------------------------------------------------------- semi-supervised (K + 1)
def supervised_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """−E log p(y | x, y < K+1) on labelled data: cross-entropy over the K real classes only,
    logsumexp_k l_k − l_y (the fixed fake logit cancels)."""
    return F.cross_entropy(logits, labels)


def unsupervised_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """−E_data log D(x) − E_G log(1 − D(G(z))) with D = σ(logsumexp_k l_k) (§5).

    In softplus form, exact where D saturates: −log D = softplus(−lse), −log(1 − D) = softplus(lse).
    The released code weights this term by ½ (its "loss_unl"); :class:`zoo.models.improved`
    applies that weight, not this function.
    """
    real_lse = torch.logsumexp(real_logits, dim=1)
    fake_lse = torch.logsumexp(fake_logits, dim=1)
    return F.softplus(-real_lse).mean() + F.softplus(fake_lse).mean()


def semisupervised_generator_loss(fake_logits: Tensor) -> Tensor:
    """The released minibatch-discrimination scripts' G loss, −E softplus(lse) = E log(1 − D(G(z))):
    the minimax (saturating) form. Feature-matching runs use :func:`feature_matching_loss` instead."""
    return -F.softplus(torch.logsumexp(fake_logits, dim=1)).mean()
