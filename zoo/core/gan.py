"""The two-player LightningModule every paper of the zoo builds on.

One ``training_step`` consumes one minibatch of real data and makes one discriminator update; every
``d_steps_per_g_step``-th step also makes a generator update. This is Algorithm 1 of Goodfellow et
al. (2014) with k = ``d_steps_per_g_step``. With ``update="simultaneous"`` both players instead take
one gradient step each from the same point (θ_t, ω_t), as in Algorithm 1 of Nowozin et al. (2016).

A paper subclass builds its nets, passes them to ``__init__`` and overrides only what the paper
changes, normally :meth:`discriminator_loss` and :meth:`generator_loss`.
"""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from zoo.core.ema import GeneratorEMA
from zoo.core.manual_optimization import is_finite, only_training, step_values_reach_a_logger
from zoo.core.optimizers import OPTIMIZERS, make_optimizer
from zoo.core.prior import NoisePrior
from zoo.core.game_state import game_state, restore_game_state
from zoo.core.randomness import seed_rank_stream
from zoo.core.schedules import player_schedule, reapply
from zoo.core.strategy import check_ddp_strategy
from zoo.core.techniques import InstanceNoise, historical_averages, with_minibatch_discrimination
from zoo.errors import ZooConfigError, ZooNonFiniteError, require


class TwoPlayerGAN(pl.LightningModule):
    """A generator G: z ↦ x and a discriminator (or critic) D, trained by manual optimization.

    Args:
        generator: maps ``(n, latent_dim)`` noise to samples; may declare ``output_range``.
        discriminator: maps samples to one score per sample.
        latent_dim: dimension of z.
        prior: ``"normal"`` or ``"uniform"`` on ``[prior_low, prior_high]``.
        update: ``"alternating"`` (D then G) or ``"simultaneous"`` (both from the same point).
        d_steps_per_g_step: k, the discriminator updates per generator update.
        optimizer: ``"adam"``, ``"sgd"`` (with ``momentum``) or ``"adam_sqrt_eps"`` (Adam with ε under
            the square root, as the released Improved-GAN code: :mod:`zoo.core.optimizers`), for both players.
        g_lr, d_lr: learning rates.
        betas: Adam's (β1, β2).
        lr_decay: per-update multiplicative decay of each learning rate (1.0 keeps it constant).
        min_lr: floor of the decayed learning rate.
        lr_linear_decay_epochs: ``(start, end)``: from epoch ``start`` on, both learning rates fall
            linearly, epoch by epoch, to 0 at epoch ``end`` (epochs counted from 0). The first Improved-GAN
            MNIST code's ``lr·min(3 − epoch/100, 1)`` is ``(200, 300)``. ``None``: no such fall.
        grad_clip_norm: clip each player's gradient norm to this value (``None``: no clipping).
        ema_decay: keep an exponential moving average of G with this decay (``None``: none).
        check_finite: stop with one line at the first NaN/Inf loss, before it reaches the weights
            (one host sync per update; turn off only for speed runs on a GPU).
        instance_noise, instance_noise_steps: σ_0 of the noise added to everything D sees, and the
            generator steps over which it falls to 0 (see :mod:`zoo.core.techniques`).
        historical_averaging: λ of each player's λ‖θ − θ̄‖² penalty (0: off).
        minibatch_discrimination, minibatch_kernel_dim: kernels B and dimensions C of a minibatch
            discrimination layer before D's logit (0 kernels: off).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int = 100,
        prior: Literal["normal", "uniform"] = "normal",
        prior_low: float = -1.0,
        prior_high: float = 1.0,
        update: Literal["alternating", "simultaneous"] = "alternating",
        d_steps_per_g_step: int = 1,
        optimizer: Literal["adam", "sgd", "adam_sqrt_eps"] = "adam",
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        momentum: float = 0.0,
        lr_decay: float = 1.0,
        min_lr: float = 0.0,
        lr_linear_decay_epochs: tuple[int, int] | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = None,
        check_finite: bool = True,
        instance_noise: float = 0.0,
        instance_noise_steps: int = 0,
        historical_averaging: float = 0.0,
        minibatch_discrimination: int = 0,
        minibatch_kernel_dim: int = 5,
    ) -> None:
        super().__init__()
        require(update in ("alternating", "simultaneous"), f"model.update must be 'alternating' or 'simultaneous', got {update!r}")
        require(d_steps_per_g_step >= 1, f"model.d_steps_per_g_step must be >= 1, got {d_steps_per_g_step}")
        require(optimizer in OPTIMIZERS, f"model.optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        require(g_lr > 0 and d_lr > 0, f"learning rates must be positive, got g_lr={g_lr}, d_lr={d_lr}")
        require(0 < lr_decay <= 1, f"model.lr_decay must lie in (0, 1], got {lr_decay}")
        require(lr_linear_decay_epochs is None or 0 <= lr_linear_decay_epochs[0] < lr_linear_decay_epochs[1],
                f"model.lr_linear_decay_epochs must be [start, end] with 0 <= start < end, got {lr_linear_decay_epochs}")
        require(grad_clip_norm is None or grad_clip_norm > 0, f"model.grad_clip_norm must be positive, got {grad_clip_norm}")
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.automatic_optimization = False
        require(minibatch_discrimination >= 0, f"model.minibatch_discrimination must be >= 0, got {minibatch_discrimination}")
        self.prior = NoisePrior(latent_dim, prior, prior_low, prior_high)
        self.generator = generator
        self.discriminator = with_minibatch_discrimination(generator, discriminator, self.prior, minibatch_discrimination, minibatch_kernel_dim)
        self.instance_noise = InstanceNoise(instance_noise, instance_noise_steps)
        self.history = historical_averages(generator, self.discriminator, historical_averaging)
        self.ema = GeneratorEMA(generator, ema_decay) if ema_decay is not None else None
        self.generator_steps = 0
        self.discriminator_steps = 0
        self._rng_restored = False
        self._latest_losses: dict[str, Tensor] = {}  # logged only when a logger writes them
        self._latest_epoch = -1

    # ----------------------------------------------------------------- what a paper overrides
    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """The loss D minimises, given a real batch and a detached fake batch."""
        raise NotImplementedError

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        """The loss G minimises, given a fake batch that carries G's graph, and the real batch."""
        raise NotImplementedError

    def generator_loss_at_current_d(self, fake: Tensor, real: Tensor) -> Tensor:
        """G's loss against D as it stands, for probes of the game. A model whose G looks ahead
        of D (Unrolled GAN) overrides this to skip the look-ahead."""
        return self.generator_loss(fake, real)

    # ----------------------------------------------------------------------------- sampling
    def sample_noise(self, n: int) -> Tensor:
        return self.prior.sample(n, device=self.device)

    def generate(self, z: Tensor, use_ema: bool = True) -> Tensor:
        """G(z) in eval mode, without gradients; the averaged G when one is kept."""
        net = self.ema.shadow if (use_ema and self.ema is not None) else self.generator
        was_training = net.training
        net.eval()
        # The weights' device, not self.device: Lightning points self.device at the accelerator before
        # setup() runs, while the weights still sit on the CPU.
        weights = next(net.parameters(), None)
        with torch.no_grad():
            out = net(z.to(self.device if weights is None else weights.device))
        net.train(was_training)
        return out

    def sample(self, n: int, use_ema: bool = True) -> Tensor:
        """``n`` samples from the model."""
        return self.generate(self.sample_noise(n), use_ema=use_ema)

    # ---------------------------------------------------------------------------- training
    def real_batch(self, batch: Any) -> Tensor:
        """The real samples the players see in a loader's ``batch`` (a paper may build them, as a
        LAPGAN level builds residuals); default: ``x`` of ``(x, y)``."""
        return batch[0] if isinstance(batch, (list, tuple)) else batch

    def training_step(self, batch: Any, batch_idx: int) -> None:
        real = self.real_batch(batch)
        if self.hparams["update"] == "simultaneous":  # not hparams.update: that is dict.update
            self._simultaneous_update(real)
        else:
            self._discriminator_update(real)
            if self.discriminator_steps % self.hparams.d_steps_per_g_step == 0:
                self._generator_update(real)
        if step_values_reach_a_logger(self._trainer):
            self.log_dict(
                {"generator_step": float(self.generator_steps), "discriminator_step": float(self.discriminator_steps)},
                on_step=True, on_epoch=False,
            )
            for name, loss in self._latest_losses.items():
                self.log(name, loss, prog_bar=name in ("train/d_loss", "train/g_loss"))

    def _note_loss(self, name: str, loss: Tensor) -> None:
        """Keep ``loss`` as the value to log; Lightning forgets per-step values at each epoch's end, and so do we."""
        if self._latest_epoch != self.current_epoch:
            self._latest_losses.clear()
            self._latest_epoch = self.current_epoch
        self._latest_losses[name] = loss.detach()

    def _finite(self, loss: Tensor, player: str) -> Tensor:
        """``loss``, unless it is NaN or infinite: then stop before any weight sees it."""
        if self.hparams.check_finite and not is_finite(loss):
            raise ZooNonFiniteError(
                f"non-finite {player} loss ({loss.detach().flatten()[0].item()}) at generator step {self.generator_steps}, "
                f"discriminator step {self.discriminator_steps} (epoch {self.current_epoch}); no checkpoint was written "
                f"after it: lower the learning rates or set model.init_args.grad_clip_norm"
            )
        return loss

    def seen_by_discriminator(self, x: Tensor) -> Tensor:
        """What D is shown of ``x``: ``x`` itself, or ``x`` plus instance noise while it lasts."""
        return self.instance_noise(x, self.generator_steps)

    def _backward(self, optimizer: Any, loss: Tensor, player: str) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.history is not None:  # the penalty shapes the step; the logged loss stays the game's
            loss = loss + self.hparams.historical_averaging * self.history[player].penalty(getattr(self, player))
        self.manual_backward(loss)
        if self.hparams.grad_clip_norm is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.hparams.grad_clip_norm, gradient_clip_algorithm="norm")

    def _discriminator_update(self, real: Tensor) -> None:
        g_opt, d_opt = self.optimizers()
        with torch.no_grad():
            fake = self.generator(self.sample_noise(real.shape[0]))
        with only_training(d_opt, self.trainer.optimizers):
            seen = self.seen_by_discriminator
            loss = self._finite(self.discriminator_loss(seen(real), seen(fake)), "discriminator")
            self._backward(d_opt, loss, "discriminator")
            d_opt.step()
        self._after_discriminator_step(loss)

    def _generator_update(self, real: Tensor) -> None:
        g_opt, d_opt = self.optimizers()
        with only_training(g_opt, self.trainer.optimizers):
            fake = self.generator(self.sample_noise(real.shape[0]))
            seen = self.seen_by_discriminator
            loss = self._finite(self.generator_loss(seen(fake), seen(real)), "generator")
            self._backward(g_opt, loss, "generator")
            g_opt.step()
        self._after_generator_step(loss)

    def _simultaneous_update(self, real: Tensor) -> None:
        """Both gradients at (θ_t, ω_t) from one noise batch, then both steps (f-GAN Algorithm 1)."""
        g_opt, d_opt = self.optimizers()
        with only_training(g_opt, self.trainer.optimizers):
            fake = self.seen_by_discriminator(self.generator(self.sample_noise(real.shape[0])))
            real = self.seen_by_discriminator(real)
            g_loss = self._finite(self.generator_loss(fake, real), "generator")
            self._backward(g_opt, g_loss, "generator")
        with only_training(d_opt, self.trainer.optimizers):
            d_loss = self._finite(self.discriminator_loss(real, fake.detach()), "discriminator")
            self._backward(d_opt, d_loss, "discriminator")
        d_opt.step()
        g_opt.step()
        self._after_discriminator_step(d_loss)
        self._after_generator_step(g_loss)

    def _after_discriminator_step(self, loss: Tensor) -> None:
        self.discriminator_steps += 1
        if self.history is not None:
            self.history["discriminator"].update(self.discriminator)
        self.lr_schedulers()[1].step()
        self._note_loss("train/d_loss", loss)

    def _after_generator_step(self, loss: Tensor) -> None:
        self.generator_steps += 1
        if self.history is not None:
            self.history["generator"].update(self.generator)
        self.lr_schedulers()[0].step()
        if self.ema is not None:
            self.ema.update(self.generator)
        self._note_loss("train/g_loss", loss)

    # -------------------------------------------------------------------------- evaluation
    def held_out_fakes(self, n: int) -> Tensor:
        """The ``n`` fakes D judges in the validation and test losses, drawn after ``real_batch``."""
        return self.sample(n, use_ema=False)

    def _evaluation_losses(self, batch: Any, prefix: str) -> None:
        real = self.real_batch(batch)
        fake = self.held_out_fakes(real.shape[0])
        self.log(f"{prefix}/d_loss", self.discriminator_loss(real, fake), sync_dist=True)
        self.log(f"{prefix}/g_loss", self.generator_loss(fake, real), sync_dist=True)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluation_losses(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluation_losses(batch, "test")

    # ----------------------------------------------------------------------- optimizers
    def _make_optimizer(self, params: Any, lr: float) -> torch.optim.Optimizer:
        return make_optimizer(self.hparams.optimizer, params, lr, self.hparams.betas, self.hparams.momentum)

    def _schedule(self, optimizer: torch.optim.Optimizer, lr: float) -> torch.optim.lr_scheduler.LRScheduler:
        return player_schedule(optimizer, lr, self.hparams.lr_decay, self.hparams.min_lr,
                               lambda: self.current_epoch if self._trainer is not None else 0,
                               self.hparams.lr_linear_decay_epochs)

    def on_train_epoch_start(self) -> None:
        if self.hparams.lr_linear_decay_epochs is not None:
            reapply(self.lr_schedulers())

    def configure_optimizers(self) -> Any:
        g_opt = self._make_optimizer(self.generator.parameters(), self.hparams.g_lr)
        d_opt = self._make_optimizer(self.discriminator.parameters(), self.hparams.d_lr)
        return [g_opt, d_opt], [self._schedule(g_opt, self.hparams.g_lr), self._schedule(d_opt, self.hparams.d_lr)]

    # ---------------------------------------------------------------------- setup checks
    def setup(self, stage: str) -> None:
        check_ddp_strategy(self.trainer)
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "value_range"):
            self.check_data_compatibility(tuple(datamodule.sample_shape), tuple(datamodule.value_range))

    def check_data_compatibility(self, sample_shape: tuple[int, ...], value_range: tuple[float, float]) -> None:
        """Raise one line when G's output shape or range cannot match the data."""
        produced = tuple(self.generate(self.prior.sample(2), use_ema=False).shape[1:])
        if produced != sample_shape:
            raise ZooConfigError(
                f"{type(self).__name__} generates samples of shape {list(produced)} but the data has "
                f"shape {list(sample_shape)}: set model.init_args.data_shape to {list(sample_shape)}"
            )
        output_range = getattr(self.generator, "output_range", None)
        if output_range is not None and tuple(map(float, output_range)) != tuple(map(float, value_range)):
            raise ZooConfigError(
                f"the generator outputs values in {list(output_range)} but the data lies in {list(value_range)}: "
                f"set data.init_args.value_range to {list(output_range)} or change the generator's output"
            )

    # ------------------------------------------------------------------- checkpoint state
    def on_train_start(self) -> None:
        if not self._rng_restored:  # a fresh run, or a checkpoint from another world size
            seed_rank_stream(self.global_rank)
        if self.history is not None and self.generator_steps == self.discriminator_steps == 0:
            for player, average in self.history.items():  # θ[1]: after any data-dependent init at fit start
                average.restart(getattr(self, player))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["zoo"] = game_state(self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rng_restored = restore_game_state(self, checkpoint)
