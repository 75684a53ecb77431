"""f-GAN: Training Generative Neural Samplers using Variational Divergence Minimization —
Nowozin, Cseke & Tomioka, NeurIPS 2016.

Any f-divergence is bounded from below by a variational function T = g_f(V_ω) (Eq. 4, 6):

    F(θ, ω) = E_{x~P}[g_f(V_ω(x))] − E_{x~Q_θ}[f*(g_f(V_ω(x)))]

The sampler Q_θ minimises F and the variational function maximises it. Algorithm 1 (single-step
gradient method) takes one gradient step for each from the same point (θ_t, ω_t):
ω_{t+1} = ω_t + η ∇_ω F, θ_{t+1} = θ_t − η ∇_θ F; ``update="alternating"`` is available too.
§3.2's "practical" generator objective maximises E_Q[g_f(V_ω(G(z)))] instead.

MNIST setup (§4.2): z ~ U(−1, 1)^100; G has two linear layers with batch norm and ReLU, then a
linear layer with a sigmoid; V has three linear layers with ELUs in between; Adam with learning
rate 2e-4 and β1 = 0.5; batch 4096. The paper gives no layer widths: we use 1200 units in G (as
Goodfellow et al. 2014) and 240 in V (the width of Goodfellow et al.'s maxout discriminator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from zoo.core import TwoPlayerGAN
from zoo.errors import require
from zoo.nets.mlp import MLPDiscriminator, MLPGenerator, check_mlp_options
from zoo.objectives.divergences import DIVERGENCES
from zoo.objectives.fgan_losses import fgan_discriminator_loss, fgan_generator_loss


class FGAN(TwoPlayerGAN):
    """An f-GAN for any row of :data:`zoo.objectives.divergences.DIVERGENCES`.

    Args:
        divergence: ``total_variation, kl, reverse_kl, pearson, neyman, squared_hellinger,
            jeffrey, js`` or ``gan``.
        practical_generator_loss: maximise E_Q[g_f(V(G(z)))] (§3.2) instead of minimising F.
        data_shape: shape of one sample.
        g_hidden: widths of G's batch-normalised ReLU layers.
        v_hidden: widths of V's ELU layers.
        **kwargs: the training options of :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        divergence: str = "gan",
        practical_generator_loss: bool = True,
        data_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 100,
        g_hidden: Sequence[int] = (1200, 1200),
        v_hidden: Sequence[int] = (240, 240),
        g_output: str = "sigmoid",
        prior: str = "uniform",
        update: str = "simultaneous",
        optimizer: str = "adam",
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        **kwargs: Any,
    ) -> None:
        require(divergence in DIVERGENCES, f"model.divergence must be one of {sorted(DIVERGENCES)}, got {divergence!r}")
        check_mlp_options(latent_dim, data_shape, {"g_hidden": g_hidden, "v_hidden": v_hidden})
        generator = MLPGenerator(latent_dim, data_shape, g_hidden, "relu", g_output, batch_norm=True)
        variational_function = MLPDiscriminator(data_shape, v_hidden, "elu")
        super().__init__(
            generator, variational_function, latent_dim=latent_dim, prior=prior, update=update,
            optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )
        self.divergence = DIVERGENCES[divergence]

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """−F(θ, ω): minimising it tightens the lower bound on D_f(P‖Q_θ) (Eq. 6)."""
        return fgan_discriminator_loss(self.discriminator(real), self.discriminator(fake), self.divergence)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        """The θ-dependent part of F, or −E_Q[g_f(V(G(z)))] with the practical objective (§3.2)."""
        return fgan_generator_loss(self.discriminator(fake), self.divergence, self.hparams.practical_generator_loss)
