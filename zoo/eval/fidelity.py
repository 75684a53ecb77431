"""FID, IS, KID (and precision/recall) through torchmetrics or torch-fidelity, with cached real statistics.

The metric maths is the backends'; this module feeds them images and records what was measured:

- FID, Fréchet Inception Distance (Heusel et al., 2017): ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_rΣ_g)^½)
  between Gaussians fitted to pool features of real and generated images.
- IS, Inception Score (Salimans et al., 2016, Sec. 4): exp(E_x KL(p(y|x) ‖ p(y))), averaged over splits.
- KID, Kernel Inception Distance (Bińkowski et al., 2018): unbiased MMD² with the cubic
  polynomial kernel, averaged over random subsets.
- Precision/recall (Kynkäänniemi et al., 2019), through torch-fidelity only.

Images come in as float tensors in ``value_range`` (N×C×H×W, C = 1 or 3). For Inception they become
uint8 RGB (grey repeated), resized to 299×299 with the TF-1.x-compatible bilinear filter, using the
2015-12-05 weights (:mod:`zoo.eval.inception`). A custom feature extractor (an ``nn.Module``, or
``"mnist-classifier"``) receives the images mapped to [0, 1], channels unchanged; its ``features`` method
(else ``forward``) gives FID/KID features and its ``logits`` method (else ``forward``) the IS logits.

Sources: ``fake`` is a tensor, an iterable of batches (``x`` or ``(x, y)``) or a sampler
``fake(batch_size) -> Tensor`` drawn until ``n_fake`` images. ``real`` is a tensor, an iterable, or a
zero-argument loader returning one, called only when the cached statistics are missing.

Real statistics are cached as ``<cache_dir()>/fidelity/<cache_key>-<extractor id>-n<n_real>-<kind>.pt``
when ``cache_key`` is given. The key must name the data exactly (the harness uses
:func:`zoo.eval.cache.datamodule_cache_key`: class, split, shape, value range, root and every hparam): two
data sets sharing a key share statistics, and give a wrong FID. The file stores ``mean``/``cov`` (FID) or the raw
``features`` (KID) and the number of real images. The torch-fidelity backend uses torch-fidelity's own
cache (same key, under ``<cache_dir()>/torch-fidelity``) plus a small record of n_real.
"""

from __future__ import annotations

import warnings

import torch

from zoo.atomic import atomic_torch_save
from zoo.errors import require
from zoo.eval.image_sources import ImageSource, iterate_batches, pick_device, resolve_real, statistics_path
from zoo.eval.inception import Extractor, FeatureExtractor
from zoo.eval.torch_fidelity_backend import torch_fidelity_metrics

__all__ = ["BACKENDS", "ImageSource", "compute_fid", "compute_inception_score", "compute_kid",
           "compute_precision_recall", "iterate_batches", "mnist_fid", "mnist_inception_score"]
BACKENDS = ("torchmetrics", "torch-fidelity")
DEFAULT_FID_SAMPLES = 50_000
DEFAULT_IS_SAMPLES = 50_000
DEFAULT_IS_SPLITS = 10
DEFAULT_KID_SUBSETS = 100
DEFAULT_KID_SUBSET_SIZE = 1000


def _feed(metric, source, limit, batch_size, extractor, value_range, device, **update_kwargs) -> int:
    count = 0
    with torch.no_grad():
        for images in iterate_batches(source, limit, batch_size):
            metric.update(extractor.prepare(images, value_range).to(device), **update_kwargs)
            count += len(images)
    return count


def _record(metric: str, value, std, n_real, n_fake, extractor: Extractor, backend: str, **settings) -> dict:
    """The result every metric returns: value, sample counts and what measured them."""
    return {"metric": metric, "value": float(value), "std": None if std is None else float(std), "n_real": n_real,
            "n_fake": n_fake, **extractor.describe(), "backend": backend, **settings}


# ----------------------------------------------------------------------------------------- torchmetrics
def _torchmetrics_pair(kind, fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device, **kw):
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        if kind == "fid":
            metric = FrechetInceptionDistance(feature=extractor.torchmetrics_module(), reset_real_features=False, sync_on_compute=False)
        else:
            metric = KernelInceptionDistance(feature=extractor.torchmetrics_module(), reset_real_features=False, sync_on_compute=False, **kw)
    metric = metric.to(device)
    path = statistics_path(cache_key, extractor, n_real, kind) if cache_key else None
    if path is not None and path.exists():
        cached = torch.load(path, map_location=device, weights_only=True)
        count = int(cached["n"])
        if kind == "fid":
            mean, cov = cached["mean"], cached["cov"]
            metric.real_features_sum.copy_(mean * count)
            metric.real_features_cov_sum.copy_(cov * (count - 1) + count * torch.outer(mean, mean))
            metric.real_features_num_samples.fill_(count)
        else:
            metric.real_features.append(cached["features"])
        real_count = count
    else:
        real_count = _feed(metric, resolve_real(real), n_real, batch_size, extractor, value_range, device, real=True)
        if path is not None:
            if kind == "fid":
                count = metric.real_features_num_samples.item()
                mean = metric.real_features_sum / count
                cov = (metric.real_features_cov_sum - count * torch.outer(mean, mean)) / (count - 1)
                atomic_torch_save({"mean": mean.cpu(), "cov": cov.cpu(), "n": count}, path)
            else:
                atomic_torch_save({"features": torch.cat(metric.real_features).cpu(), "n": real_count}, path)
    fake_count = _feed(metric, fake, n_fake, batch_size, extractor, value_range, device, real=False)
    if kind == "kid":
        metric.subset_size = min(metric.subset_size, real_count, fake_count)
    result = metric.compute()
    return result, real_count, fake_count


# ---------------------------------------------------------------------------------------------- public
def _check_backend(backend: str) -> None:
    require(backend in BACKENDS, f"backend must be one of {BACKENDS}, got {backend!r}")


def compute_fid(
    fake: ImageSource,
    real: ImageSource | None = None,
    feature_extractor: FeatureExtractor = "inception",
    weights_path: str | None = None,
    cache_key: str | None = None,
    backend: str = "torchmetrics",
    value_range: tuple[float, float] = (0.0, 1.0),
    n_fake: int | None = DEFAULT_FID_SAMPLES,
    n_real: int | None = DEFAULT_FID_SAMPLES,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    inception_layer: str = "2048",
) -> dict:
    """FID (Heusel et al., 2017) of ``n_fake`` generated images against ``n_real`` real ones.

    ``weights_path`` is the Inception weights file (or, for ``"mnist-classifier"``, the classifier file);
    ``cache_key`` (``"<dataset>-<split>"``) caches the real statistics; ``inception_layer`` picks the
    Inception features (the standard 2048-d pool, or the 64/192/768-d earlier ones).

    Returns ``{"metric": "fid", "value", "std": None, "n_real", "n_fake", "feature_extractor",
    "weights_sha256", "backend"}``; ``weights_sha256`` is None for a custom module, whose identity
    (class name and a hash of its state) is in ``feature_extractor``.
    """
    _check_backend(backend)
    extractor = Extractor(feature_extractor, weights_path, "features", inception_layer)
    if backend == "torchmetrics":
        require(extractor.is_inception or getattr(extractor.module, "num_features", None),
                "a custom FID feature extractor needs a num_features attribute (its feature size)")
        value, real_count, fake_count = _torchmetrics_pair(
            "fid", fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, pick_device(device))
    else:
        result, real_count, fake_count = torch_fidelity_metrics(
            {"fid": True}, fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device, seed=0)
        value = result["frechet_inception_distance"]
    return _record("fid", value, None, real_count, fake_count, extractor, backend)


def compute_kid(
    fake: ImageSource,
    real: ImageSource | None = None,
    feature_extractor: FeatureExtractor = "inception",
    weights_path: str | None = None,
    cache_key: str | None = None,
    backend: str = "torchmetrics",
    value_range: tuple[float, float] = (0.0, 1.0),
    n_fake: int | None = DEFAULT_FID_SAMPLES,
    n_real: int | None = DEFAULT_FID_SAMPLES,
    subsets: int = DEFAULT_KID_SUBSETS,
    subset_size: int = DEFAULT_KID_SUBSET_SIZE,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    seed: int = 0,
    inception_layer: str = "2048",
) -> dict:
    """KID (Bińkowski et al., 2018): mean and std of the unbiased polynomial-kernel MMD² over ``subsets``.

    ``subset_size`` is capped at the number of images on either side (recorded in the result).
    Arguments and result as :func:`compute_fid`, plus ``std``, ``subsets`` and ``subset_size``.
    """
    _check_backend(backend)
    extractor = Extractor(feature_extractor, weights_path, "features", inception_layer)
    if backend == "torchmetrics":
        device = pick_device(device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            (mean, std), real_count, fake_count = _torchmetrics_pair(
                "kid", fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device,
                subsets=subsets, subset_size=subset_size)
    else:
        result, real_count, fake_count = torch_fidelity_metrics(
            {"kid": True}, fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device, seed=seed,
            kid_subsets=subsets, kid_subset_size=subset_size)
        mean, std = result["kernel_inception_distance_mean"], result["kernel_inception_distance_std"]
    used = min(subset_size, real_count, fake_count)
    return _record("kid", mean, std, real_count, fake_count, extractor, backend, subsets=subsets, subset_size=used)


def compute_inception_score(
    fake: ImageSource,
    feature_extractor: FeatureExtractor = "inception",
    weights_path: str | None = None,
    backend: str = "torchmetrics",
    value_range: tuple[float, float] = (0.0, 1.0),
    n_fake: int | None = DEFAULT_IS_SAMPLES,
    splits: int = DEFAULT_IS_SPLITS,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    seed: int = 0,
    shuffle: bool = True,
) -> dict:
    """IS (Salimans et al., 2016, Sec. 4): mean and std over ``splits`` of exp(E KL(p(y|x) ‖ p(y))).

    Inception's 1008 unbiased logits by default (as torch-fidelity and the TF reference); a custom
    extractor's ``logits``. Both backends permute the samples (seeded) before splitting; torchmetrics
    gives the unbiased std over splits, torch-fidelity numpy's (ddof 0). ``shuffle=False`` keeps the
    given order, consecutive splits as the TF reference code (torch-fidelity only). Returns
    :func:`compute_fid`'s record with ``std``, ``splits`` and ``shuffled``, n_real None.
    """
    _check_backend(backend)
    require(shuffle or backend == "torch-fidelity",
            "consecutive IS splits (shuffle=False) need backend='torch-fidelity': torchmetrics always permutes the samples")
    extractor = Extractor(feature_extractor, weights_path, "logits")
    if backend == "torchmetrics":
        from torchmetrics.image.inception import InceptionScore

        device = pick_device(device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            metric = InceptionScore(feature=extractor.torchmetrics_module(), splits=splits, sync_on_compute=False).to(device)
        fake_count = _feed(metric, fake, n_fake, batch_size, extractor, value_range, device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            mean, std = metric.compute()
    else:
        result, _, fake_count = torch_fidelity_metrics(
            {"isc": True}, fake, None, extractor, n_fake, None, None, value_range, batch_size, device, seed=seed,
            isc_splits=splits, samples_shuffle=shuffle)
        mean, std = result["inception_score_mean"], result["inception_score_std"]
    return _record("is", mean, std, None, fake_count, extractor, backend, splits=splits, shuffled=shuffle)


def compute_precision_recall(
    fake: ImageSource,
    real: ImageSource | None = None,
    feature_extractor: FeatureExtractor = "inception",
    weights_path: str | None = None,
    cache_key: str | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    n_fake: int | None = 10_000,
    n_real: int | None = 10_000,
    neighborhood: int = 3,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> dict:
    """Improved precision and recall (Kynkäänniemi et al., 2019) through torch-fidelity's ``prc``.

    Uses the chosen extractor's pool features (the paper used VGG-16; Inception features are the common
    cheap substitute, so compare only like with like). Returns ``{"metric": "precision_recall", "value":
    F-score, "precision", "recall", ...}`` with the usual counts and extractor identity.
    """
    extractor = Extractor(feature_extractor, weights_path, "features")
    result, real_count, fake_count = torch_fidelity_metrics(
        {"prc": True}, fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device, seed=0,
        prc_neighborhood=neighborhood)
    return _record("precision_recall", result["f_score"], None, real_count, fake_count, extractor, "torch-fidelity",
                   precision=float(result["precision"]), recall=float(result["recall"]), neighborhood=neighborhood)


def mnist_fid(fake: ImageSource, real: ImageSource | None = None, classifier_path: str | None = None, **kwargs) -> dict:
    """FID on the MNIST classifier's 128-d features (:mod:`zoo.eval.classifier`); no Inception needed."""
    return compute_fid(fake, real, feature_extractor="mnist-classifier", weights_path=classifier_path, **kwargs)


def mnist_inception_score(fake: ImageSource, classifier_path: str | None = None, **kwargs) -> dict:
    """IS on the MNIST classifier's 10 class posteriors (at most 10; 1 for a single digit)."""
    return compute_inception_score(fake, feature_extractor="mnist-classifier", weights_path=classifier_path, **kwargs)
