"""Generative Adversarial Nets — Goodfellow et al., NeurIPS 2014.

Algorithm 1: for each training iteration, take k discriminator steps on minibatches of real data
and noise, ascending ∇_ω [log D(x) + log(1 − D(G(z)))]; then one generator step descending
∇_θ log(1 − D(G(z))) (or ascending log D(G(z)), §3). Both live in :class:`zoo.core.MinimaxGAN`;
this file only fixes the MNIST architecture of the paper and of its released code
(goodfeli/adversarial, ``mnist.yaml``):

* G: z ∈ U[−√3, √3]^100 → 1200 ReLU → 1200 ReLU → 784 sigmoid, weights U(−0.05, 0.05);
* D: dropout (keep 0.8) → maxout 240×5 → dropout (keep 0.5) → maxout 240×5 → dropout (keep
  0.5) → sigmoid unit, weights U(−0.005, 0.005);
* SGD, learning rate 0.1 decayed by 1/1.000004 per update down to 1e-6, momentum 0.5, batch 100.

Not reproduced: the code's max-column-norm constraint on maxout weights and its momentum ramp
from 0.5 to 0.7; neither is described in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.core import MinimaxGAN
from zoo.core.prior import SQRT3
from zoo.nets.mlp import MaxoutDiscriminator, MLPGenerator, uniform_init_


class VanillaGAN(MinimaxGAN):
    """The MNIST model of Goodfellow et al. (2014); defaults follow the paper's code.

    Args:
        data_shape: shape of one sample, e.g. ``[1, 28, 28]``.
        g_hidden: widths of G's ReLU layers.
        g_output: ``"sigmoid"`` for data in [0, 1], ``"tanh"`` for [−1, 1], ``"linear"`` for ℝ.
        d_hidden: units of D's maxout layers; ``d_pieces`` pieces each.
        d_input_dropout, d_hidden_dropout: drop probabilities (1 − the paper's keep rates).
        g_init_range, d_init_range: bounds of the uniform weight initialisation.
        **kwargs: the options of :class:`zoo.core.MinimaxGAN` and :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        data_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 100,
        g_hidden: Sequence[int] = (1200, 1200),
        g_output: str = "sigmoid",
        d_hidden: Sequence[int] = (240, 240),
        d_pieces: int = 5,
        d_input_dropout: float = 0.2,
        d_hidden_dropout: float = 0.5,
        g_init_range: float = 0.05,
        d_init_range: float = 0.005,
        prior: str = "uniform",
        prior_low: float = -SQRT3,
        prior_high: float = SQRT3,
        optimizer: str = "sgd",
        g_lr: float = 0.1,
        d_lr: float = 0.1,
        momentum: float = 0.5,
        lr_decay: float = 1 / 1.000004,
        min_lr: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        generator = MLPGenerator(latent_dim, data_shape, g_hidden, "relu", g_output)
        discriminator = MaxoutDiscriminator(data_shape, d_hidden, d_pieces, d_input_dropout, d_hidden_dropout)
        uniform_init_(generator, g_init_range)
        uniform_init_(discriminator, d_init_range)
        super().__init__(
            generator, discriminator, latent_dim=latent_dim, prior=prior, prior_low=prior_low,
            prior_high=prior_high, optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, momentum=momentum,
            lr_decay=lr_decay, min_lr=min_lr, **kwargs,
        )
