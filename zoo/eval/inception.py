"""Feature extractors for FID/IS/KID: Inception-v3 weights and custom modules.

FID (Heusel et al., 2017) and IS (Salimans et al., 2016) are only comparable to published numbers when
computed with the TensorFlow Inception graph of 2015-12-05; torch-fidelity ships a PyTorch port of it as
``weights-inception-2015-12-05-6726825d.pth``. Nothing here downloads: the file is found from an explicit
path, ``$ZOO_INCEPTION_WEIGHTS``, the zoo cache folder, or torch's hub checkpoint folder (where
torch-fidelity keeps it after its own download), in that order.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Union

import torch
from torch import Tensor, nn

from zoo.errors import ZooConfigError, ZooWeightsError, require
from zoo.eval.cache import HASH_HEX_DIGITS, cache_dir, file_hash

INCEPTION_WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS_NAME}"
INCEPTION_WEIGHTS_ENV = "ZOO_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_CONFIG_KEY = "zoo eval --weights"
# torch.hub names files <stem>-<first 8 hex digits of sha256>.<ext>; the official file's prefix:
_OFFICIAL_SHA256_PREFIX = "6726825d"
POOL_LAYER, LOGITS_LAYER = "2048", "logits_unbiased"
INCEPTION_FEATURE_LAYERS = ("64", "192", "768", "2048")  # the standard FID/KID layer is the 2048-d pool
FeatureExtractor = Union[nn.Module, str]


def module_hash(module: nn.Module) -> str:
    """A short hash of a module's class name and state (parameters and buffers), to key cached statistics."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:HASH_HEX_DIGITS]


def _missing_message(reason: str) -> str:
    return (
        f"{reason}: download {INCEPTION_WEIGHTS_NAME} from {INCEPTION_WEIGHTS_URL} and set "
        f"${INCEPTION_WEIGHTS_ENV} (or {INCEPTION_WEIGHTS_CONFIG_KEY}) to its path, or put it in {cache_dir()}/"
    )


def resolve_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The Inception weights file to use, or :class:`ZooWeightsError` (one line) saying how to get it.

    Looks at ``path``, then ``$ZOO_INCEPTION_WEIGHTS``, then ``<cache_dir()>/<official name>``, then
    ``$TORCH_HOME/hub/checkpoints/<official name>``. An explicit path or environment variable that points
    nowhere is an error (it is not silently replaced by a fallback).
    """
    from_env = os.environ.get(INCEPTION_WEIGHTS_ENV)
    for source, candidate in ((INCEPTION_WEIGHTS_CONFIG_KEY, path), (f"${INCEPTION_WEIGHTS_ENV}", from_env)):
        if candidate:
            candidate = Path(candidate).expanduser()
            if not candidate.is_file():
                raise ZooWeightsError(_missing_message(f"Inception weights {candidate} (from {source}) do not exist"))
            return candidate
    for folder in (cache_dir(), Path(torch.hub.get_dir()) / "checkpoints"):
        candidate = folder / INCEPTION_WEIGHTS_NAME
        if candidate.is_file():
            return candidate
    raise ZooWeightsError(_missing_message("Inception weights not found (no download without internet)"))


def inception_weights_hash(path: Path) -> str:
    """:func:`file_hash` of the weights, warning when they are not the TF-comparable 2015-12-05 file."""
    digest = file_hash(path)
    if not digest.startswith(_OFFICIAL_SHA256_PREFIX):
        warnings.warn(
            f"Inception weights {path} (sha256 {digest}) are not {INCEPTION_WEIGHTS_NAME}; "
            "FID/IS/KID will not be comparable to published numbers",
            stacklevel=3,
        )
    return digest


def build_torchmetrics_inception(weights: Path, layer: str) -> nn.Module:
    """torchmetrics' Inception (the torch-fidelity port) returning ``layer``, resized like TF 1.x.

    ``antialias=False`` selects torch-fidelity's bilinear resize that matches TensorFlow 1.x, as the
    reference FID/IS implementations did. ``layer`` is one of :data:`INCEPTION_FEATURE_LAYERS` or
    ``"logits_unbiased"`` (the 1008 logits without the bias, as torch-fidelity's IS).
    """
    from torchmetrics.image.fid import NoTrainInceptionV3

    network = NoTrainInceptionV3(
        name="inception-v3-compat",
        features_list=[layer],
        feature_extractor_weights_path=str(weights),
        antialias=False,
    )
    network.num_features = 1008 if layer.startswith("logits") else int(layer)
    return network


class LayerOf(nn.Module):
    """``module.<method>`` (``features`` or ``logits``) as the forward of a module, else ``module`` itself."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method
        self.num_features = getattr(module, "num_features", None) if method == "features" else None

    def forward(self, images: Tensor) -> Tensor:
        call = getattr(self.module, self.method, None)
        return call(images) if callable(call) else self.module(images)


class Extractor:
    """A resolved feature extractor: the network, its identity for cache keys, and the weights' hash."""

    def __init__(self, spec: FeatureExtractor, weights_path: str | None, method: str, layer: str = POOL_LAYER) -> None:
        """``method`` is ``"features"`` (FID/KID; Inception ``layer``) or ``"logits"`` (IS)."""
        self.is_inception = spec == "inception"
        self.layer = str(layer) if method == "features" else LOGITS_LAYER
        require(self.layer in INCEPTION_FEATURE_LAYERS + (LOGITS_LAYER,),
                f"inception_layer must be one of {INCEPTION_FEATURE_LAYERS}, got {layer!r}")
        self.weights_sha256: str | None = None
        if self.is_inception:
            self.weights = resolve_inception_weights(weights_path)
            self.weights_sha256 = inception_weights_hash(self.weights)
            self.identity = f"inception-v3-compat-{self.layer}-{self.weights_sha256}"
            self.module: nn.Module | None = None
        elif spec == "mnist-classifier":
            from zoo.eval.classifier import load_mnist_classifier

            classifier = load_mnist_classifier(weights_path)
            self.weights_sha256 = classifier.metadata["weights_sha256"]
            self.identity = f"mnist-classifier-{method}-{self.weights_sha256}"
            self.module = LayerOf(classifier, method)
        elif isinstance(spec, nn.Module):
            default_identity = f"{type(spec).__name__}-{method}-{module_hash(spec)}"
            self.identity = getattr(spec, "extractor_id", None) or default_identity
            self.module = LayerOf(spec, method)
        else:
            raise ZooConfigError(f"feature_extractor must be 'inception', 'mnist-classifier' or a module, got {spec!r}")

    def torchmetrics_module(self) -> nn.Module:
        return build_torchmetrics_inception(self.weights, self.layer) if self.is_inception else self.module.eval()

    def prepare(self, images: Tensor, value_range: tuple[float, float]) -> Tensor:
        """Inception: uint8 RGB in 0..255 (rounded, grey repeated); custom: float mapped to [0, 1]."""
        low, high = value_range
        unit = (images.float() - low) / (high - low)
        if not self.is_inception:
            return unit
        shape = tuple(images.shape)
        require(images.dim() == 4 and images.shape[1] in (1, 3), f"Inception takes N×1×H×W or N×3×H×W: {shape}")
        return unit.expand(-1, 3, -1, -1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)

    def describe(self) -> dict:
        return {"feature_extractor": self.identity, "weights_sha256": self.weights_sha256}
