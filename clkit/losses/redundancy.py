"""Redundancy-reduction losses: Barlow Twins and VICReg, as plain functions of embeddings.

Neither loss uses negatives. Both pull the two views of an image together (an invariance
term) and stop the trivial solution, every image mapped to one point, with batch statistics:
Barlow Twins drives the cross-correlation of the two views towards the identity, VICReg
keeps every dimension's standard deviation up and its covariances with the others down.
Those statistics need a batch, so both refuse N < 2.

Each returns a :class:`RedundancyTerms`: the total to train on and each term on its own, so
a lesson can report which term moves, with the (D, D) matrix the redundancy term reads
(detached) for drawing. Statistics are computed in at least float32 (float64 stays float64).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from clkit.losses.contrastive import at_least_float32, check_pair


class RedundancyTerms(NamedTuple):
    """A redundancy-reduction loss and its terms (see :func:`barlow_twins` and :func:`vicreg`).

    Attributes:
        loss: 0-d tensor, the total to train on (it carries the gradient).
        invariance: 0-d tensor, the term pulling the two views together.
        redundancy: 0-d tensor, the term decorrelating the dimensions.
        variance: 0-d tensor, VICReg's term keeping every dimension spread out; None for Barlow Twins.
        matrix: the matrix whose off-diagonal ``redundancy`` penalises, detached: Barlow Twins'
            (D, D) cross-correlation C; VICReg's two (D, D) covariances, stacked to (2, D, D).

    See each function for which terms are weighted.
    """

    loss: Tensor
    invariance: Tensor
    redundancy: Tensor
    variance: Tensor | None
    matrix: Tensor


def check_batch(z1: Tensor, z2: Tensor, loss: str) -> None:
    """Refuse anything but two row-aligned (N, D) matrices with N ≥ 2 (shapes only: no host sync)."""
    check_pair(z1, z2, ("z1", "z2"))
    if len(z1) < 2:
        raise ValueError(
            f"{loss} needs a batch of N ≥ 2 pairs, got N = {len(z1)}: it standardises each dimension over "
            "the batch, and one row has no spread to measure"
        )


def _check_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be ≥ 0 (it weights a term of the loss), got {value}")


def _check_eps(eps: float) -> None:
    if not eps > 0:
        raise ValueError(
            f"eps must be > 0, got {eps}: it keeps √(Var + eps) away from 0, so a collapsed dimension "
            "(every row equal) still has a finite value and gradient"
        )


def _off_diagonal(matrix: Tensor) -> Tensor:
    """``matrix`` (…, D, D) with its diagonal zeroed (a mask, not a subtraction: no cancellation)."""
    d = matrix.shape[-1]
    return matrix.masked_fill(torch.eye(d, dtype=torch.bool, device=matrix.device), 0)


def barlow_twins(z1: Tensor, z2: Tensor, lambda_offdiag: float = 5e-3, eps: float = 1e-5) -> RedundancyTerms:
    r"""Barlow Twins (Zbontar, Jing, Misra, LeCun & Deny 2021, arXiv:2103.03230).

    Each view is standardised over the batch, as the paper's batch norm without affine
    parameters does (biased variance, ``eps`` inside the root), and the two are correlated::

        ẑ_k = (z_k − mean_n z_k) / √(Var_n z_k + eps)          per dimension, k = 1, 2
        C   = ẑ_1ᵀ ẑ_2 / N                                      (D, D), entries in [−1, 1]
        L   = Σ_i (1 − C_ii)²  +  λ Σ_i Σ_{j≠i} C_ij²
              └ invariance ┘     └──── redundancy ────┘

    The diagonal pulls each dimension of the two views to agree; the off-diagonal stops the
    dimensions from carrying copies of one another. L ≈ 0 when z1 = z2 and the dimensions are
    already uncorrelated; a collapsed batch gives C = 0 and L = D. Standardising makes L
    invariant to scaling each dimension by a positive factor and to shifting it (up to eps).

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned, N ≥ 2.
        lambda_offdiag: λ ≥ 0, the weight of the off-diagonal (the paper uses 5e-3).
        eps: > 0, inside the standard deviation's root (batch norm's default, 1e-5).
    Returns:
        :class:`RedundancyTerms` with ``loss = invariance + redundancy`` (``redundancy`` already
        weighted by λ), ``variance = None`` and ``matrix = C`` (D, D), detached.
    """
    check_batch(z1, z2, "barlow_twins")
    _check_nonnegative(lambda_offdiag=lambda_offdiag)
    _check_eps(eps)
    n = z1.shape[0]

    def standardise(z: Tensor) -> Tensor:
        z = at_least_float32(z)
        centred = z - z.mean(dim=0)
        return centred / torch.sqrt(centred.pow(2).mean(dim=0) + eps)  # (N, D)

    c = standardise(z1).T @ standardise(z2) / n  # (D, D)
    invariance = (1 - c.diagonal()).pow(2).sum()
    redundancy = lambda_offdiag * _off_diagonal(c).pow(2).sum()
    return RedundancyTerms(invariance + redundancy, invariance, redundancy, None, c.detach())


def vicreg(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> RedundancyTerms:
    r"""VICReg: variance-invariance-covariance regularisation (Bardes, Ponce & LeCun 2022, arXiv:2105.04906).

    Three terms, over the N pairs and the D dimensions (Var and Cov with divisor N − 1)::

        s    = (1 / ND) Σ_n ‖z1_n − z2_n‖²                                invariance (MSE)
        v(Z) = (1 / D) Σ_j max(0, γ − √(Var_n Z_j + eps))                variance, per view
        c(Z) = (1 / D) Σ_i Σ_{j≠i} Cov(Z)_ij²                             covariance, per view
        L    = λ s + μ (v(z1) + v(z2)) / 2 + ν (c(z1) + c(z2))
               λ = sim_weight, μ = var_weight, ν = cov_weight

    The variance term is 0 once every dimension's standard deviation reaches γ and about γ
    (γ − √eps) for a collapsed batch; the covariance term is 0 for uncorrelated dimensions.
    Unlike Barlow Twins nothing is standardised, so the loss depends on the embeddings' scale.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned, N ≥ 2.
        sim_weight, var_weight, cov_weight: λ, μ, ν ≥ 0 (the paper uses 25, 25, 1).
        gamma: γ ≥ 0, the standard deviation each dimension is held to.
        eps: > 0, inside the root, so a collapsed dimension has a finite gradient.
    Returns:
        :class:`RedundancyTerms` with the unweighted terms ``invariance = s``,
        ``variance = (v(z1) + v(z2)) / 2`` and ``redundancy = c(z1) + c(z2)``, the weighted total
        ``loss``, and ``matrix`` the two views' covariances stacked (2, D, D), detached.
    """
    check_batch(z1, z2, "vicreg")
    _check_nonnegative(sim_weight=sim_weight, var_weight=var_weight, cov_weight=cov_weight, gamma=gamma)
    _check_eps(eps)
    a, b = at_least_float32(z1), at_least_float32(z2)
    n, d = a.shape
    invariance = (a - b).pow(2).mean()

    views = torch.stack([a, b])  # (2, N, D)
    centred = views - views.mean(dim=1, keepdim=True)
    std = torch.sqrt(centred.pow(2).sum(dim=1) / (n - 1) + eps)  # (2, D)
    variance = torch.relu(gamma - std).mean(dim=1).mean()  # mean over dimensions, then over the two views
    cov = centred.transpose(1, 2) @ centred / (n - 1)  # (2, D, D)
    redundancy = _off_diagonal(cov).pow(2).sum() / d  # both views, each divided by D
    loss = sim_weight * invariance + var_weight * variance + cov_weight * redundancy
    return RedundancyTerms(loss, invariance, redundancy, variance, cov.detach())
