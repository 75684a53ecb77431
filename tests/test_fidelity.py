"""FID/IS/KID: the maths through custom extractors with known features, the plumbing through a random Inception."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from zoo.errors import ZooWeightsError
from zoo.eval.cache import cache_dir
from zoo.eval.fidelity import compute_fid, compute_inception_score, compute_kid, compute_precision_recall
from zoo.eval.inception import INCEPTION_WEIGHTS_ENV, INCEPTION_WEIGHTS_NAME, Extractor, file_hash, resolve_inception_weights

BACKENDS = ["torchmetrics", "torch-fidelity"]


class FlattenFeatures(nn.Module):
    """Features = the input itself, so the "images" are the feature vectors (N×d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim
        self.calls = 0
        self.seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.seen += len(images)
        return images.flatten(1)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)


def gaussian_pair(n: int = 600, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    mixing = torch.eye(dim, dtype=torch.float64) + 0.4 * torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    second = torch.randn(n, dim, generator=generator, dtype=torch.float64) @ mixing + 0.7
    return first.float(), second.float()


def closed_form_fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to x and y (unbiased covariances)."""
    x, y = x.double().numpy(), y.double().numpy()
    mean_x, mean_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    cross = scipy.linalg.sqrtm(cov_x @ cov_y).real
    return float(((mean_x - mean_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * cross))


def unbiased_poly_mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    """MMD² with k(a, b) = (a·b / d + 1)³, diagonal terms of k(x, x) and k(y, y) left out."""
    x, y = x.double().numpy(), y.double().numpy()
    kernel = lambda a, b: (a @ b.T / a.shape[1] + 1.0) ** 3  # noqa: E731
    n = len(x)
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    off = lambda k: (k.sum() - np.trace(k)) / (n * (n - 1))  # noqa: E731
    return float(off(k_xx) + off(k_yy) - 2 * k_xy.mean())


@pytest.mark.parametrize("backend", BACKENDS)
def test_fid_matches_closed_form_and_is_zero_on_identical_sets(backend):
    real, fake = gaussian_pair()
    expected = closed_form_fid(fake, real)
    assert expected > 1.0
    result = compute_fid(fake, real, FlattenFeatures(4), backend=backend)
    assert result["value"] == pytest.approx(expected, rel=1e-4)
    assert (result["metric"], result["n_real"], result["n_fake"], result["backend"]) == ("fid", 600, 600, backend)
    assert result["feature_extractor"].startswith("FlattenFeatures") and result["weights_sha256"] is None
    assert abs(compute_fid(real, real, FlattenFeatures(4), backend=backend)["value"]) < 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_fid_takes_value_range_batches_samplers_and_sample_limits(backend):
    real, fake = gaussian_pair()
    expected = closed_form_fid(fake[:400], real[:500])
    batches = [(chunk * 2 - 1, torch.zeros(len(chunk))) for chunk in fake.split(64)]  # a loader in [-1, 1]
    result = compute_fid(batches, lambda: real * 2 - 1, FlattenFeatures(4), backend=backend, value_range=(-1, 1),
                         n_fake=400, n_real=500)
    assert (result["n_fake"], result["n_real"]) == (400, 500)
    assert result["value"] == pytest.approx(expected, rel=1e-4)
    drawn = compute_fid(lambda n: torch.randn(n, 4), real, FlattenFeatures(4), backend=backend, n_fake=130)
    assert drawn["n_fake"] == 130


@pytest.mark.parametrize("backend", BACKENDS)
def test_kid_matches_unbiased_mmd_and_is_near_zero_on_identical_sets(backend):
    real, fake = gaussian_pair(n=300)
    # one subset holding every sample: the estimate no longer depends on the random subset draw
    result = compute_kid(fake, real, FlattenFeatures(4), backend=backend, subsets=1, subset_size=300)
    assert result["value"] == pytest.approx(unbiased_poly_mmd(real, fake), rel=1e-4)
    assert result["value"] > 1.0 and result["subset_size"] == 300
    same = compute_kid(real, real.clone(), FlattenFeatures(4), backend=backend, subsets=20, subset_size=100)
    assert abs(same["value"]) < 0.02 * result["value"]
    capped = compute_kid(fake[:50], real, FlattenFeatures(4), backend=backend, subsets=2)
    assert capped["subset_size"] == 50


@pytest.mark.parametrize("backend", BACKENDS)
def test_inception_score_limits(backend):
    classes = 10
    confident = 50.0 * torch.eye(classes).repeat(40, 1)  # every class equally often, each predicted surely
    uniform = compute_inception_score(confident, nn.Identity(), backend=backend, splits=1)
    assert uniform["value"] == pytest.approx(classes, rel=1e-4)
    assert (uniform["metric"], uniform["n_fake"], uniform["n_real"]) == ("is", 400, None)
    constant = 50.0 * torch.eye(classes)[torch.full((400,), 3)]
    assert compute_inception_score(constant, nn.Identity(), backend=backend)["value"] == pytest.approx(1.0, abs=1e-5)
    split = compute_inception_score(confident, nn.Identity(), backend=backend, splits=4)
    assert 1.0 < split["value"] <= classes + 1e-4 and split["splits"] == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_statistics_are_cached_and_not_recomputed(backend):
    real, fake = gaussian_pair()
    extractor = FlattenFeatures(4)
    loads = []

    def load_real():
        loads.append(1)
        return real

    for compute, options in ((compute_fid, {}), (compute_kid, {"subsets": 5})):
        first = compute(fake, load_real, extractor, cache_key="toy-train", backend=backend, n_real=500, **options)
        seen = extractor.seen
        second = compute(fake, load_real, extractor, cache_key="toy-train", backend=backend, n_real=500, **options)
        assert second["value"] == pytest.approx(first["value"], rel=1e-5)
        assert second["n_real"] == first["n_real"] == 500
        assert extractor.seen - seen == 600  # only the fakes went through the extractor
    assert len(loads) == 2  # the real loader ran once per metric, on the cache miss
    cached = list(cache_dir().rglob("toy-train-*"))
    assert cached, "no cache file written"
    other = compute_fid(fake, real[:100], extractor, cache_key="toy-val", backend=backend)
    assert other["n_real"] == 100


def test_precision_recall_through_torch_fidelity():
    real, fake = gaussian_pair(n=200)
    far = real + 100.0
    close = compute_precision_recall(real.clone(), real, FlattenFeatures(4))
    apart = compute_precision_recall(far, real, FlattenFeatures(4))
    assert close["precision"] == pytest.approx(1.0) and close["recall"] == pytest.approx(1.0)
    assert apart["precision"] == 0.0 and apart["recall"] == 0.0


# ------------------------------------------------------------------ Inception plumbing and weights


def test_missing_inception_weights_is_one_line_naming_the_file():
    with pytest.raises(ZooWeightsError) as caught:
        resolve_inception_weights(None)
    message = str(caught.value)
    assert "\n" not in message
    assert INCEPTION_WEIGHTS_NAME in message and "github.com/toshas/torch-fidelity/releases" in message
    assert INCEPTION_WEIGHTS_ENV in message
    with pytest.raises(ZooWeightsError, match="does-not-exist.pth"):
        compute_fid(torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8), weights_path="does-not-exist.pth")


@pytest.mark.parametrize("backend", BACKENDS)
def test_inception_fid_and_is_run_end_to_end_on_random_weights(random_inception_weights, backend, monkeypatch):
    generator = torch.Generator().manual_seed(1)
    grey = torch.rand(4, 1, 16, 16, generator=generator)  # grey repeated to RGB, resized to 299
    colour = torch.rand(4, 3, 16, 16, generator=generator) * 2 - 1
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(random_inception_weights))
    # the 64-d layer keeps the test fast: a 2048-d FID spends seconds in one 2048×2048 eigendecomposition
    fid = compute_fid(colour, grey * 2 - 1, backend=backend, value_range=(-1, 1), inception_layer="64")
    assert np.isfinite(fid["value"]) and fid["value"] >= -1e-3
    assert fid["weights_sha256"] == file_hash(random_inception_weights)
    assert fid["feature_extractor"].startswith("inception-v3-compat-64-")
    assert (fid["n_real"], fid["n_fake"]) == (4, 4)
    score = compute_inception_score(grey, weights_path=str(random_inception_weights), backend=backend, splits=2)
    assert np.isfinite(score["value"]) and score["value"] >= 1.0 - 1e-4
    assert score["weights_sha256"] == file_hash(random_inception_weights)


def test_both_backends_see_the_same_inception_features(random_inception_weights):
    """torchmetrics' Inception with antialias=False resizes like torch-fidelity's (TF 1.x bilinear)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = torch.rand(2, 1, 20, 20, generator=torch.Generator().manual_seed(2))
    extractor = Extractor("inception", str(random_inception_weights), "features", "64")
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["64"], str(random_inception_weights))
    prepared = extractor.prepare(images, (0.0, 1.0))
    assert prepared.dtype == torch.uint8 and prepared.shape == (2, 3, 20, 20)
    assert torch.equal(prepared[:, 0], prepared[:, 2])
    with torch.no_grad():
        torch.testing.assert_close(extractor.torchmetrics_module()(prepared), reference(prepared)[0])
