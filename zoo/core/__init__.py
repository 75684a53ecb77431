"""The shared two-player core: one LightningModule, the noise prior, the generator EMA."""

from zoo.core.gan import TwoPlayerGAN
from zoo.core.minimax import MinimaxGAN
from zoo.core.prior import NoisePrior

__all__ = ["MinimaxGAN", "NoisePrior", "TwoPlayerGAN"]
