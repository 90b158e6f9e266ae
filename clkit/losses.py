"""Contrastive losses as plain functions of embeddings.

Every loss here takes tensors and returns a scalar tensor; nothing holds state, so the
same function serves a notebook cell computing a loss by hand and a training run.
Embeddings are ℓ2-normalised inside each loss, and similarities are computed in float32
even under mixed precision (a softmax over 1/τ-scaled logits is where bf16 hurts).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def check_temperature(temperature: float | Tensor) -> None:
    """Refuse τ ≤ 0 (or NaN): the logits are divided by τ, so it must be a positive number."""
    value = float(temperature.detach().min() if isinstance(temperature, Tensor) else temperature)
    if not value > 0:
        raise ValueError(
            f"temperature must be > 0, got {value}: logits are divided by τ; "
            "typical values are 0.05–1.0 (SimCLR uses 0.1–0.5, CLIP starts at 0.07)"
        )


def _check_pair(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(
            f"{names[0]} and {names[1]} must be 2-D (N, D) embeddings, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (row i of one is the positive of row i of the "
            f"other), got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def nt_xent(z1: Tensor, z2: Tensor, temperature: float | Tensor = 0.5) -> Tensor:
    r"""SimCLR's normalised temperature-scaled cross-entropy (NT-Xent).

    The 2N views are stacked, ``z = [z1; z2]``; view k's positive is its partner ``p(k)``
    and its denominator runs over the other 2N − 1 views::

        ℓ_k = −log  exp(sim(z_k, z_p(k)) / τ) / Σ_{j ≠ k} exp(sim(z_k, z_j) / τ)
        L   = (1 / 2N) Σ_k ℓ_k,           sim(u, v) = uᵀv / (‖u‖‖v‖)

    A batch where every view is the same vector gives L = log(2N − 1).

    Args:
        z1, z2: (N, D) embeddings of the two views; row i of ``z1`` and ``z2`` come from the same image.
        temperature: τ > 0 (a float, or a 0-d tensor when τ is learned).
    Returns:
        0-d float32 tensor, the mean over all 2N anchors.
    """
    _check_pair(z1, z2, ("z1", "z2"))
    check_temperature(temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positive)


def info_nce(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None = None,
    temperature: float | Tensor = 0.1,
) -> Tensor:
    r"""The general InfoNCE loss (van den Oord et al. 2018), as used by MoCo and CLIP.

    Each query i has one positive, ``key[i]``. Its negatives are the other keys in the batch
    when ``negatives`` is None (CLIP's image→text direction), or the rows of ``negatives``
    when given (MoCo's queue: then the other keys are not used)::

        ℓ_i = −log  exp(q_iᵀk_i / τ) / (exp(q_iᵀk_i / τ) + Σ_n exp(q_iᵀn / τ))

    Args:
        query: (N, D) anchors.
        key: (N, D) positives, row-aligned with ``query``.
        negatives: optional (M, D) shared negatives.
        temperature: τ > 0.
    Returns:
        0-d float32 tensor, the mean of ℓ_i over the N queries.
    """
    _check_pair(query, key, ("query", "key"))
    check_temperature(temperature)
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.float(), dim=1)
    if negatives is None:
        logits = q @ k.T / temperature
        target = torch.arange(q.shape[0], device=q.device)
    else:
        if negatives.ndim != 2 or negatives.shape[1] != q.shape[1]:
            raise ValueError(
                f"negatives must be (M, {q.shape[1]}) to match the embedding width, got {tuple(negatives.shape)}"
            )
        n = F.normalize(negatives.float(), dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)
        logits = torch.cat([positive, q @ n.T], dim=1) / temperature
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)


def collapsed_nt_xent(batch_size: int) -> float:
    """NT-Xent of a fully collapsed batch (all 2N views identical): log(2N − 1), whatever τ is."""
    return math.log(2 * batch_size - 1)
