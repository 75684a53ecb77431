"""Small convolutional nets for 3×28×28 Stacked MNIST, as PacGAN's authors re-implemented the
Stacked MNIST experiment of Metz et al. (2017, §3.3.1, Table 2).

The Unrolled GAN paper released no Stacked MNIST code. Lin et al. (PacGAN, 2018) re-ran its setting
and reported DCGAN numbers near the paper's K = 0 cells (78.5 modes at ¼-size D against the paper's
30.6, 487.7 at ½ size against 628). Their code (``fjxmlzn/PacGAN``,
``stacked_MNIST_experiments/unrolled_GAN_experiment/D=0.25G`` and ``D=0.5G``) gives the nets built
here; "¼" and "½" name D's widths there, (2, 4, 8) and (4, 8, 16) filters, against G's
(64, 32, 16, 8). All kernels are 3×3; weights start as N(0, 0.02) like DCGAN's.

* G: z ↦ linear → 4×4×64 → BN, ReLU → transposed convs to 7×7×32, 14×14×16, 28×28×8 (each BN,
  ReLU) → a stride-1 conv to 3 channels → tanh.
* D: three stride-2 convs (28 → 14 → 7 → 4), each with batch norm (the first one too) and
  LeakyReLU of slope 0.3 → linear → one logit.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from zoo.errors import require
from zoo.nets.dcgan import INIT_STD
from zoo.nets.layers import SequentialScore

IMAGE_SIZE = 28
G_WIDTHS = (64, 32, 16, 8)
D_WIDTHS = {0.25: (2, 4, 8), 0.5: (4, 8, 16)}  # D "¼" and "½ the size of G", by its filters
D_LEAKY_SLOPE = 0.3


def _init_(module: nn.Module) -> nn.Module:
    """Conv, transposed-conv and linear weights N(0, 0.02), biases 0; batch norm at (1, 0)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class StackedMNISTGenerator(nn.Module):
    """Maps ``z`` of shape ``(B, latent_dim)`` to ``(B, channels, 28, 28)`` images in (-1, 1)."""

    output_range = (-1.0, 1.0)

    def __init__(self, latent_dim: int = 256, widths: Sequence[int] = G_WIDTHS, channels: int = 3) -> None:
        super().__init__()
        require(len(widths) == 4 and all(w >= 1 for w in widths),
                f"model.g_widths must be four positive widths (4×4, 7×7, 14×14, 28×28), got {list(widths)}")
        self.latent_dim, self.sample_shape = latent_dim, (channels, IMAGE_SIZE, IMAGE_SIZE)
        first = widths[0]
        self.project = nn.Linear(latent_dim, first * 4 * 4)
        layers: list[nn.Module] = [nn.Unflatten(1, (first, 4, 4)), nn.BatchNorm2d(first), nn.ReLU()]
        # 4 → 7 → 14 → 28: stride 2 and padding 1 give 2n − 1; the extra row and column make 2n
        for (width_in, width_out), extra in zip(zip(widths, widths[1:]), (0, 1, 1)):
            layers += [nn.ConvTranspose2d(width_in, width_out, 3, stride=2, padding=1, output_padding=extra),
                       nn.BatchNorm2d(width_out), nn.ReLU()]
        layers += [nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        _init_(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z))


class StackedMNISTDiscriminator(SequentialScore):
    """Maps ``(B, channels, 28, 28)`` images to one logit each; ``hidden_features`` is the flattened
    last convolution, for feature matching and minibatch discrimination."""

    def __init__(self, widths: Sequence[int] = D_WIDTHS[0.25], channels: int = 3) -> None:
        super().__init__()
        require(len(widths) == 3 and all(w >= 1 for w in widths),
                f"model.d_widths must be three positive widths (14×14, 7×7, 4×4), got {list(widths)}")
        layers: list[nn.Module] = []
        for width_in, width_out in zip((channels, *widths), widths):
            layers += [nn.Conv2d(width_in, width_out, 3, stride=2, padding=1),
                       nn.BatchNorm2d(width_out), nn.LeakyReLU(D_LEAKY_SLOPE)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(widths[-1] * 4 * 4, 1))
        _init_(self)
