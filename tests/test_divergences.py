"""Checks of the f-GAN divergence table, its losses and the Lambert W function."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize
from scipy.special import lambertw
from scipy.stats import norm

from zoo.errors import ZooConfigError
from zoo.objectives.divergences import DIVERGENCES, fdivergence_integrand, resolve_divergence
from zoo.objectives.fgan_losses import (
    fgan_discriminator_loss,
    fgan_generator_loss,
    fgan_objective,
)
from zoo.objectives.lambert_w import lambert_w, lambert_w_of_exp

NAMES = list(DIVERGENCES)
F64 = torch.float64

# Points strictly inside dom f* at which the conjugate is checked, chosen so that the
# maximiser u of u t - f(u) is positive (Pearson's f* is that of (u-1)^2 on all of R).
CONJUGATE_POINTS = {
    "total_variation": [-0.4, -0.1, 0.0, 0.3, 0.45],
    "kl": [-2.0, 0.0, 1.0, 2.5],
    "reverse_kl": [-3.0, -1.0, -0.2],
    "pearson": [-1.5, 0.0, 0.7, 3.0],
    "neyman": [-3.0, 0.0, 0.5, 0.9],
    "squared_hellinger": [-3.0, 0.0, 0.5, 0.9],
    "jeffrey": [-3.0, -0.5, 0.0, 1.0, 2.5],
    "js": [-2.0, 0.0, 0.5, 0.65],
    "gan": [-3.0, -1.0, -0.1],
}


def _t(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=F64)


def test_table_has_the_nine_paper_rows_with_names_and_labels() -> None:
    assert NAMES == [
        "total_variation", "kl", "reverse_kl", "pearson", "neyman",
        "squared_hellinger", "jeffrey", "js", "gan",
    ]
    for name, row in DIVERGENCES.items():
        assert row.name == name and row.label
        assert resolve_divergence(name) is row and resolve_divergence(row) is row
    with pytest.raises(ZooConfigError, match="unknown f-divergence"):
        resolve_divergence("wasserstein")


@pytest.mark.parametrize("name", NAMES)
def test_generator_vanishes_at_one_and_f_prime_matches_autograd(name: str) -> None:
    row = DIVERGENCES[name]
    one = _t(1.0).requires_grad_(True)
    value = row.f(one)
    (slope,) = torch.autograd.grad(value, one)
    # The paper's GAN generator is shifted: f(1) = -log 4, so D_f = 2 JSD - log 4.
    expected_at_one = -math.log(4.0) if name == "gan" else 0.0
    assert value.item() == pytest.approx(expected_at_one, abs=1e-15)
    assert slope.item() == pytest.approx(row.f_prime_at_one, abs=1e-12)
    assert row.optimal_t(_t(1.0)).item() == pytest.approx(row.f_prime_at_one, abs=1e-12)
    # T*(u) = f'(u) everywhere, not only at 1.
    u = _t([0.2, 0.7, 1.6, 5.0]).requires_grad_(True)
    (f_prime,) = torch.autograd.grad(row.f(u).sum(), u)
    torch.testing.assert_close(row.optimal_t(u.detach()), f_prime, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_the_fenchel_conjugate_of_f(name: str) -> None:
    row = DIVERGENCES[name]

    def negative_objective(log_u: float, t: float) -> float:
        u = _t(math.exp(log_u))
        return -(u * t - row.f(u)).item()

    log_u_grid = np.linspace(-12.0, 12.0, 4801)
    u_grid = torch.exp(_t(log_u_grid))
    for t in CONJUGATE_POINTS[name]:
        values = (u_grid * t - row.f(u_grid)).numpy()
        best = int(np.argmax(values))
        bracket = (log_u_grid[max(best - 1, 0)], log_u_grid[min(best + 1, len(log_u_grid) - 1)])
        refined = optimize.minimize_scalar(
            negative_objective, bounds=bracket, args=(t,), method="bounded",
            options={"xatol": 1e-12},
        )
        supremum = max(values[best], -refined.fun)
        assert row.conjugate(_t(t)).item() == pytest.approx(supremum, rel=1e-7, abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_optimal_variational_function_attains_the_divergence(name: str) -> None:
    """Eq. 4-5: E_P[T*] - E_Q[f*(T*)] = D_f(P||Q) for P = N(0, 1), Q = N(0.5, 1.3^2)."""
    row = DIVERGENCES[name]
    p, q = norm(0.0, 1.0), norm(0.5, 1.3)

    def ratio(x: float) -> torch.Tensor:
        return _t(math.exp(p.logpdf(x) - q.logpdf(x)))

    def quad(fn) -> float:
        return integrate.quad(fn, -30.0, 30.0, points=[-1.0, 0.0, 0.5, 2.0], limit=400,
                              epsabs=1e-11, epsrel=1e-10)[0]

    divergence = quad(lambda x: fdivergence_integrand(row, _t(p.logpdf(x)), _t(q.logpdf(x))).item())
    expected_real = quad(lambda x: p.pdf(x) * row.optimal_t(ratio(x)).item())
    expected_fake = quad(lambda x: q.pdf(x) * row.conjugate(row.optimal_t(ratio(x))).item())
    assert expected_real - expected_fake == pytest.approx(divergence, rel=1e-6, abs=1e-9)
    if name == "kl":  # closed form for two Gaussians
        closed = math.log(1.3) + (1.0 + 0.25) / (2 * 1.69) - 0.5
        assert divergence == pytest.approx(closed, rel=1e-9)
    if name in ("total_variation", "squared_hellinger", "js", "kl"):
        assert divergence > 0


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_conjugate_domain(name: str) -> None:
    row = DIVERGENCES[name]
    low, high = row.conjugate_domain
    t = row.activation(torch.linspace(-30.0, 30.0, 601, dtype=F64))
    if name == "total_variation":
        assert bool(((t >= low) & (t <= high)).all())
    else:
        assert bool(((t > low) & (t < high)).all())
    v = torch.linspace(-10.0, 10.0, 201, dtype=F64)
    torch.testing.assert_close(row.conjugate_of_activation(v), row.conjugate(row.activation(v)),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_conjugate_of_activation_is_finite_with_finite_gradients(name, dtype) -> None:
    row = DIVERGENCES[name]
    sweep = torch.cat([torch.tensor([-50.0, 50.0]), torch.linspace(-50.0, 50.0, 401)])
    for fn in (lambda v: row.conjugate(row.activation(v)), row.conjugate_of_activation,
               row.activation):
        v = sweep.to(dtype).requires_grad_(True)
        out = fn(v)
        (grad,) = torch.autograd.grad(out.sum(), v)
        assert bool(torch.isfinite(out).all()), (name, dtype)
        assert bool(torch.isfinite(grad).all()), (name, dtype)


@pytest.mark.parametrize("name", NAMES)
def test_losses_have_documented_signs_and_stay_finite(name: str) -> None:
    row = DIVERGENCES[name]
    v_real, v_fake = torch.randn(64, dtype=F64) * 3, torch.randn(64, dtype=F64) * 3
    objective = row.activation(v_real).mean() - row.conjugate(row.activation(v_fake)).mean()
    assert fgan_objective(v_real, v_fake, name).item() == pytest.approx(objective.item(), rel=1e-9)
    assert fgan_discriminator_loss(v_real, v_fake, row).item() == pytest.approx(-objective.item(),
                                                                               rel=1e-9)
    saddle = fgan_generator_loss(v_fake, name)
    assert saddle.item() == pytest.approx(-row.conjugate(row.activation(v_fake)).mean().item(),
                                          rel=1e-9)
    practical = fgan_generator_loss(v_fake, name, practical=True)
    assert practical.item() == pytest.approx(-row.activation(v_fake).mean().item(), rel=1e-9)
    extreme = torch.tensor([-50.0, 50.0], requires_grad=True)
    for loss in (fgan_discriminator_loss(extreme, extreme, name),
                 fgan_generator_loss(extreme, name), fgan_generator_loss(extreme, name, True)):
        (grad,) = torch.autograd.grad(loss, extreme)
        assert torch.isfinite(loss) and bool(torch.isfinite(grad).all())


def test_gan_row_losses_are_the_classic_gan_losses() -> None:
    logits_real, logits_fake = torch.randn(32, dtype=F64), torch.randn(32, dtype=F64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d_loss = bce(logits_real, torch.ones_like(logits_real)) + bce(logits_fake,
                                                                  torch.zeros_like(logits_fake))
    torch.testing.assert_close(fgan_discriminator_loss(logits_real, logits_fake, "gan"), d_loss)
    d_fake = torch.sigmoid(logits_fake)
    torch.testing.assert_close(fgan_generator_loss(logits_fake, "gan"),
                               torch.log1p(-d_fake).mean())
    torch.testing.assert_close(fgan_generator_loss(logits_fake, "gan", practical=True),
                               -torch.log(d_fake).mean())


def test_lambert_w_matches_scipy() -> None:
    x = np.concatenate([np.linspace(-0.36, 0.0, 73), np.logspace(-300, 300, 601),
                        np.linspace(0.0, 25.0, 101)])
    torch.testing.assert_close(lambert_w(_t(x)), _t(lambertw(x).real), rtol=1e-13, atol=1e-300)
    near_branch = -math.exp(-1.0) + np.logspace(-12, -2, 11)
    torch.testing.assert_close(lambert_w(_t(near_branch)), _t(lambertw(near_branch).real),
                               rtol=1e-6, atol=0.0)
    x32 = np.logspace(-30, 30, 121).astype(np.float32)
    w32 = lambert_w(torch.from_numpy(x32)).double()
    torch.testing.assert_close(w32, _t(lambertw(x32.astype(np.float64)).real), rtol=1e-6, atol=0.0)
    assert bool(torch.isnan(lambert_w(_t([-0.5]))).all())


def test_lambert_w_of_exp_matches_scipy_and_handles_huge_arguments() -> None:
    a = np.linspace(-700.0, 700.0, 1401)
    torch.testing.assert_close(lambert_w_of_exp(_t(a)), _t(lambertw(np.exp(a)).real),
                               rtol=1e-13, atol=0.0)
    huge = _t(np.logspace(3, 250, 50))  # e^a overflows; check W + log W = a instead
    w = lambert_w_of_exp(huge)
    torch.testing.assert_close(w + torch.log(w), huge, rtol=1e-14, atol=0.0)
    w32 = lambert_w_of_exp(torch.tensor([-80.0, 80.0, 1e6, 1e30]))
    assert bool(torch.isfinite(w32).all()) and w32[0] > 0


def test_lambert_w_gradients() -> None:
    x = _t([-0.3, -0.05, 0.0, 0.4, 3.0, 50.0, 1e4]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambert_w, (x,))
    assert torch.autograd.gradgradcheck(lambert_w, (x,))
    a = _t([-40.0, -1.0, 0.0, 2.0, 30.0, 1e3]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambert_w_of_exp, (a,))
    assert torch.autograd.gradgradcheck(lambert_w_of_exp, (a,))
