"""Unrolled Generative Adversarial Networks — Metz, Poole, Pfau & Sohl-Dickstein, ICLR 2017.

For each training iteration:

1. D takes its normal step on V(D, G) (Eq. 1), with its own optimizer;
2. G descends the surrogate f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D)) (Eq. 5): its loss against the
   discriminator θ_D^K reached by K further steps of D's optimizer (Eq. 4), from D's current
   parameters and optimizer state, differentiated *through* those K steps. The unrolled copy is
   thrown away: D and its optimizer state never see it.

K = 0 is the plain GAN; ``second_order=False`` drops dθ_D^K/dθ_G, the paper's first-order variant.
The unrolled steps reuse G's minibatch (real and generated), as the authors' notebook does.

2-D mixtures (§3.1, Appendix A): the nets of :mod:`zoo.nets.toy`, G minimising the minimax form
log(1 − D(G(z))) against the unrolled D, Adam 1e-4 with β1 = 0.5 for both players, batch 512,
alternating updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from zoo.core import MinimaxGAN
from zoo.core.unroll import unroll
from zoo.errors import require
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.nets.stacked_mnist import D_WIDTHS, StackedMNISTDiscriminator, StackedMNISTGenerator
from zoo.nets.toy import ToyDiscriminator, ToyGenerator


class UnrolledMinimaxGAN(MinimaxGAN):
    """Eq. 1's game, with G looking K steps ahead of its discriminator; any nets.

    Args:
        unroll_steps: K, the discriminator steps G looks ahead (0: a plain GAN).
        second_order: back-propagate through the K steps (``False``: first-order variant).
        **kwargs: the options of :class:`zoo.core.MinimaxGAN` and :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, unroll_steps: int = 10,
                 second_order: bool = True, **kwargs: Any) -> None:
        require(unroll_steps >= 0, f"model.unroll_steps must be >= 0, got {unroll_steps}")
        super().__init__(generator, discriminator, **kwargs)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        """G's loss against θ_D^K (Eq. 5). Without autograd (validation) there is nothing to
        differentiate through, and the loss is taken against the current D."""
        steps = self.hparams.unroll_steps if torch.is_grad_enabled() else 0
        d_optimizer = self.optimizers(use_pl_optimizer=False)[1] if steps else None
        lookahead = unroll(
            self.discriminator, lambda: self.discriminator_loss(real, fake), d_optimizer, steps,
            self.hparams.second_order, self.hparams.grad_clip_norm,
        )
        return lookahead(super().generator_loss, fake, real)

    def generator_loss_at_current_d(self, fake: Tensor, real: Tensor) -> Tensor:
        return super().generator_loss(fake, real)  # K = 0


class UnrolledGAN(UnrolledMinimaxGAN):
    """The 2-D mixture model of §3.1: the nets of :mod:`zoo.nets.toy` and Appendix A's recipe.

    Args:
        unroll_steps: K, the discriminator steps G looks ahead (0: a plain GAN).
        data_dim: dimension of the data (2 for the mixtures).
        g_hidden, d_hidden: widths of G's and D's ReLU layers.
        d_input_scale: D multiplies its input by this first (Appendix A: ¼).
        init_gain: gain of the orthogonal weight initialisation (Appendix A: 0.8).
        **kwargs: ``second_order`` and the options of :class:`zoo.core.MinimaxGAN` and
            :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        unroll_steps: int = 10,
        data_dim: int = 2,
        latent_dim: int = 256,
        g_hidden: Sequence[int] = (128, 128),
        d_hidden: Sequence[int] = (128,),
        d_input_scale: float = 0.25,
        init_gain: float = 0.8,
        generator_objective: str = "minimax",
        optimizer: str = "adam",
        g_lr: float = 1e-4,
        d_lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        **kwargs: Any,
    ) -> None:
        generator = ToyGenerator(latent_dim, g_hidden, data_dim, init_gain)
        discriminator = ToyDiscriminator(d_hidden, data_dim, d_input_scale, init_gain)
        super().__init__(
            generator, discriminator, unroll_steps, generator_objective=generator_objective, latent_dim=latent_dim,
            optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )


class UnrolledDCGAN(UnrolledMinimaxGAN):
    """The Stacked MNIST model of §3.3.1: DCGAN nets (:mod:`zoo.nets.dcgan`), with D's widths a
    fraction ``d_size`` of G's (the paper weakens D to ¼ and ½ of G's size), and DCGAN's recipe:
    Adam 2e-4 with β1 = 0.5 and the non-saturating generator loss (our choice; the paper does not say).

    Args:
        unroll_steps: K, the discriminator steps G looks ahead (0: a plain GAN).
        image_size, channels: the images' side and channels (32 and 3 for padded Stacked MNIST).
        g_width: channels of G's widest-resolution layer.
        d_size: D's widths as a fraction of G's.
        d_batch_norm: batch norm in D's hidden layers (DCGAN's); ``False`` makes each image's logit
            depend on that image alone, so the unrolled steps cannot reach G through D's batch statistics.
        **kwargs: ``second_order`` and the options of :class:`zoo.core.MinimaxGAN` and
            :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        unroll_steps: int = 10,
        image_size: int = 32,
        channels: int = 3,
        latent_dim: int = 100,
        g_width: int = 64,
        d_size: float = 0.25,
        d_batch_norm: bool = True,
        generator_objective: str = "nonsaturating",
        optimizer: str = "adam",
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        **kwargs: Any,
    ) -> None:
        require(0 < d_size and g_width * d_size >= 1, f"model.d_size must leave D at least one channel, got {d_size}")
        generator = DCGANGenerator(latent_dim, image_size, channels, g_width)
        discriminator = DCGANDiscriminator(image_size, channels, round(g_width * d_size), batch_norm=d_batch_norm)
        super().__init__(
            generator, discriminator, unroll_steps, generator_objective=generator_objective, latent_dim=latent_dim,
            optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )


class UnrolledStackedMNISTGAN(UnrolledMinimaxGAN):
    """Stacked MNIST at 28×28 with the small nets of :mod:`zoo.nets.stacked_mnist`, in the setting
    PacGAN's authors used to re-run Table 2 (their code's config): Adam with D at 2e-4, G at 1e-4,
    β = (0.5, 0.99), batch 128, z ∈ ℝ^256, the non-saturating G loss; 500,000 iterations there.

    Args:
        unroll_steps: K, the discriminator steps G looks ahead (0: a plain GAN).
        d_size: 0.25 or 0.5, D "¼" or "½ the size of G": (2, 4, 8) or (4, 8, 16) filters.
        **kwargs: ``second_order`` and the options of :class:`zoo.core.MinimaxGAN` and
            :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        unroll_steps: int = 10,
        d_size: float = 0.25,
        latent_dim: int = 256,
        generator_objective: str = "nonsaturating",
        optimizer: str = "adam",
        g_lr: float = 1e-4,
        d_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.99),
        **kwargs: Any,
    ) -> None:
        require(d_size in D_WIDTHS, f"model.d_size must be one of {', '.join(map(str, D_WIDTHS))}, got {d_size!r}")
        super().__init__(
            StackedMNISTGenerator(latent_dim), StackedMNISTDiscriminator(D_WIDTHS[d_size]), unroll_steps,
            generator_objective=generator_objective, latent_dim=latent_dim, optimizer=optimizer,
            g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )
