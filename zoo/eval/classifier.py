"""A small MNIST classifier: the domain network behind MNIST FID/IS and Stacked-MNIST mode counting.

Inception features are a poor fit for 28×28 digits, so MNIST runs are also scored with a classifier
trained on MNIST itself: its penultimate layer gives the features of a "classifier FID" and its logits
the class posteriors of a "classifier IS", as in the MNIST experiments of e.g. Che et al. (2017, Mode
Regularized GANs). Stacked MNIST (Metz et al., 2017; Srivastava et al., 2017) counts the 1000 modes by
classifying each of the three channels with it (:meth:`MNISTClassifier.predict_channels`).

The network is a LeNet-style CNN (two 5×5 conv + max-pool stages, a 128-unit hidden layer); trained
with Adam for a few epochs it exceeds 99 % test accuracy. It is a tool, not a reproduction.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.atomic import atomic_torch_save
from zoo.errors import ZooConfigError, ZooWeightsError, require
from zoo.eval.cache import cache_dir, file_hash, state_dict_hash

CLASSIFIER_FILE_NAME = "mnist_classifier.pt"
ARCHITECTURE = "mnist-lenet5x5-v1"
TARGET_ACCURACY = 0.99


def default_classifier_path() -> Path:
    """``<cache_dir()>/mnist_classifier.pt`` (``$ZOO_CACHE`` or ``~/.cache/gan-zoo``)."""
    return cache_dir() / CLASSIFIER_FILE_NAME


class MNISTClassifier(nn.Module):
    """LeNet-style MNIST classifier taking 1×28×28 (or zero-padded 1×32×32) digits.

    :meth:`features` (128-d, penultimate layer) and :meth:`logits` take images in ``value_range``;
    ``forward`` is :meth:`logits` for images in [0, 1]. ``num_features`` is the feature size, as
    torchmetrics expects from a custom feature extractor.
    """

    num_features = 128
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 24 -> 12
            nn.Conv2d(32, 64, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 8 -> 4
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, self.num_features), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.num_features, self.num_classes)
        self.metadata: dict = {}

    @staticmethod
    def prepare(images: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        """Map ``images`` (N×1×28×28 or N×1×32×32, in ``value_range``) to N×1×28×28 in [0, 1]."""
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dim() != 4 or images.shape[1] != 1 or images.shape[-2:] not in ((28, 28), (32, 32)):
            shape = tuple(images.shape)
            raise ZooConfigError(f"the MNIST classifier takes N×1×28×28 or N×1×32×32 images, got {shape}")
        if images.shape[-1] == 32:
            images = images[..., 2:30, 2:30]
        low, high = value_range
        return (images.float() - low) / (high - low)

    def features(self, images: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        """Penultimate-layer activations, N×128 (the classifier-FID features)."""
        return self.body(self.prepare(images, value_range))

    def logits(self, images: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        """Class logits, N×10 (the classifier-IS posteriors after a softmax)."""
        return self.head(self.dropout(self.features(images, value_range)))

    def forward(self, images: Tensor) -> Tensor:
        return self.logits(images)

    @torch.no_grad()
    def predict(self, images: Tensor, value_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 1000) -> Tensor:
        """The predicted digit of each image, N (int64), in eval mode and batches of ``batch_size``."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        labels = [self.logits(chunk.to(device), value_range).argmax(1).cpu() for chunk in images.split(batch_size)]
        self.train(was_training)
        return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)

    def predict_channels(self, images: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        """The digit in each channel of N×C×H×W images (Stacked MNIST: C = 3), N×C (int64)."""
        count, channels = images.shape[:2]
        per_channel = self.predict(images.reshape(count * channels, 1, *images.shape[2:]), value_range)
        return per_channel.reshape(count, channels)


@torch.no_grad()
def classifier_accuracy(classifier: MNISTClassifier, images: Tensor, labels: Tensor) -> float:
    """Share of ``images`` (in [0, 1]) whose predicted digit equals ``labels``."""
    return (classifier.predict(images) == labels).float().mean().item()


def train_mnist_classifier(
    data_root: str | os.PathLike | None = None,
    epochs: int = 3,
    seed: int = 0,
    out_path: str | os.PathLike | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    max_steps: int | None = None,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> dict:
    """Train :class:`MNISTClassifier` on the 60k MNIST training digits and save it with its test accuracy.

    Adam (lr ``lr``, a tenth of it in the last epoch), batch ``batch_size``, ``epochs`` passes (or
    ``max_steps`` steps when set), then the accuracy on the 10k test digits (or the first
    ``test_subset``). ``train_subset`` trains on the first n digits only (for quick tests).

    Saves ``{"state_dict", "metadata"}`` to ``out_path`` (default :func:`default_classifier_path`) and
    returns the metadata (test accuracy, sizes, steps, seconds, seed) with ``path`` and ``sha256``.
    """
    from zoo.data.mnist import load_mnist_tensors

    require(epochs > 0, f"epochs must be positive, got {epochs}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    train_images, train_labels = load_mnist_tensors(data_root, train=True)
    test_images, test_labels = load_mnist_tensors(data_root, train=False)
    train_images, train_labels = train_images[:train_subset], train_labels[:train_subset]
    test_images, test_labels = test_images[:test_subset], test_labels[:test_subset]

    classifier = MNISTClassifier()
    optimiser = torch.optim.Adam(classifier.parameters(), lr=lr)
    order_rng = torch.Generator().manual_seed(seed)
    steps = 0
    classifier.train()
    for epoch in range(epochs):
        if epochs > 1 and epoch == epochs - 1:  # a last epoch at a tenth of the rate settles the weights
            for group in optimiser.param_groups:
                group["lr"] = lr / 10
        for index in torch.randperm(len(train_images), generator=order_rng).split(batch_size):
            loss = F.cross_entropy(classifier(train_images[index]), train_labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        if max_steps is not None and steps >= max_steps:
            break
    classifier.eval()

    metadata = {
        "architecture": ARCHITECTURE,
        "test_accuracy": classifier_accuracy(classifier, test_images, test_labels),
        "test_size": len(test_images),
        "train_size": len(train_images),
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__),
    }
    if max_steps is None and train_subset is None and metadata["test_accuracy"] < TARGET_ACCURACY:
        warnings.warn(f"MNIST classifier reached {metadata['test_accuracy']:.4f} test accuracy, below "
                      f"{TARGET_ACCURACY}; train longer (epochs={epochs + 2})", stacklevel=2)
    path = Path(out_path).expanduser() if out_path is not None else default_classifier_path()
    atomic_torch_save({"state_dict": classifier.state_dict(), "metadata": metadata}, path)
    return {**metadata, "path": str(path), "sha256": file_hash(path), "weights_sha256": state_dict_hash(classifier.state_dict())}


def load_mnist_classifier(
    path: str | os.PathLike | None = None, map_location: str | torch.device = "cpu"
) -> MNISTClassifier:
    """The classifier saved by :func:`train_mnist_classifier`, in eval mode, with ``.metadata`` set.

    ``metadata`` includes ``test_accuracy``, ``path``, ``sha256`` (the file's :func:`file_hash`, which
    changes with the training time it records) and ``weights_sha256`` (the weights' own hash: equal
    for equal weights).
    """
    path = Path(path).expanduser() if path is not None else default_classifier_path()
    if not path.is_file():
        raise ZooWeightsError(
            f"MNIST classifier not found at {path}: train it with `zoo train-classifier mnist` "
            f"(it is saved to {default_classifier_path()}; set $ZOO_CACHE to move that folder)"
        )
    saved = torch.load(path, map_location=map_location, weights_only=True)
    if saved.get("metadata", {}).get("architecture") != ARCHITECTURE:
        raise ZooWeightsError(f"{path} is not a {ARCHITECTURE} classifier: retrain with `zoo train-classifier mnist`")
    classifier = MNISTClassifier()
    classifier.load_state_dict(saved["state_dict"])
    classifier.metadata = {**saved["metadata"], "path": str(path), "sha256": file_hash(path),
                           "weights_sha256": state_dict_hash(saved["state_dict"])}
    return classifier.eval()
