"""Layers of "Improved Techniques for Training GANs" (Salimans et al. 2016): minibatch
discrimination (§3.2), virtual batch normalization (§3.5), and the Gaussian noise and data-dependent
weight-norm initialisation (Salimans & Kingma 2016) of its released semi-supervised nets."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from zoo.errors import require


class MinibatchDiscrimination(nn.Module):
    """Appends to each example's features how close it is to the others in its batch (§3.2).

    M_i = f(x_i) T ∈ ℝ^{B×C} for a learned T ∈ ℝ^{A×B×C}; c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖₁);
    o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j). Returns [f(x), o(x)] of width A + B. A collapsed batch (many
    near-identical samples) gets large o, so D can see the collapse. The self term c_b(x_i, x_i) = 1
    is left out, as in the released code, so o counts neighbours. Feed real and generated data as
    separate batches: o is meant to describe one distribution's samples.

    The released CIFAR/SVHN code uses B = 100 kernels of C = 5 dimensions, T initialised N(0, 0.05),
    adds a learned bias per kernel to o, and initialises both from the first batch
    (:meth:`initialise_from`): without that, small early features make every c_b ≈ 1, so o ≈ n − 1
    and D's first logits are huge.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, init_std: float = 0.05) -> None:
        super().__init__()
        require(in_features >= 1, f"MinibatchDiscrimination in_features must be positive, got {in_features}")
        require(num_kernels >= 1, f"MinibatchDiscrimination num_kernels must be positive, got {num_kernels}")
        require(kernel_dim >= 1, f"MinibatchDiscrimination kernel_dim must be positive, got {kernel_dim}")
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.out_features = in_features + num_kernels
        self.kernels = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)
        self.bias = nn.Parameter(torch.zeros(num_kernels))
        self.register_buffer("initialised", torch.tensor(False))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # Checkpoints from before the bias and the init: a zero bias, and never initialise mid-run.
        state_dict.setdefault(prefix + "bias", torch.zeros_like(self.bias))
        state_dict.setdefault(prefix + "initialised", torch.tensor(True))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _distances(self, features: Tensor) -> Tensor:
        """‖M_{i,b} − M_{j,b}‖₁ for every kernel b and pair (i, j): shape (B, n, n)."""
        require(
            features.dim() == 2 and features.shape[1] == self.in_features,
            f"MinibatchDiscrimination expects features of shape (batch, {self.in_features}), got {tuple(features.shape)}",
        )
        rows = (features @ self.kernels).view(features.shape[0], self.num_kernels, self.kernel_dim).transpose(0, 1)
        return torch.cdist(rows, rows, p=1)

    def _closeness(self, distances: Tensor) -> Tensor:
        """o(x) without the bias, (n, B): the self term left out."""
        others = ~torch.eye(distances.shape[-1], dtype=torch.bool, device=distances.device)
        return (torch.exp(-distances) * others).sum(dim=2).transpose(0, 1)

    def forward(self, features: Tensor) -> Tensor:
        return torch.cat([features, self._closeness(self._distances(features)) + self.bias], dim=1)

    @torch.no_grad()
    def initialise_from(self, features: Tensor) -> None:
        """The released code's data-dependent init on one batch: scale each kernel so that an example's
        nearest neighbour lies at L1 distance 2 on average, then set the bias so o averages 0.
        Statistics are averaged over processes when training is distributed, so ranks stay equal."""
        require(features.shape[0] >= 2, "minibatch discrimination needs at least 2 examples to initialise from")
        distances = self._distances(features)
        nearest = (distances + torch.diag(torch.full((distances.shape[-1],), math.inf, device=distances.device))).amin(dim=2)
        half_mean_nearest = _mean_over_processes(0.5 * nearest.mean(dim=1)).clamp_min(1e-12)  # (B,)
        self.kernels.view(self.in_features, self.num_kernels, self.kernel_dim).div_(half_mean_nearest[None, :, None])
        o = self._closeness(distances / half_mean_nearest[:, None, None])
        self.bias.copy_(-_mean_over_processes(o.mean(dim=0)))
        self.initialised.fill_(True)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


class MinibatchDiscriminator(nn.Module):
    """Any zoo discriminator with :class:`MinibatchDiscrimination` inserted before its last layer.

    Zoo discriminators split as ``forward(x) = head(hidden_features(x))``; this one keeps
    ``hidden_features`` and replaces the head by [f(x), o(x)] ↦ one logit. The wrapped net's own
    head is left unused.
    """

    def __init__(self, discriminator: nn.Module, feature_width: int, num_kernels: int = 100, kernel_dim: int = 5) -> None:
        super().__init__()
        require(hasattr(discriminator, "hidden_features"), f"minibatch discrimination needs a discriminator with "
                f"hidden_features(x); {type(discriminator).__name__} has none")
        self.inner = discriminator
        self.minibatch = MinibatchDiscrimination(feature_width, num_kernels, kernel_dim)
        self.to_logit = nn.Linear(self.minibatch.out_features, 1)

    def hidden_features(self, x: Tensor) -> Tensor:
        return self.inner.hidden_features(x)

    def head(self, features: Tensor) -> Tensor:
        features = features.flatten(1)
        if self.training and not self.minibatch.initialised:  # the first training batch D sees: real data
            self.minibatch.initialise_from(features.detach())
        return self.to_logit(self.minibatch(features)).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden_features(x))


def _mean_over_processes(value: Tensor) -> Tensor:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        value = value.clone()
        torch.distributed.all_reduce(value)
        return value / torch.distributed.get_world_size()
    return value


class VirtualBatchNorm(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch plus the example itself (§3.5).

    Each example x is normalised per channel with the mean and variance of reference ∪ {x}, the
    reference weighted N/(N+1) and x 1/(N+1) (over spatial positions too, for ``(N, C, H, W)``).
    An example's output therefore never depends on the other examples of its batch.

    Where the reference comes from:

    * stored (default): the buffer :attr:`reference`, set by :meth:`set_reference` or else from the
      first batch the layer sees. It is saved with the state dict. This is exact when the layer's
      inputs are fixed data (e.g. G's noise, or the first layer of a net).
    * live: inside a deeper net the paper re-propagates a fixed reference *input* through the
      current weights at every step, so each layer's reference activations follow training (the
      "two forward passes" that make VBN costly). :func:`forward_with_reference` does this in one
      pass over [reference; x]; the reference rows are normalised with their own statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        require(num_features >= 1, f"VirtualBatchNorm num_features must be positive, got {num_features}")
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        self.register_buffer("reference", torch.empty(0))
        self.live_reference_rows: int | None = None

    @torch.no_grad()
    def set_reference(self, batch: Tensor) -> None:
        """Fix the reference batch (a copy, so later changes to ``batch`` do not leak in)."""
        self._check_shape(batch)
        require(batch.shape[0] >= 1, "VirtualBatchNorm reference batch is empty")
        self.reference = batch.detach().clone()

    def forward(self, x: Tensor) -> Tensor:
        self._check_shape(x)
        if self.live_reference_rows is not None:
            n = self.live_reference_rows
            reference, x = x[:n], x[n:]
            mean, var = _channel_moments(reference)
            return torch.cat([self._affine(reference, mean[None], var[None]), self._affine(x, *_union_moments(reference, x))])
        if self.reference.numel() == 0:
            self.set_reference(x)
        return self._affine(x, *_union_moments(self.reference, x))

    def _affine(self, x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
        """Normalise with per-example (or shared, leading dim 1) statistics of shape (N or 1, C)."""
        per_example = (*mean.shape, *(1,) * (x.dim() - mean.dim()))
        out = (x - mean.view(per_example)) * torch.rsqrt(var.view(per_example) + self.eps)
        if self.weight is None:
            return out
        per_channel = (1, self.num_features, *(1,) * (x.dim() - 2))
        return out * self.weight.view(per_channel) + self.bias.view(per_channel)

    def _check_shape(self, x: Tensor) -> None:
        require(
            x.dim() >= 2 and x.shape[1] == self.num_features,
            f"VirtualBatchNorm({self.num_features}) expects (N, {self.num_features}, ...) inputs, got {tuple(x.shape)}",
        )

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # The reference's shape is only known once set, so a fresh module takes the saved one.
        saved = state_dict.get(prefix + "reference")
        if saved is not None:
            self.reference = torch.empty_like(saved, device=self.reference.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, reference={tuple(self.reference.shape)}"


def _channel_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and (biased) variance over the batch and spatial positions, shape (C,)."""
    dims = [0, *range(2, x.dim())]
    return x.mean(dim=dims), x.var(dim=dims, correction=0)


def _union_moments(reference: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-example mean and variance of reference ∪ {x_i}, shape (N, C), by the parallel-variance rule
    (no E[x²] − E[x]² cancellation)."""
    ref_mean, ref_var = _channel_moments(reference)
    spatial = list(range(2, x.dim()))
    own_mean = x.mean(dim=spatial) if spatial else x
    own_var = x.var(dim=spatial, correction=0) if spatial else torch.zeros_like(x)
    new_weight = 1.0 / (reference.shape[0] + 1)
    mean = (1 - new_weight) * ref_mean + new_weight * own_mean
    var = (1 - new_weight) * (ref_var + (ref_mean - mean).square()) + new_weight * (own_var + (own_mean - mean).square())
    return mean, var


def forward_with_reference(net: nn.Module, reference: Tensor, x: Tensor) -> Tensor:
    """``net(x)`` with every :class:`VirtualBatchNorm` in ``net`` taking its reference statistics
    from ``reference`` propagated through the current weights (the paper's VBN). Every other
    layer of ``net`` must treat examples independently (no BatchNorm)."""
    layers = [module for module in net.modules() if isinstance(module, VirtualBatchNorm)]
    require(len(layers) > 0, f"forward_with_reference: {type(net).__name__} has no VirtualBatchNorm layer")
    for layer in layers:
        layer.live_reference_rows = reference.shape[0]
    try:
        out = net(torch.cat([reference, x]))
    finally:
        for layer in layers:
            layer.live_reference_rows = None
    return out[reference.shape[0]:]


class GaussianNoise(nn.Module):
    """Adds N(0, σ²) noise in training mode only (the regulariser of the semi-supervised D)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        require(sigma >= 0, f"GaussianNoise sigma must be >= 0, got {sigma}")
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.sigma == 0:
            return x
        return x + self.sigma * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


@torch.no_grad()
def weight_norm_data_init_(net: nn.Module, *inputs: Tensor, per_unit_scale: bool = True) -> None:
    """Data-dependent initialisation of every weight-normalised ``nn.Linear`` in ``net``
    (``torch.nn.utils.parametrizations.weight_norm``; Salimans & Kingma 2016, §2.2).

    One forward pass on ``inputs``; each such layer, in forward order, gets its scale g and bias b
    set so that its outputs on this batch have zero mean and unit variance, and passes the
    rescaled outputs on, so later layers are initialised on already-normalised inputs. With
    ``per_unit_scale=False`` each unit is still centred, but one scale, the root mean square over
    all units, divides them all, as the first Improved-GAN code's ``WeightNormLayer`` did.
    """

    def normalise(layer: nn.Module, args: Any, out: Tensor) -> Tensor:
        mean = out.mean(dim=0)
        spread = out.std(dim=0, correction=0) if per_unit_scale else (out - mean).square().mean().sqrt().expand_as(mean)
        std = spread.clamp_min(1e-6)
        scale = layer.parametrizations.weight.original0
        scale.div_(std.view_as(scale))
        layer.bias.sub_(mean).div_(std)
        return (out - mean) / std

    layers = [m for m in net.modules() if isinstance(m, nn.Linear) and parametrize.is_parametrized(m, "weight")]
    require(len(layers) > 0, f"weight_norm_data_init_: {type(net).__name__} has no weight-normalised Linear layer")
    handles = [layer.register_forward_hook(normalise) for layer in layers]
    try:
        net(*inputs)
    finally:
        for handle in handles:
            handle.remove()
