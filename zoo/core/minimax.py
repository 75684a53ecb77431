"""Goodfellow et al.'s (2014) value function, shared by every paper that keeps it.

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))]        (Eq. 1)
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from zoo.core.gan import TwoPlayerGAN
from zoo.errors import require
from zoo.objectives.adversarial import GENERATOR_LOSSES, discriminator_loss


class MinimaxGAN(TwoPlayerGAN):
    """A :class:`TwoPlayerGAN` trained on Eq. 1.

    Args:
        generator_objective: ``"minimax"`` minimises log(1 − D(G(z))) as Eq. 1 states;
            ``"nonsaturating"`` minimises −log D(G(z)), the fix for vanishing gradients early in
            training that the paper recommends (§3).
        real_label: target for real data; < 1 is one-sided label smoothing (Salimans et al. 2016).
        discriminator_cost: ``"sum"`` is Eq. 1's −V; ``"mean"`` is ½ of it, as the released code
            of Goodfellow et al. computes D's cost.
        **kwargs: the training options of :class:`TwoPlayerGAN`.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_objective: Literal["minimax", "nonsaturating"] = "nonsaturating",
        real_label: float = 1.0,
        discriminator_cost: Literal["sum", "mean"] = "sum",
        **kwargs: Any,
    ) -> None:
        require(
            generator_objective in GENERATOR_LOSSES,
            f"model.generator_objective must be one of {sorted(GENERATOR_LOSSES)}, got {generator_objective!r}",
        )
        require(0.5 < real_label <= 1.0, f"model.real_label must lie in (0.5, 1], got {real_label}")
        require(discriminator_cost in ("sum", "mean"), f"model.discriminator_cost must be 'sum' or 'mean', got {discriminator_cost!r}")
        super().__init__(generator, discriminator, **kwargs)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        scale = 0.5 if self.hparams.discriminator_cost == "mean" else 1.0
        return discriminator_loss(self.discriminator(real), self.discriminator(fake), self.hparams.real_label, scale)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        return GENERATOR_LOSSES[self.hparams.generator_objective](self.discriminator(fake))
