"""The evaluation harness: one entry point for every metric, on one process or many.

Every number the zoo reports goes through :func:`evaluate`. Work is cut into fixed chunks by index
(generation in chunks of ``batch_size`` latent codes drawn from one seeded stream; Parzen points in
chunks of ``POINT_CHUNK``); under DDP rank r takes chunks r, r + W, … and the results are gathered
in order. A chunk is computed the same way whichever rank takes it, so W processes give the
numbers of one process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooConfigError, require

METRICS = ("parzen", "fid", "is", "kid", "modes", "dfeat-svm")
HIGHER_IS_BETTER = {"parzen": True, "fid": False, "is": True, "kid": False, "modes": True, "dfeat-svm": True}
POINT_CHUNK = 500


class Distributed:
    """The two collectives the harness needs, from a Lightning strategy (or none: one process)."""

    def __init__(self, strategy: Any = None) -> None:
        self.strategy = strategy
        self.world_size = getattr(strategy, "world_size", 1) if strategy is not None else 1
        self.rank = getattr(strategy, "global_rank", 0) if strategy is not None else 0

    def all_gather(self, tensor: Tensor) -> Tensor:
        return self.strategy.all_gather(tensor) if self.world_size > 1 else tensor.unsqueeze(0)

    def broadcast(self, value: Any) -> Any:
        return self.strategy.broadcast(value, src=0) if self.world_size > 1 else value


def chunked_map(fn: Callable[[int, int], Tensor], n_items: int, chunk: int, dist: Distributed) -> Tensor:
    """``cat(fn(a, b) for fixed chunks [a, b) of range(n_items))``, the chunks spread over ranks."""
    bounds = [(start, min(start + chunk, n_items)) for start in range(0, n_items, chunk)]
    if dist.world_size == 1:
        return torch.cat([fn(a, b) for a, b in bounds])
    mine = bounds[dist.rank :: dist.world_size] or [bounds[0]]  # a rank with nothing to do still gathers
    outputs = [fn(a, b) for a, b in mine]
    per_rank = math.ceil(len(bounds) / dist.world_size)
    padded = torch.zeros(per_rank, chunk, *outputs[0].shape[1:], dtype=outputs[0].dtype, device=outputs[0].device)
    for slot, out in enumerate(outputs[:per_rank]):
        padded[slot, : len(out)] = out
    gathered = dist.all_gather(padded)
    return torch.cat([gathered[i % dist.world_size, i // dist.world_size, : b - a] for i, (a, b) in enumerate(bounds)])


def generate_samples(model: Any, n: int, seed: int = 0, batch_size: int = 500, dist: Distributed | None = None) -> Tensor:
    """``n`` samples of ``model`` (its EMA generator when it has one); sample i always uses the
    i-th latent code of the stream seeded by ``seed``, so results do not depend on the ranks."""
    dist = dist or Distributed()
    latents = model.prior.sample(n, generator=torch.Generator().manual_seed(seed))
    return chunked_map(lambda a, b: model.generate(latents[a:b]).float(), n, batch_size, dist).cpu()


def to_unit_range(images: Tensor, value_range: Sequence[float]) -> Tensor:
    """Map images from ``value_range`` to [0, 1]."""
    low, high = map(float, value_range)
    return ((images - low) / (high - low)).clamp_(0, 1)


def parzen_metric(samples: Tensor, validation: Tensor, test: Tensor, sigmas: Sequence[float], dist: Distributed, protocol: str | None) -> dict:
    """Goodfellow et al.'s (2014) Parzen protocol with points spread over ranks (see module docs)."""
    from zoo.eval.parzen import ParzenResult, log_likelihood_grid, mean_and_stderr

    samples = samples.flatten(1)
    grid = chunked_map(lambda a, b: log_likelihood_grid(samples, validation[a:b], sigmas).T, len(validation), POINT_CHUNK, dist)
    curve = list(zip(map(float, sigmas), grid.mean(0).tolist()))
    sigma = max(curve, key=lambda pair: pair[1])[0]
    values = chunked_map(lambda a, b: log_likelihood_grid(samples, test[a:b], [sigma])[0], len(test), POINT_CHUNK, dist)
    mean, stderr = mean_and_stderr(values)
    result = ParzenResult(mean, stderr, sigma, len(samples), len(values), protocol, tuple(curve))
    return {"metric": "parzen", "value": mean, **result.to_dict()}


def _parzen_sets(datamodule: Any, protocol: str | None, data_root: Any) -> tuple[Tensor, Tensor, Any]:
    """Validation and test images in [0, 1], flattened, for the protocol (MNIST) or the data's own splits."""
    from zoo.data.mnist import MNISTDataModule
    from zoo.eval.protocols import DEFAULT_SIGMAS, get_protocol

    if protocol is not None:
        require(isinstance(datamodule, MNISTDataModule) or datamodule is None,
                f"Parzen protocol {protocol!r} scores MNIST; for {type(datamodule).__name__} use --protocol none")
        chosen = get_protocol(protocol)
        return chosen.validation_images(data_root).flatten(1), chosen.test_images(data_root).flatten(1), chosen
    validation = to_unit_range(datamodule.split_tensors("val"), datamodule.value_range).flatten(1)
    test = to_unit_range(datamodule.split_tensors("test"), datamodule.value_range).flatten(1)
    return validation, test, DEFAULT_SIGMAS


def _has_mnist_shape(datamodule: Any) -> bool:
    """Grey-scale 28×28 or 32×32 (padded) images: MNIST's shapes."""
    shape = tuple(datamodule.sample_shape)
    return len(shape) == 3 and shape[0] == 1 and shape[-2:] in ((28, 28), (32, 32))


def _mnist_like(samples: Tensor, value_range: Sequence[float]) -> Tensor:
    """Generated MNIST in [0, 1] at 28×28 (DCGAN's 32×32 padding cropped away)."""
    images = to_unit_range(samples, value_range)
    return images[..., 2:30, 2:30] if images.shape[-1] == 32 else images


def evaluate(
    model: Any,
    datamodule: Any,
    metrics: Sequence[str] = ("parzen",),
    num_samples: int | None = None,
    seed: int = 0,
    protocol: str | None = "gan2014",
    feature_extractor: Any = "auto",
    weights_path: str | None = None,
    batch_size: int = 500,
    strategy: Any = None,
    data_root: Any = None,
    max_test_points: int | None = None,
) -> dict[str, dict]:
    """Compute ``metrics`` for ``model`` on ``datamodule``'s data; returns ``{metric: record}``.

    ``num_samples`` defaults to each metric's own default (the Parzen protocol's count, 50k for
    FID/IS/KID, 10k for modes). ``feature_extractor="auto"`` uses the zoo's MNIST classifier for
    MNIST-like data (no Inception weights needed) and Inception otherwise. ``max_test_points`` scores
    only the first test points (for quick checks).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ZooConfigError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    dist = Distributed(strategy)
    value_range = getattr(datamodule, "value_range", (0.0, 1.0))
    results: dict[str, dict] = {}
    for metric in metrics:
        if metric == "parzen":
            chosen = protocol if _has_mnist_shape(datamodule) else None
            validation, test, spec = _parzen_sets(datamodule, chosen, data_root)
            test = test[:max_test_points]
            n = num_samples or (spec.n_samples if chosen else 10_000)
            samples = generate_samples(model, n, seed, batch_size, dist)
            samples = _mnist_like(samples, value_range) if chosen else to_unit_range(samples, value_range)
            sigmas = spec.sigmas if chosen else spec
            record = parzen_metric(samples, validation, test, sigmas, dist, chosen)
            if chosen:
                record["protocol_spec"] = spec.to_dict()
            results[metric] = record
        elif metric == "modes":
            require(hasattr(datamodule, "centres") or _has_mnist_shape(datamodule) or _is_stacked_mnist(datamodule),
                    f"mode counting needs a 2-D mixture, MNIST digits or Stacked MNIST; {type(datamodule).__name__} is none of them")
            samples = generate_samples(model, num_samples or 10_000, seed, batch_size, dist)
            record = _count_modes(samples, datamodule, weights_path)
            results[metric] = {"metric": "modes", "value": record["modes_covered"], **record}
        elif metric == "dfeat-svm":
            results[metric] = dist.broadcast(_dfeat_svm(model, datamodule) if dist.rank == 0 else None)
        else:
            samples = generate_samples(model, num_samples or 50_000, seed, batch_size, dist)
            record = _fidelity_metric(metric, samples, datamodule, feature_extractor, weights_path, batch_size) if dist.rank == 0 else None
            results[metric] = dist.broadcast(record)
    return results


def _is_stacked_mnist(datamodule: Any) -> bool:
    from zoo.data.stacked_mnist import StackedMNISTDataModule

    return isinstance(datamodule, StackedMNISTDataModule)


def _count_modes(samples: Tensor, datamodule: Any, classifier_path: str | None) -> dict:
    """A 2-D mixture's modes by distance to its centres; MNIST's 10 digits, or Stacked MNIST's 1000
    digit triples, by the zoo's classifier."""
    if hasattr(datamodule, "centres"):
        from zoo.eval.modes import count_modes

        return count_modes(samples, datamodule.centres, datamodule.std)
    from zoo.eval.classifier import load_mnist_classifier
    from zoo.eval.stacked_modes import count_digit_modes, count_stacked_modes

    classifier = load_mnist_classifier(classifier_path, map_location=samples.device)
    if _is_stacked_mnist(datamodule):
        counted = count_stacked_modes(samples, classifier, tuple(datamodule.value_range))
    else:
        counted = count_digit_modes(_mnist_like(samples, datamodule.value_range), classifier, (0.0, 1.0))
    return {**counted, "classifier": {k: classifier.metadata[k] for k in ("architecture", "weights_sha256", "test_accuracy")
                                      if k in classifier.metadata}}


def _dfeat_svm(model: Any, datamodule: Any) -> dict:
    """DCGAN §5.1: a linear L2-SVM on D's pooled features, trained on the train split, scored on test."""
    from zoo.eval.dfeat import dfeat_svm

    require(hasattr(model.discriminator, "features"), f"dfeat-svm needs a discriminator with features(x); {type(model.discriminator).__name__} has none")
    record = dfeat_svm(model.discriminator, *datamodule.labelled_split("train"), *datamodule.labelled_split("test"))
    return {"metric": "dfeat-svm", "value": record["accuracy"], **record}


def _fidelity_metric(metric: str, samples: Tensor, datamodule: Any, feature_extractor: Any, weights_path: str | None, batch_size: int) -> dict:
    """FID, IS or KID through :mod:`zoo.eval.fidelity`, against the data's whole training split.

    The split is read only when no statistics are cached under its :func:`~zoo.eval.cache.datamodule_cache_key`.
    """
    from zoo.eval import fidelity
    from zoo.eval.cache import datamodule_cache_key

    value_range = tuple(datamodule.value_range)
    if feature_extractor == "auto":
        feature_extractor = "mnist-classifier" if _has_mnist_shape(datamodule) else "inception"
    if feature_extractor == "mnist-classifier":
        samples, value_range = _mnist_like(samples, value_range), (0.0, 1.0)
    options = dict(feature_extractor=feature_extractor, weights_path=weights_path, value_range=value_range, batch_size=batch_size)
    if metric == "is":
        return fidelity.compute_inception_score(samples, n_fake=len(samples), **options)

    def load_real() -> Tensor:  # called only when the cached statistics are missing
        real = datamodule.split_tensors("train")
        return _mnist_like(real, datamodule.value_range) if feature_extractor == "mnist-classifier" else real

    key = datamodule_cache_key(datamodule, "train")
    compute = fidelity.compute_fid if metric == "fid" else fidelity.compute_kid
    return compute(samples, load_real, cache_key=key, n_fake=len(samples), n_real=None, **options)
