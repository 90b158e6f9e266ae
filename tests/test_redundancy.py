"""Barlow Twins and VICReg: against slow references from the papers' pseudocode, and their invariants."""

from __future__ import annotations

import math

import pytest
import torch

from clkit.losses import RedundancyTerms, barlow_twins, vicreg

SEEDS = [0, 1, 2, 3, 4]
SHAPES = [(2, 1), (3, 4), (8, 3), (5, 6)]
CUSTOM = {"sim_weight": 1.0, "var_weight": 2.0, "cov_weight": 3.0, "gamma": 2.0}


def reference_barlow_twins(z1, z2, lambda_offdiag=5e-3, eps=1e-5):
    """Zbontar et al. 2021, Algorithm 1, entry by entry: batch-norm each view, correlate, sum the terms."""
    n, d = len(z1), len(z1[0])

    def standardise(z):
        out = [[0.0] * d for _ in range(n)]
        for j in range(d):
            mean = sum(z[k][j] for k in range(n)) / n
            var = sum((z[k][j] - mean) ** 2 for k in range(n)) / n  # batch norm: biased variance
            for k in range(n):
                out[k][j] = (z[k][j] - mean) / math.sqrt(var + eps)
        return out

    a, b = standardise(z1), standardise(z2)
    c = [[sum(a[k][i] * b[k][j] for k in range(n)) / n for j in range(d)] for i in range(d)]
    on = sum((1 - c[i][i]) ** 2 for i in range(d))
    off = sum(c[i][j] ** 2 for i in range(d) for j in range(d) if i != j)
    return on + lambda_offdiag * off, on, lambda_offdiag * off, c


def reference_vicreg(z1, z2, sim_weight=25.0, var_weight=25.0, cov_weight=1.0, gamma=1.0, eps=1e-4):
    """Bardes et al. 2022, Algorithm 1, one entry at a time."""
    n, d = len(z1), len(z1[0])
    sim = sum((z1[k][j] - z2[k][j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def var_and_cov(z):
        means = [sum(z[k][j] for k in range(n)) / n for j in range(d)]
        cov = [
            [sum((z[k][i] - means[i]) * (z[k][j] - means[j]) for k in range(n)) / (n - 1) for j in range(d)]
            for i in range(d)
        ]
        v = sum(max(0.0, gamma - math.sqrt(cov[j][j] + eps)) for j in range(d)) / d
        c = sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
        return v, c, cov

    v1, c1, cov1 = var_and_cov(z1)
    v2, c2, cov2 = var_and_cov(z2)
    var, cov = (v1 + v2) / 2, c1 + c2
    return sim_weight * sim + var_weight * var + cov_weight * cov, sim, var, cov, [cov1, cov2]


def random_pair(seed: int, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z1, 0.6 * z1 + torch.randn(n, d, generator=g, dtype=torch.float64)  # correlated views


def orthogonal_design(n: int = 8) -> torch.Tensor:
    """(n, n − 1) ±1 columns of a Sylvester–Hadamard matrix, less the all-ones one: centred, uncorrelated."""
    h = torch.ones(1, 1, dtype=torch.float64)
    while len(h) < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)])
    return h[:, 1:]


def test_terms_type():
    z1, z2 = random_pair(0, 4, 3)
    assert isinstance(barlow_twins(z1, z2), RedundancyTerms) and isinstance(vicreg(z1, z2), RedundancyTerms)


# --- against the references ---


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lambda_offdiag", [5e-3, 0.5])
def test_barlow_twins_matches_the_reference(seed, shape, lambda_offdiag):
    z1, z2 = random_pair(seed, *shape)
    loss, on, off, c = reference_barlow_twins(z1.tolist(), z2.tolist(), lambda_offdiag)
    terms = barlow_twins(z1, z2, lambda_offdiag)
    assert terms.loss.dtype == torch.float64 and terms.loss.shape == ()
    assert terms.loss.item() == pytest.approx(loss, rel=1e-10, abs=1e-12)
    assert terms.invariance.item() == pytest.approx(on, rel=1e-10, abs=1e-12)
    assert terms.redundancy.item() == pytest.approx(off, rel=1e-10, abs=1e-12)
    assert torch.allclose(terms.matrix, torch.tensor(c, dtype=torch.float64), rtol=1e-10, atol=1e-12)
    assert terms.variance is None


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights", [{}, CUSTOM])
def test_vicreg_matches_the_reference(seed, shape, weights):
    z1, z2 = random_pair(seed, *shape)
    loss, sim, var, cov, covs = reference_vicreg(z1.tolist(), z2.tolist(), **weights)
    terms = vicreg(z1, z2, **weights)
    assert terms.loss.dtype == torch.float64 and terms.loss.shape == ()
    assert terms.loss.item() == pytest.approx(loss, rel=1e-10, abs=1e-12)
    assert terms.invariance.item() == pytest.approx(sim, rel=1e-10, abs=1e-12)
    assert terms.variance.item() == pytest.approx(var, rel=1e-10, abs=1e-12)
    assert terms.redundancy.item() == pytest.approx(cov, rel=1e-10, abs=1e-12)
    assert torch.allclose(terms.matrix, torch.tensor(covs, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_totals_are_the_terms_and_matrices_are_detached():
    z1, z2 = (z.requires_grad_() for z in random_pair(5, 6, 4))
    bt = barlow_twins(z1, z2)
    assert torch.allclose(bt.loss, bt.invariance + bt.redundancy)
    vr = vicreg(z1, z2, sim_weight=2.0, var_weight=3.0, cov_weight=4.0)
    assert torch.allclose(vr.loss, 2 * vr.invariance + 3 * vr.variance + 4 * vr.redundancy)
    for terms, shape in ((bt, (4, 4)), (vr, (2, 4, 4))):
        assert terms.loss.requires_grad and not terms.matrix.requires_grad and terms.matrix.shape == shape


def test_half_precision_is_computed_in_float32():
    z1, z2 = (z.to(torch.bfloat16) for z in random_pair(0, 6, 3))
    assert barlow_twins(z1, z2).loss.dtype == torch.float32
    assert vicreg(z1, z2).loss.dtype == torch.float32


# --- Barlow Twins' invariants ---


def test_barlow_twins_is_zero_for_identical_decorrelated_views_and_positive_otherwise():
    z = orthogonal_design(8)  # (8, 7): standardised, uncorrelated dimensions
    terms = barlow_twins(z, z.clone())
    assert terms.loss.item() < 1e-8
    assert torch.allclose(terms.matrix, torch.eye(7, dtype=torch.float64), atol=1e-4)
    # The same up to a per-dimension affine map is still ≈ 0 (it standardises first).
    assert barlow_twins(3 * z + 1, z * torch.arange(1.0, 8.0, dtype=torch.float64) - 2).loss.item() < 1e-8
    for seed in SEEDS:
        z1, z2 = random_pair(seed, 8, 3)
        assert barlow_twins(z1, z2).loss.item() > 1e-3
        assert barlow_twins(z1, z1.clone()).loss.item() > 1e-6  # identical views, correlated dimensions
    assert barlow_twins(z, z.flip(1)).loss.item() > 1  # identical values, permuted dimensions


def test_barlow_twins_of_a_collapsed_batch_is_the_width():
    z = torch.ones(5, 4)
    terms = barlow_twins(z, z.clone())
    assert torch.equal(terms.matrix, torch.zeros(4, 4))
    assert terms.loss.item() == pytest.approx(4.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_barlow_twins_ignores_per_dimension_scaling_and_shifting(seed):
    z1, z2 = random_pair(seed, 7, 4)
    g = torch.Generator().manual_seed(100 + seed)
    scale = lambda: torch.rand(4, generator=g, dtype=torch.float64) * 10 + 0.1  # noqa: E731
    shift = lambda: torch.randn(4, generator=g, dtype=torch.float64) * 5  # noqa: E731
    moved = scale() * z1 + shift(), scale() * z2 + shift()
    exact = barlow_twins(*moved, eps=1e-12), barlow_twins(z1, z2, eps=1e-12)
    assert exact[0].loss.item() == pytest.approx(exact[1].loss.item(), rel=1e-8)
    assert torch.allclose(exact[0].matrix, exact[1].matrix, atol=1e-8)
    # With the default eps, only up to eps / Var.
    assert barlow_twins(*moved).loss.item() == pytest.approx(barlow_twins(z1, z2).loss.item(), rel=1e-3)


# --- VICReg's invariants ---


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_vicreg_variance_is_zero_once_every_std_reaches_gamma(gamma):
    for seed in SEEDS:
        z1, z2 = random_pair(seed, 6, 5)
        z1, z2 = (gamma * 1.01 * (z - z.mean(0)) / z.std(0) for z in (z1, z2))  # every std 1.01 γ
        assert vicreg(z1, z2, gamma=gamma).variance.item() == 0.0


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_vicreg_variance_of_a_collapsed_batch_is_gamma(gamma):
    row = torch.randn(1, 5, generator=torch.Generator().manual_seed(0))
    z = row.expand(6, 5).clone()  # every row equal: std 0 in every dimension
    terms = vicreg(z, z.clone(), gamma=gamma, eps=1e-4)
    assert terms.variance.item() == pytest.approx(gamma - math.sqrt(1e-4))  # γ, less eps's floor
    assert terms.invariance.item() == 0.0 and terms.redundancy.item() == 0.0


def test_vicreg_covariance_is_zero_for_decorrelated_features():
    z = orthogonal_design(8) * torch.arange(1.0, 8.0, dtype=torch.float64) + 3  # uncorrelated, unequal std
    terms = vicreg(z, 2 * orthogonal_design(8))
    assert terms.redundancy.item() < 1e-20
    assert vicreg(*random_pair(0, 8, 3)).redundancy.item() > 1e-3


def test_vicreg_depends_on_scale():
    z1, z2 = random_pair(0, 8, 3)
    assert vicreg(3 * z1, 3 * z2).loss.item() != pytest.approx(vicreg(z1, z2).loss.item(), rel=1e-2)


# --- shared invariants ---


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
@pytest.mark.parametrize("seed", SEEDS)
def test_swapping_the_views_changes_nothing(loss, seed):
    z1, z2 = random_pair(seed, 6, 4)
    a, b = loss(z1, z2), loss(z2, z1)
    for x, y in ((a.loss, b.loss), (a.invariance, b.invariance), (a.redundancy, b.redundancy)):
        assert x.item() == pytest.approx(y.item(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
@pytest.mark.parametrize("case", ["identical", "collapsed", "zeros"])
def test_gradients_are_finite_for_identical_and_collapsed_views(loss, case):
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    z = {"identical": z, "collapsed": z[:1].expand(6, 4), "zeros": torch.zeros(6, 4)}[case]
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    value = loss(z1, z2).loss
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


# --- refusals ---


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
def test_bad_inputs_are_refused_clearly(loss):
    with pytest.raises(ValueError, match="N ≥ 2.*N = 1"):
        loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="N = 0"):
        loss(torch.randn(0, 3), torch.randn(0, 3))
    with pytest.raises(ValueError, match="eps must be > 0"):
        loss(torch.randn(4, 3), torch.randn(4, 3), eps=0.0)


def test_bad_weights_are_refused_clearly():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="lambda_offdiag must be ≥ 0"):
        barlow_twins(z, z, lambda_offdiag=-1.0)
    for name in ("sim_weight", "var_weight", "cov_weight", "gamma"):
        with pytest.raises(ValueError, match=f"{name} must be ≥ 0"):
            vicreg(z, z, **{name: float("nan")})
