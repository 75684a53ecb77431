"""Goodfellow et al.'s (2014) value function, shared by every paper that keeps it.

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))]        (Eq. 1)
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from zoo.core.gan import TwoPlayerGAN
from zoo.errors import require
from zoo.objectives.adversarial import GENERATOR_LOSSES, discriminator_loss
from zoo.objectives.improved import feature_matching_loss


class MinimaxGAN(TwoPlayerGAN):
    """A :class:`TwoPlayerGAN` trained on Eq. 1.

    Args:
        generator_objective: ``"minimax"`` minimises log(1 − D(G(z))) as Eq. 1 states;
            ``"nonsaturating"`` minimises −log D(G(z)), the fix for vanishing gradients early in
            training that the paper recommends (§3); ``"feature_matching"`` minimises
            ‖E f(x) − E f(G(z))‖ over D's last hidden layer f (Salimans et al. 2016, §3.1).
        feature_matching_norm: ``"l2"`` (the paper's squared norm) or ``"l1"`` (the released
            CIFAR-10 code's).
        real_label: target for real data; < 1 is one-sided label smoothing (Salimans et al. 2016).
        discriminator_cost: ``"sum"`` is Eq. 1's −V; ``"mean"`` is ½ of it, as the released code
            of Goodfellow et al. computes D's cost.
        **kwargs: the training options of :class:`TwoPlayerGAN`.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_objective: Literal["minimax", "nonsaturating", "feature_matching"] = "nonsaturating",
        real_label: float = 1.0,
        discriminator_cost: Literal["sum", "mean"] = "sum",
        feature_matching_norm: Literal["l2", "l1"] = "l2",
        **kwargs: Any,
    ) -> None:
        objectives = [*GENERATOR_LOSSES, "feature_matching"]
        require(generator_objective in objectives,
                f"model.generator_objective must be one of {objectives}, got {generator_objective!r}")
        require(generator_objective != "feature_matching" or hasattr(discriminator, "hidden_features"),
                f"feature matching needs a discriminator with hidden_features(x); {type(discriminator).__name__} has none")
        require(feature_matching_norm in ("l2", "l1"), f"model.feature_matching_norm must be 'l2' or 'l1', got {feature_matching_norm!r}")
        require(0.5 < real_label <= 1.0, f"model.real_label must lie in (0.5, 1], got {real_label}")
        require(discriminator_cost in ("sum", "mean"), f"model.discriminator_cost must be 'sum' or 'mean', got {discriminator_cost!r}")
        super().__init__(generator, discriminator, **kwargs)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        scale = 0.5 if self.hparams.discriminator_cost == "mean" else 1.0
        return discriminator_loss(self.discriminator(real), self.discriminator(fake), self.hparams.real_label, scale)

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        if self.hparams.generator_objective == "feature_matching":
            real_features = self.discriminator.hidden_features(real).detach()  # a target for G, not a path into D
            return feature_matching_loss(real_features, self.discriminator.hidden_features(fake), self.hparams.feature_matching_norm)
        return GENERATOR_LOSSES[self.hparams.generator_objective](self.discriminator(fake))
