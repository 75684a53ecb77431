"""The plain loop of ``benchmarks/train_throughput.py``: a model's nets and updates in hand-written
PyTorch, the baseline the Trainer's step time is divided by.

It builds nothing of its own: the nets come from the zoo's model class (same seed, same weights),
the losses from ``zoo.objectives``, the optimizers from ``zoo.core.optimizers``. Only the loop is
hand-written: the data as one in-memory tensor indexed once per batch, and the other player's
weights frozen during each player's backward pass (what ``toggle_optimizer`` does).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from benchmarks.throughput.timing import seconds_per_step
from zoo.core import TwoPlayerGAN
from zoo.core.optimizers import make_optimizer
from zoo.core.unroll import unroll
from zoo.objectives.adversarial import GENERATOR_LOSSES, discriminator_loss
from zoo.objectives.fgan_losses import fgan_discriminator_loss, fgan_generator_loss


class PlainGAN:
    """The model's nets and updates in a hand-written loop, without Lightning."""

    def __init__(self, name: str, model: TwoPlayerGAN, args: argparse.Namespace, fast: bool) -> None:
        hp = model.hparams
        self.name, self.hp, self.prior = name, hp, model.prior
        self.device = torch.device(args.device)
        self.generator, self.discriminator = model.generator.to(self.device), model.discriminator.to(self.device)
        self.channels_last = fast and args.channels_last
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        if fast and args.compile:
            self.generator.compile()
            self.discriminator.compile()
        bf16 = fast and args.precision == "bf16-mixed"
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
        self.g_opt, self.g_decay = self._optimizer(self.generator, hp.g_lr)
        self.d_opt, self.d_decay = self._optimizer(self.discriminator, hp.d_lr)
        self.d_params = list(self.discriminator.parameters())
        self.divergence = getattr(model, "divergence", None)

    def _optimizer(self, net: nn.Module, lr: float) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        hp = self.hp
        optimizer = make_optimizer(hp.optimizer, net.parameters(), lr, hp.betas, hp.momentum)
        floor = hp.min_lr / lr
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(hp.lr_decay**step, floor))

    @contextlib.contextmanager
    def discriminator_frozen(self) -> Iterator[None]:
        for p in self.d_params:
            p.requires_grad_(False)
        yield
        for p in self.d_params:
            p.requires_grad_(True)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        D = self.discriminator
        if self.name == "fgan":
            return fgan_discriminator_loss(D(real), D(fake), self.divergence)
        scale = 0.5 if self.hp.discriminator_cost == "mean" else 1.0
        return discriminator_loss(D(real), D(fake), self.hp.real_label, scale)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        D = self.discriminator
        if self.name == "fgan":
            return fgan_generator_loss(D(fake), self.divergence, self.hp.practical_generator_loss)
        objective = GENERATOR_LOSSES[self.hp.generator_objective]
        if self.name != "unrolled":
            return objective(D(fake))
        lookahead = unroll(D, lambda: self.discriminator_loss(real, fake), self.d_opt, self.hp.unroll_steps,
                           self.hp.second_order, self.hp.grad_clip_norm)
        return lookahead(lambda x: objective(D(x)), fake)

    def step(self, real: Tensor) -> None:
        real = real.to(self.device, non_blocking=True)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            if self.hp["update"] == "simultaneous":  # not hp.update: that is dict.update
                self._simultaneous_step(real)
            else:
                self._alternating_step(real)

    def _alternating_step(self, real: Tensor) -> None:
        with torch.no_grad():
            fake = self.generator(self.prior.sample(real.shape[0], self.device))
        loss = self.discriminator_loss(real, fake)
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.d_opt.step()
        self.d_decay.step()
        with self.discriminator_frozen():
            loss = self.generator_loss(self.generator(self.prior.sample(real.shape[0], self.device)), real)
            self.g_opt.zero_grad(set_to_none=True)
            loss.backward()
        self.g_opt.step()
        self.g_decay.step()

    def _simultaneous_step(self, real: Tensor) -> None:
        with self.discriminator_frozen():
            fake = self.generator(self.prior.sample(real.shape[0], self.device))
            g_loss = self.generator_loss(fake, real)
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
        d_loss = self.discriminator_loss(real, fake.detach())
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        self.g_opt.step()
        self.d_decay.step()
        self.g_decay.step()


def plain_batches(samples: Tensor, batch_size: int) -> Iterator[Tensor]:
    """Endless shuffled batches, each gathered from the tensor by one index."""
    generator, n = torch.Generator().manual_seed(0), len(samples)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield samples[order[start:start + batch_size]]


def run_plain(plain: PlainGAN, samples: Tensor, args: argparse.Namespace) -> float:
    """Seconds per step of the plain loop."""
    batches = plain_batches(samples, args.batch_size)
    return seconds_per_step(lambda: plain.step(next(batches)), args.warmup, args.steps, plain.device)
