"""Where the switchable training techniques act in the two-player step.

Each is an option of :class:`zoo.core.TwoPlayerGAN`, so every paper's model takes it from YAML:

* instance noise (Arjovsky & Bottou 2017): D sees real and generated inputs plus N(0, σ_t² I),
  σ_t annealed linearly to 0 over ``instance_noise_steps`` generator steps;
* historical averaging (Salimans et al. 2016, §3.3): each player's loss gets λ‖θ − θ̄‖²;
* minibatch discrimination (§3.2): a layer inserted before D's last layer.

Feature matching (§3.1) and one-sided label smoothing (§3.4) change Eq. 1's losses and live in
:class:`zoo.core.MinimaxGAN`. The maths is in :mod:`zoo.objectives.improved` and :mod:`zoo.nets.tricks`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.core.prior import NoisePrior
from zoo.errors import require
from zoo.nets.tricks import MinibatchDiscriminator
from zoo.objectives.improved import HistoricalAverage, add_instance_noise, instance_noise_sigma


def feature_width(generator: nn.Module, discriminator: nn.Module, prior: NoisePrior) -> int:
    """The width of ``discriminator.hidden`` on generated samples, found by one small forward pass."""
    require(hasattr(discriminator, "hidden_features"),
            f"this technique needs a discriminator with hidden_features(x); {type(discriminator).__name__} has none")
    modes = [(m, m.training) for m in (generator, discriminator)]
    with torch.no_grad():
        for module, _ in modes:
            module.eval()
        width = discriminator.hidden_features(generator(prior.sample(2))).flatten(1).shape[1]
    for module, training in modes:
        module.train(training)
    return width


def with_minibatch_discrimination(generator: nn.Module, discriminator: nn.Module, prior: NoisePrior,
                                  num_kernels: int, kernel_dim: int) -> nn.Module:
    """``discriminator`` with a minibatch-discrimination layer before its logit (0 kernels: unchanged)."""
    if num_kernels == 0:
        return discriminator
    return MinibatchDiscriminator(discriminator, feature_width(generator, discriminator, prior), num_kernels, kernel_dim)


class InstanceNoise:
    """σ_0 at generator step 0, falling linearly to 0 at ``anneal_steps`` (0: σ_0 throughout)."""

    def __init__(self, sigma: float, anneal_steps: int) -> None:
        require(sigma >= 0, f"model.instance_noise must be >= 0, got {sigma}")
        require(anneal_steps >= 0, f"model.instance_noise_steps must be >= 0, got {anneal_steps}")
        self.sigma, self.anneal_steps = sigma, anneal_steps

    def sigma_at(self, generator_step: int) -> float:
        if self.sigma == 0 or self.anneal_steps == 0:
            return self.sigma
        return instance_noise_sigma(generator_step, self.sigma, self.anneal_steps)

    def __call__(self, x: Tensor, generator_step: int) -> Tensor:
        # The global stream is per rank (zoo.core.randomness), so ranks draw different noise.
        return add_instance_noise(x, self.sigma_at(generator_step))


def historical_averages(generator: nn.Module, discriminator: nn.Module, weight: float) -> nn.ModuleDict | None:
    """Running parameter means for both players, saved with the model (``None`` when λ = 0)."""
    require(weight >= 0, f"model.historical_averaging must be >= 0, got {weight}")
    if weight == 0:
        return None
    return nn.ModuleDict({"generator": HistoricalAverage(generator), "discriminator": HistoricalAverage(discriminator)})
