"""Unsupervised Representation Learning with Deep Convolutional GANs — Radford, Metz & Chintala,
ICLR 2016.

DCGAN keeps Goodfellow et al.'s (2014) game and changes the nets (§3's guidelines, in
:mod:`zoo.nets.dcgan`) and the recipe (§4): minibatch 128, Adam with learning rate 2e-4 and
β1 = 0.5, weights from N(0, 0.02), images scaled to [−1, 1] for G's tanh. The generator uses the
non-saturating loss −log D(G(z)). A generator EMA is optional (``ema_decay``).

Fast paths, none of which changes the maths: ``channels_last`` stores the nets' weights and the real
batches in NHWC order (faster convolutions on tensor-core GPUs), ``compile`` compiles both nets with
``torch.compile`` in place (state-dict keys stay the same, so checkpoints load into an uncompiled
model), and the Trainer's ``precision="bf16-mixed"`` runs them in bfloat16 autocast;
``manual_backward`` handles the mixed precision of the manual two-player updates.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.core import MinimaxGAN
from zoo.errors import require
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_


class DCGAN(MinimaxGAN):
    """DCGAN for square images of any power-of-two size from 32 up and any channel count.

    Args:
        image_size: side of the images (32, 64, 128, …).
        channels: 1 for grey-scale, 3 for colour.
        latent_dim: dimension of z (100 in the paper).
        g_width, d_width: channels of the widest-resolution layer of G and D.
        g_normalization: ``"batch"`` (the paper) or ``"virtual"`` (virtual batch norm in G,
            Salimans et al. 2016, §3.5), with ``g_reference_size`` reference codes.
        channels_last: keep weights and real batches in channels-last (NHWC) memory format.
        compile: compile G and D with ``torch.compile`` when the Trainer sets the model up.
        **kwargs: the options of :class:`zoo.core.MinimaxGAN` and :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        latent_dim: int = 100,
        g_width: int = 64,
        d_width: int = 64,
        prior: str = "normal",
        optimizer: str = "adam",
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        channels_last: bool = False,
        compile: bool = False,
        g_normalization: str = "batch",
        g_reference_size: int = 64,
        **kwargs: Any,
    ) -> None:
        for name, value in (("latent_dim", latent_dim), ("g_width", g_width), ("d_width", d_width)):
            require(value >= 1, f"model.{name} must be a positive integer, got {value}")
        generator = dcgan_init_(DCGANGenerator(latent_dim, image_size, channels, g_width, g_normalization, g_reference_size))
        discriminator = dcgan_init_(DCGANDiscriminator(image_size, channels, d_width))
        super().__init__(
            generator, discriminator, latent_dim=latent_dim, prior=prior, optimizer=optimizer,
            g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )
        self.channels_last = channels_last
        self.compile_nets = compile
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def configure_model(self) -> None:
        # nn.Module.compile() compiles in place: the modules and their state-dict keys stay as they
        # are, unlike torch.compile(module), which wraps them under "_orig_mod.".
        if self.compile_nets:
            self.generator.compile()
            self.discriminator.compile()

    def training_step(self, batch: Any, batch_idx: int) -> None:
        if self.channels_last:
            real = batch[0] if isinstance(batch, (list, tuple)) else batch
            batch = real.contiguous(memory_format=torch.channels_last)
        super().training_step(batch, batch_idx)
