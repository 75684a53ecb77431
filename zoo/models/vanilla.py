"""Generative Adversarial Nets — Goodfellow et al., NeurIPS 2014.

Algorithm 1: for each training iteration, take k discriminator steps on minibatches of real data
and noise, ascending ∇_ω [log D(x) + log(1 − D(G(z)))]; then one generator step descending
∇_θ log(1 − D(G(z))) (or ascending log D(G(z)), §3). Both live in :class:`zoo.core.MinimaxGAN`;
this file only fixes the MNIST architecture of the paper and of its released code
(goodfeli/adversarial, ``mnist.yaml``):

* G: z ∈ U[−√3, √3]^100 → 1200 ReLU → 1200 ReLU → 784 sigmoid, weights U(−0.05, 0.05);
* D: dropout (keep 0.8) → maxout 240×5 → dropout (keep 0.5) → maxout 240×5 → dropout (keep
  0.5) → sigmoid unit, weights U(−0.005, 0.005);
* G's output biases start at the logit of each pixel's mean over the training set (pylearn2's
  ``init_sigmoid_bias_from_marginals``), so G starts out drawing the "average digit";
* SGD, learning rate 0.1 decayed by 1/1.000004 per update down to 1e-6, batch 100, momentum
  0.5 rising linearly to 0.7 between epochs 1 and 250 (the code's ``MomentumAdjustor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from zoo.core import MinimaxGAN
from zoo.core.prior import SQRT3
from zoo.errors import require
from zoo.nets.mlp import MaxoutDiscriminator, MLPGenerator, check_mlp_options, uniform_init_


class VanillaGAN(MinimaxGAN):
    """The MNIST model of Goodfellow et al. (2014); defaults follow the paper's code.

    Args:
        data_shape: shape of one sample, e.g. ``[1, 28, 28]``.
        g_hidden: widths of G's ReLU layers.
        g_output: ``"sigmoid"`` for data in [0, 1], ``"tanh"`` for [−1, 1], ``"linear"`` for ℝ.
        d_hidden: units of D's maxout layers; ``d_pieces`` pieces each.
        d_input_dropout, d_hidden_dropout: drop probabilities (1 − the paper's keep rates).
        g_init_range, d_init_range: bounds of the uniform weight initialisation.
        final_momentum, momentum_saturate_epoch: SGD momentum ramps from ``momentum`` at epoch 1 to
            ``final_momentum`` at this epoch.
        g_output_bias_from_data: start G's sigmoid biases at the logit of the mean training image.
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
        final_momentum: float = 0.7,
        momentum_saturate_epoch: int = 250,
        g_output_bias_from_data: bool = True,
        **kwargs: Any,
    ) -> None:
        check_mlp_options(latent_dim, data_shape, {"g_hidden": g_hidden, "d_hidden": d_hidden},
                          {"d_input_dropout": d_input_dropout, "d_hidden_dropout": d_hidden_dropout})
        require(d_pieces >= 1, f"model.d_pieces must be a positive integer (maxout pieces per unit), got {d_pieces}")
        for name, bound in (("g_init_range", g_init_range), ("d_init_range", d_init_range)):
            require(bound > 0, f"model.{name} must be positive (weights start in U(-range, range)), got {bound}")
        generator = MLPGenerator(latent_dim, data_shape, g_hidden, "relu", g_output)
        discriminator = MaxoutDiscriminator(data_shape, d_hidden, d_pieces, d_input_dropout, d_hidden_dropout)
        uniform_init_(generator, g_init_range)
        uniform_init_(discriminator, d_init_range)
        super().__init__(
            generator, discriminator, latent_dim=latent_dim, prior=prior, prior_low=prior_low,
            prior_high=prior_high, optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, momentum=momentum,
            lr_decay=lr_decay, min_lr=min_lr, **kwargs,
        )

    def on_fit_start(self) -> None:
        fresh_start = self.generator_steps == 0
        datamodule = getattr(self.trainer, "datamodule", None)
        if fresh_start and self.hparams.g_output_bias_from_data and self.hparams.g_output == "sigmoid" and datamodule:
            mean_image = datamodule.split_tensors("train").mean(dim=0).flatten().clamp(1e-7, 1 - 1e-7)
            with torch.no_grad():
                self.generator.net[-2].bias.copy_(torch.logit(mean_image).to(self.device))
                if self.ema is not None:
                    self.ema.shadow.net[-2].bias.copy_(self.generator.net[-2].bias)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.hparams.optimizer != "sgd":
            return
        start, end = self.hparams.momentum, self.hparams.final_momentum
        progress = min(1.0, max(0, self.current_epoch - 1) / max(1, self.hparams.momentum_saturate_epoch - 1))
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["momentum"] = start + (end - start) * progress
