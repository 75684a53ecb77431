"""The f-GAN 1-D experiment (Table 3): quadrature optimum, f-GAN fit and output files."""

from __future__ import annotations

import json
import math

import pytest

from zoo.errors import ZooConfigError
from zoo.eval.gaussian_fit import divergence_to_gaussian, numerically_optimal_gaussian
from zoo.objectives.divergences import DIVERGENCES
from zoo.reproduce.fgan_table3 import QUICK_SETTINGS, TARGET, run_table3, write_outputs

ROW_KEYS = {"divergence", "label", "mu_star", "sigma_star", "divergence_at_star", "mu_hat",
            "sigma_hat", "divergence_at_hat", "variational_bound_at_hat"}


def test_kl_optimum_is_wider_than_reverse_kl_optimum() -> None:
    mu_kl, sigma_kl = numerically_optimal_gaussian("kl", TARGET)
    mu_rkl, sigma_rkl = numerically_optimal_gaussian("reverse_kl", TARGET)
    # KL(P||Q) over Gaussians is minimised by moment matching.
    assert mu_kl == pytest.approx(TARGET.mean, abs=1e-3)
    assert sigma_kl == pytest.approx(TARGET.std, rel=1e-3)
    # Reverse KL seeks the heavier mode: narrow, and near its mean.
    assert sigma_rkl < 0.6 * sigma_kl
    assert mu_rkl == pytest.approx(TARGET.means[0], abs=0.2)


def test_quadrature_grid_agrees_with_adaptive_quad_and_flags_divergence() -> None:
    for name in ("kl", "jeffrey", "total_variation"):
        fast = divergence_to_gaussian(name, -0.3, 0.9, TARGET)
        exact = divergence_to_gaussian(name, -0.3, 0.9, TARGET, exact=True)
        assert fast == pytest.approx(exact, rel=1e-4)
    # Neyman chi^2 = ∫ q²/p - 1 diverges once σ exceeds √2 times the components' sd.
    assert math.isfinite(divergence_to_gaussian("neyman", 0.0, 0.6, TARGET, exact=True))
    assert divergence_to_gaussian("neyman", 0.0, 1.0, TARGET, exact=True) == math.inf


def test_quick_run_writes_files_and_learns_towards_the_optimum(tmp_path) -> None:
    result = run_table3(quick=True, seed=0)
    paths = write_outputs(result, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"fgan-table3.json", "fgan-table3.md",
                                                    "fgan-table3.png"}
    assert paths["png"].stat().st_size > 10_000
    loaded = json.loads(paths["json"].read_text())
    assert loaded["quick"] is True and loaded["seed"] == 0 and loaded["device"] == "cpu"
    assert loaded["steps"] == QUICK_SETTINGS.steps and loaded["commit"]
    assert loaded["wall_time_s"] > 0
    assert [row["divergence"] for row in loaded["rows"]] == list(DIVERGENCES)
    markdown = paths["md"].read_text()
    for row in loaded["rows"]:
        assert set(row) == ROW_KEYS
        assert row["label"] in markdown
    init = (loaded["init"]["mu"], loaded["init"]["sigma"])

    def distance_to_star(row: dict, mu: float, sigma: float) -> float:
        return math.hypot(mu - row["mu_star"], math.log(sigma / row["sigma_star"]))

    improved = [row["divergence"] for row in loaded["rows"]
                if distance_to_star(row, row["mu_hat"], row["sigma_hat"])
                < 0.5 * distance_to_star(row, *init)]
    assert improved, "no divergence's f-GAN fit moved halfway towards its quadrature optimum"
    kl = next(row for row in loaded["rows"] if row["divergence"] == "kl")
    assert kl["sigma_hat"] > init[1]  # KL must widen Q from its narrow start


def test_unknown_divergence_is_rejected_before_running() -> None:
    with pytest.raises(ZooConfigError, match="unknown f-divergence"):
        run_table3(quick=True, divergences=["kl", "earth_mover"])
