"""One level of LAPGAN — Denton, Chintala, Szlam & Fergus, NeurIPS 2015, §3.1 — as a game of its own.

LAPGAN trains every level of the Laplacian pyramid independently, with no gradient across levels.
On the pyramid of a real image (:mod:`zoo.nets.laplacian`), with I_0 the coarsest low-pass image
and l_k = u(I_{k−1}), h_k = I_k − l_k at each finer level k:

* level 0 is an unconditional GAN on I_0: G_0(z_0) against real I_0;
* level k ≥ 1 is a conditional GAN: G_k(z_k, l_k) draws a residual h̃_k, and D_k judges l_k + h_k
  against l_k + h̃_k (the paper adds l_k to the residual before D's first layer);
* CC-LAPGAN also gives every G_k and D_k the image's class label.

Each level is one :class:`zoo.core.MinimaxGAN` run (``--model.init_args.level k``) with the core's
training loop: ``real_batch`` turns the loader's images into the level's target (I_0 or h_k) and
its conditioning (l_k, the label), which :class:`LevelNoise` holds so that the core's ``G(noise)``
is drawn given it.
:class:`zoo.models.lapgan.LAPGAN` chains the trained levels into the sampler.

Levels count from the coarsest (level 0), the reverse of the paper's k. Recipe (paper §4 and the
original code): SGD with learning rate 0.02, momentum 0.5 rising by 0.0008 per epoch up to 0.7,
z uniform on [−1, 1], one D step per G step, G trained on −log D(G(z)). The code's learning-rate
decay (÷1.000004 per epoch) changes the rate by 0.1 % in 250 epochs and is left out. On MNIST the
convolutional levels need Adam instead (``configs/lapgan/overlays/refine_adam.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.core import MinimaxGAN
from zoo.core.prior import NoisePrior
from zoo.errors import ZooConfigError, require
from zoo.nets.lapgan import (
    CoarseDiscriminator, CoarseGenerator, RefinementDiscriminator, RefinementGenerator, coarse_input, refinement_input,
)
from zoo.nets.laplacian import lowpass_images, pyramid_sizes, upsample
from zoo.nets.layers import OUTPUTS
from zoo.nets.mlp import check_mlp_options
from zoo.objectives.adversarial import GENERATOR_LOSSES, discriminator_loss


@dataclass
class Condition:
    """What a level's G and D are given besides noise: l_k (finer levels) and the one-hot label (CC)."""

    coarse_up: Tensor | None = None
    onehot: Tensor | None = None


class LevelNoise:
    """p(z_k) of one level, packed with the conditioning the level holds: G's whole input.

    z_0 is a vector, z_k (k ≥ 1) one noise plane. The held conditioning is the current batch's;
    asked for more codes than it holds, it repeats cyclically, and with none held yet (the core's
    set-up check) a level refines a blank image and labels cycle through the classes.
    """

    def __init__(self, level: int, channels: int, size: int, num_classes: int, noise: NoisePrior) -> None:
        self.level, self.channels, self.size, self.num_classes, self.noise = level, channels, size, num_classes, noise
        self.dim = noise.dim
        self.condition = Condition()

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> Tensor:
        z = self.noise.sample(n, device, generator)
        onehot = self._labels(n, device) if self.num_classes else None
        if self.level == 0:
            return coarse_input(z, onehot)
        return refinement_input(self._coarse(n, device), z.view(n, 1, self.size, self.size), onehot)

    def _labels(self, n: int, device: torch.device | str) -> Tensor:
        held = self.condition.onehot
        if held is None:
            return F.one_hot(torch.arange(n, device=device) % self.num_classes, self.num_classes).float()
        return _cycle(held, n).to(device)

    def _coarse(self, n: int, device: torch.device | str) -> Tensor:
        held = self.condition.coarse_up
        return torch.zeros(n, self.channels, self.size, self.size, device=device) if held is None else _cycle(held, n).to(device)


def _cycle(rows: Tensor, n: int) -> Tensor:
    """``n`` rows of ``rows``, repeated cyclically."""
    return rows[torch.arange(n, device=rows.device) % len(rows)]


class LAPGANLevel(MinimaxGAN):
    """Level ``level`` of a LAPGAN for ``channels × image_size × image_size`` images.

    Args:
        image_size, channels: the data's images.
        levels: pyramid levels (each halves the side), or the sides coarse to fine, e.g. [8, 14, 28].
        level: which level this run trains; 0 is the coarsest.
        num_classes: > 0 for CC-LAPGAN (the data's labels condition G and D).
        latent_dim: dimension of z_0 (finer levels draw one noise plane).
        coarse_g_hidden, coarse_d_hidden, coarse_d_dropout: the fully connected nets of level 0.
        coarse_output: G_0's output, ``"sigmoid"`` for data in [0, 1], ``"tanh"`` for [−1, 1].
        g_planes, d_planes, d_dropout: the convolutional nets of the finer levels.
        final_momentum, momentum_step: SGD momentum grows by ``momentum_step`` per epoch up to this.
        **kwargs: the options of :class:`zoo.core.MinimaxGAN` and :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        levels: int | Sequence[int] = 3,
        level: int = 0,
        num_classes: int = 0,
        latent_dim: int = 100,
        coarse_g_hidden: Sequence[int] = (1200, 1200),
        coarse_d_hidden: Sequence[int] = (600, 600),
        coarse_d_dropout: float = 0.5,
        coarse_output: str = "sigmoid",
        g_planes: int = 64,
        d_planes: int = 64,
        d_dropout: float = 0.5,
        prior: str = "uniform",
        optimizer: str = "sgd",
        g_lr: float = 0.02,
        d_lr: float = 0.02,
        momentum: float = 0.5,
        final_momentum: float = 0.7,
        momentum_step: float = 0.0008,
        **kwargs: Any,
    ) -> None:
        sizes = pyramid_sizes(image_size, levels if isinstance(levels, int) else list(levels))
        require(0 <= level < len(sizes), f"model.level must be in 0..{len(sizes) - 1} for pyramid sides {list(sizes)}, got {level}")
        require(channels >= 1, f"model.channels must be positive, got {channels}")
        require(num_classes >= 0, f"model.num_classes must be >= 0 (0: no class conditioning), got {num_classes}")
        require(coarse_output in ("sigmoid", "tanh"), f"model.coarse_output must be 'sigmoid' or 'tanh', got {coarse_output!r}")
        check_mlp_options(latent_dim, (channels, image_size, image_size), {"coarse_g_hidden": coarse_g_hidden, "coarse_d_hidden": coarse_d_hidden},
                          {"coarse_d_dropout": coarse_d_dropout, "d_dropout": d_dropout})
        require(g_planes >= 1 and d_planes >= 1, f"model.g_planes and d_planes must be positive, got {g_planes} and {d_planes}")
        size = sizes[level]
        if level == 0:
            generator = CoarseGenerator(latent_dim, (channels, size, size), num_classes, coarse_g_hidden, coarse_output)
            discriminator = CoarseDiscriminator((channels, size, size), num_classes, coarse_d_hidden, coarse_d_dropout)
        else:
            generator = RefinementGenerator(channels, size, num_classes, g_planes)
            discriminator = RefinementDiscriminator(channels, size, num_classes, d_planes, d_dropout)
        noise_dim = latent_dim if level == 0 else size * size
        super().__init__(generator, discriminator, latent_dim=noise_dim, prior=prior, optimizer=optimizer,
                         g_lr=g_lr, d_lr=d_lr, momentum=momentum, **kwargs)
        self.sizes, self.level, self.num_classes, self.channels = sizes, level, num_classes, channels
        self.output_range = OUTPUTS[coarse_output][1]
        self.prior = LevelNoise(level, channels, size, num_classes, self.prior)

    # ------------------------------------------------------------------ the level's game
    def condition_on(self, images: Tensor, labels: Tensor) -> Tensor:
        """Hold the batch's conditioning for G and D; return what D sees as real here: I_0 or h_k."""
        onehot = None
        if self.num_classes:
            if not bool(((labels >= 0) & (labels < self.num_classes)).all()):
                raise ZooConfigError(f"CC-LAPGAN needs class labels in 0..{self.num_classes - 1}; this batch holds "
                                     f"{labels.min().item()}..{labels.max().item()} (unlabelled images?)")
            onehot = F.one_hot(labels, self.num_classes).to(images.dtype)
        lows = lowpass_images(images, self.sizes)
        if self.level == 0:
            self.prior.condition = Condition(None, onehot)
            return lows[0]
        coarse_up = upsample(lows[self.level - 1], self.sizes[self.level])
        self.prior.condition = Condition(coarse_up, onehot)
        return lows[self.level] - coarse_up

    def judge(self, x: Tensor) -> Tensor:
        """D's logits for I_0, or for l_k + h."""
        held = self.prior.condition
        return self.discriminator(x if self.level == 0 else held.coarse_up + x, held.onehot)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        scale = 0.5 if self.hparams.discriminator_cost == "mean" else 1.0
        return discriminator_loss(self.judge(real), self.judge(fake), self.hparams.real_label, scale)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        return GENERATOR_LOSSES[self.hparams.generator_objective](self.judge(fake))

    def real_batch(self, batch: Any) -> Tensor:
        images, labels = batch
        return self.condition_on(images, labels)

    def held_out_fakes(self, n: int) -> Tensor:
        # residuals for the coarse images real_batch just conditioned on, not generate()'s previews
        return self.generator(self.sample_noise(n))

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.hparams.optimizer != "sgd":
            return
        momentum = min(self.hparams.momentum + self.hparams.momentum_step * self.current_epoch, self.hparams.final_momentum)
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["momentum"] = momentum

    # ------------------------------------------------------------------------ previews
    def generate(self, z: Tensor, use_ema: bool = True) -> Tensor:
        """The level's image, G_0(z) or l_k + G_k(z) with l_k read from z, brought to the data's side
        and range: what sample grids and learning curves of a level run show."""
        out = super().generate(z, use_ema)
        image = out if self.level == 0 else z[:, : self.channels].to(out.device) + out
        return upsample(image, self.sizes[-1]).clamp(*self.output_range)

    def check_data_compatibility(self, sample_shape: tuple[int, ...], value_range: tuple[float, float]) -> None:
        expected = (self.channels, self.sizes[-1], self.sizes[-1])
        if tuple(sample_shape) != expected:
            raise ZooConfigError(
                f"{type(self).__name__} builds pyramids of {list(expected)} images but the data has shape {list(sample_shape)}: "
                f"set model.init_args.image_size and channels to match"
            )
        if tuple(map(float, value_range)) != tuple(map(float, self.output_range)):
            raise ZooConfigError(
                f"the coarsest generator outputs values in {list(self.output_range)} but the data lies in {list(value_range)}: "
                f"set model.init_args.coarse_output to match"
            )
