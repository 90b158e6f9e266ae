"""SimCSE's loss (Gao, Yao & Chen 2021, arXiv:2104.08821): InfoNCE over sentence embeddings, with optional
hard negatives.

Each anchor h_i has one positive h_i⁺, and its candidates are the batch's positives (and, in the supervised
variant, the batch's hard negatives h_j⁻ too). With sim the cosine similarity and τ = 0.05 (the paper's)::

    unsupervised:  ℓ_i = −log  e^{sim(h_i, h_i⁺)/τ} / Σ_j e^{sim(h_i, h_j⁺)/τ}
    supervised:    ℓ_i = −log  e^{sim(h_i, h_i⁺)/τ} / Σ_j (e^{sim(h_i, h_j⁺)/τ} + e^{sim(h_i, h_j⁻)/τ})

Unlike SimCLR's NT-Xent the loss is one-directional: the anchors are only queries, never candidates, so the
unsupervised loss is :func:`clkit.losses.info_nce` with the batch's other keys as negatives. In unsupervised
SimCSE the anchor and its positive are the same sentence, encoded twice with different dropout masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import Logits, check_pair, check_temperature

__all__ = ["collapsed_simcse", "simcse_logits", "simcse_loss"]


def simcse_logits(anchors: Tensor, positives: Tensor, hard_negatives: Tensor | None = None,
                  temperature: float | Tensor = 0.05) -> Logits:
    """The logits of :func:`simcse_loss`: every anchor against every positive, then every hard negative.

    Returns:
        ``Logits(logits, targets)``: logits (N, N) or, with hard negatives, (N, 2N), columns
        ``[positives; hard negatives]``, scaled by 1/τ and computed in float32; targets (N,) = 0 … N − 1.
    """
    check_pair(anchors, positives, ("anchors", "positives"))
    if hard_negatives is not None:
        check_pair(anchors, hard_negatives, ("anchors", "hard_negatives"))
    check_temperature(temperature)
    a = F.normalize(anchors.float(), dim=1)  # (N, D)
    candidates = positives if hard_negatives is None else torch.cat([positives, hard_negatives])  # (N or 2N, D)
    logits = a @ F.normalize(candidates.float(), dim=1).T / temperature  # (N, N or 2N)
    return Logits(logits, torch.arange(len(a), device=a.device))


def simcse_loss(anchors: Tensor, positives: Tensor, hard_negatives: Tensor | None = None,
                temperature: float | Tensor = 0.05) -> Tensor:
    r"""SimCSE's contrastive loss, unsupervised (no hard negatives) or supervised (see the module docstring).

    ℓ_i = −log e^{sim(h_i, h_i⁺)/τ} / (Σ_j e^{sim(h_i, h_j⁺)/τ} [+ Σ_j e^{sim(h_i, h_j⁻)/τ}]),
    L = mean_i ℓ_i.

    Args:
        anchors: (N, D) embeddings h_i (the first dropout pass, or the premises).
        positives: (N, D) h_i⁺, row-aligned with ``anchors`` (the second pass, or the entailed sentences).
        hard_negatives: optional (N, D) h_i⁻ (contradictions); every one of them is a negative of every anchor.
        temperature: τ > 0; SimCSE uses 0.05.
    Returns:
        0-d float32 tensor. Every embedding equal gives log N without hard negatives and log 2N with them
        (:func:`collapsed_simcse`).
    """
    return F.cross_entropy(*simcse_logits(anchors, positives, hard_negatives, temperature))


def collapsed_simcse(batch_size: int, hard_negatives: bool = False) -> float:
    """:func:`simcse_loss` when every embedding is the same point: log N, or log 2N with hard negatives."""
    return math.log(batch_size * (2 if hard_negatives else 1))
