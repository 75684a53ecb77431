"""The DCGAN generator and discriminator (Radford, Metz & Chintala, 2016, §3 and Figure 1).

The paper's architecture guidelines (§3), all followed here:

* strided convolutions in D and fractionally-strided (transposed) convolutions in G, no pooling;
* batch normalization in both nets, except at G's output layer and D's input layer;
* no fully connected hidden layers: G's first layer maps ``z`` (a 1×1 map with ``latent_dim``
  channels) to a 4×4 map with a 4×4 transposed convolution, which is exactly the paper's
  "project and reshape" matrix multiply; D's last layer is a 4×4 convolution to one logit;
* ReLU in G with ``tanh`` at the output, LeakyReLU (slope 0.2) in D.

Widths double at each halving of resolution: for 64×64, G goes 4×4×(8·w) → 8×8×(4·w) →
16×16×(2·w) → 32×32×w → 64×64×C with ``w = base_width`` (the paper's Figure 1 uses 1024 channels at
4×4, i.e. ``base_width=128``; the common reference code uses 64). Weights start as N(0, 0.02)
(§4, "Details of adversarial training"); batch-norm scales start as N(1, 0.02), the convention of
the reference implementations: :func:`dcgan_init_`.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.errors import require
from zoo.nets.tricks import VirtualBatchNorm, forward_with_reference

LEAKY_SLOPE = 0.2
INIT_STD = 0.02


def _resolution_steps(image_size: int, channels: int, base_width: int) -> int:
    """Number of ×2 resolution changes between 4×4 and ``image_size``; validates the arguments."""
    is_power_of_two = image_size > 0 and image_size & (image_size - 1) == 0
    require(
        is_power_of_two and image_size >= 32,
        f"DCGAN image_size must be a power of two >= 32 (32, 64, 128, ...), got {image_size}",
    )
    require(channels >= 1, f"DCGAN channels must be a positive integer, got {channels}")
    require(base_width >= 1, f"DCGAN base_width must be a positive integer, got {base_width}")
    return image_size.bit_length() - 1 - 2  # log2(image_size / 4)


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN initialisation, in place: conv weights N(0, 0.02) (§4), BN weights N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, VirtualBatchNorm)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, INIT_STD)
            nn.init.zeros_(layer.bias)
    return module


class DCGANGenerator(nn.Module):
    """Maps ``z`` of shape ``(B, latent_dim)`` to images ``(B, channels, image_size, image_size)``.

    Outputs lie in :attr:`output_range` = (-1, 1) (``tanh``). Layers that feed batch norm carry no
    bias (the norm's shift replaces it). ``normalization="virtual"`` puts virtual batch norm
    (Salimans et al. 2016, §3.5) in place of every batch norm: each sample is normalised with the
    statistics of a fixed reference batch of codes (``reference_size`` of them, drawn once from
    N(0, I) with seed 0 and kept in the state dict), propagated through the current weights, so a
    sample no longer depends on the rest of its batch.
    """

    output_range = (-1.0, 1.0)

    def __init__(self, latent_dim: int = 100, image_size: int = 64, channels: int = 3, base_width: int = 64,
                 normalization: str = "batch", reference_size: int = 64) -> None:
        super().__init__()
        steps = _resolution_steps(image_size, channels, base_width)
        require(latent_dim >= 1, f"DCGAN latent_dim must be a positive integer, got {latent_dim}")
        require(normalization in ("batch", "virtual"), f"model.g_normalization must be 'batch' or 'virtual', got {normalization!r}")
        require(reference_size >= 1, f"model.g_reference_size must be positive, got {reference_size}")
        norm = nn.BatchNorm2d if normalization == "batch" else VirtualBatchNorm
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.sample_shape = (channels, image_size, image_size)

        width = base_width * 2 ** (steps - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, kernel_size=4, stride=1, padding=0, bias=False),
            norm(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(steps - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, kernel_size=4, stride=2, padding=1, bias=False),
                norm(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, kernel_size=4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.virtual = normalization == "virtual"
        if self.virtual:
            self.register_buffer("reference_z", torch.randn(reference_size, latent_dim, generator=torch.Generator().manual_seed(0)))
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        require(
            z.dim() == 2 and z.shape[1] == self.latent_dim,
            f"DCGANGenerator expects z of shape (batch, {self.latent_dim}), got {tuple(z.shape)}",
        )
        if self.virtual:
            return forward_with_reference(self.net, self.reference_z[:, :, None, None].to(z.dtype), z[:, :, None, None])
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Maps images ``(B, channels, image_size, image_size)`` to one logit each, shape ``(B,)``.

    No sigmoid: the loss applies it (numerically stable ``binary_cross_entropy_with_logits``).
    :meth:`features` returns every hidden layer's activation, which DCGAN §5.1 max-pools to 4×4
    grids and concatenates to train a linear SVM on CIFAR-10.
    """

    def __init__(self, image_size: int = 64, channels: int = 3, base_width: int = 64, batch_norm: bool = True) -> None:
        """``batch_norm=False`` drops the hidden layers' batch norm (and gives their convolutions a
        bias): each image's logit then depends on that image alone, not on the rest of its batch."""
        super().__init__()
        steps = _resolution_steps(image_size, channels, base_width)
        self.image_size, self.channels = image_size, channels
        self.sample_shape = (channels, image_size, image_size)

        # Input layer: no batch norm (§3), so it keeps its bias.
        blocks = [
            nn.Sequential(
                nn.Conv2d(channels, base_width, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            )
        ]
        width = base_width
        for _ in range(steps - 1):
            conv = nn.Conv2d(width, width * 2, kernel_size=4, stride=2, padding=1, bias=not batch_norm)
            norm = [nn.BatchNorm2d(width * 2)] if batch_norm else []
            blocks.append(nn.Sequential(conv, *norm, nn.LeakyReLU(LEAKY_SLOPE, inplace=True)))
            width *= 2
        self.hidden = nn.ModuleList(blocks)
        self.feature_widths = [base_width * 2**i for i in range(steps)]
        self.to_logit = nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=0)
        dcgan_init_(self)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each hidden layer's output, from the first (``image_size / 2``) to the last (4×4)."""
        require(
            tuple(x.shape[1:]) == (self.channels, self.image_size, self.image_size),
            f"DCGANDiscriminator expects images of shape (batch, {self.channels}, {self.image_size}, "
            f"{self.image_size}), got {tuple(x.shape)}",
        )
        outputs = []
        for block in self.hidden:
            x = block(x)
            outputs.append(x)
        return outputs

    def hidden_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (4×4): the features of feature matching."""
        return self.features(x)[-1]

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.to_logit(features).flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden_features(x))
