"""Alignment and uniformity (Wang & Isola 2020): the two terms a contrastive loss balances.

Both are differentiable functions of embeddings, so the same code is a training loss (the
positives-only method of the geometry lesson is alignment alone) and a measurement
(:mod:`clkit.evaluate` reports them on held-out views).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import check_pair


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2) -> Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): E ‖f(x) − f(y)‖₂^α on normalised embeddings.

    0 when every pair coincides; 2 (for α = 2) when partners are unrelated points on the sphere.
    Its gradient is finite everywhere for α ≥ 1, coinciding pairs included.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned, N ≥ 1. They are ℓ2-normalised here.
    """
    check_pair(z1, z2, ("z1", "z2"))
    a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    if alpha == 2:
        return (a - b).pow(2).sum(dim=1).mean()  # ‖a − b‖², (N,)
    # Through the norm, whose gradient at a coinciding pair is 0: (‖a − b‖²)^(α/2) would give NaN there.
    return torch.linalg.vector_norm(a - b, dim=1).pow(alpha).mean()


def uniformity(z: Tensor, t: float = 2) -> Tensor:
    r"""Uniformity (Wang & Isola 2020): log E_{i<j} exp(−t ‖z_i − z_j‖₂²) on normalised embeddings.

    0 for a fully collapsed set; more negative is more uniform (−3.94 for uniform points on
    S¹²⁷ with t = 2, −1.58 on the circle S¹).

    Args:
        z: (N, D) embeddings, N ≥ 2. They are ℓ2-normalised here.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"uniformity needs (N, D) embeddings with N ≥ 2, got {tuple(z.shape)}")
    x = F.normalize(z.float(), dim=1)
    sq_dist = torch.pdist(x).pow(2)
    return torch.logsumexp(-t * sq_dist, dim=0) - math.log(len(sq_dist))
