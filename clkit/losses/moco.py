"""MoCo's contrastive loss as logits: each query against its key and a queue of past keys, or the batch's keys.

The loss is :func:`~clkit.losses.contrastive.info_nce`; this module gives the logits it is the
cross-entropy of, so that a method reads its pretext accuracy from the same numbers it trains on
(one query-by-queue product per step, not two), and the loss's value when everything collapses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import Gather, Logits, check_pair, check_temperature


def moco_logits(
    query: Tensor,
    key: Tensor,
    queue: Tensor | None = None,
    temperature: float | Tensor = 0.2,
    gather: Gather | None = None,
) -> Logits:
    r"""The logits of MoCo's InfoNCE (He et al. 2020, arXiv:1911.05722, eq. 1 and Algorithm 1).

    With a queue of K keys (MoCo v1/v2), query i scores its own key first, then every queued key::

        logits_i = [q_iᵀk_i, q_iᵀn_1, …, q_iᵀn_K] / τ,     target 0
        ℓ_i      = −log  exp(q_iᵀk_i / τ) / (exp(q_iᵀk_i / τ) + Σ_j exp(q_iᵀn_j / τ))

    Without one (MoCo v3, arXiv:2104.02057, Algorithm 1), query i scores every key of the batch and its
    target is its own, ``logits = q kᵀ / τ``; with ``gather``, the keys of every process, so each query
    meets the whole global batch's keys. ``F.cross_entropy(*moco_logits(q, k, queue, τ))`` equals
    ``info_nce(q, k, queue, τ)``.

    Args:
        query: (N, D) queries q (from the encoder trained by gradient descent).
        key: (N, D) keys k (from the momentum encoder), row-aligned with ``query``.
        queue: optional (K, D) negatives; when given the other keys of the batch are not used.
        temperature: τ > 0.
        gather: with no queue, contrast against every process's keys (see :class:`Gather`).
    Returns:
        :class:`Logits`: (N, 1 + K) with a queue, (N, N) or (N, W·N) without, in float32; every row
        ℓ2-normalised first, so a similarity is a cosine.
    """
    check_pair(query, key, ("query", "key"))
    check_temperature(temperature)
    if gather is not None and not gather.local:
        query, key, gather = gather(query), gather(key), None  # every process computes the global logits
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.float(), dim=1)
    if queue is None:
        keys, offset = (k, 0) if gather is None else (gather(k), gather.rank * len(q))
        return Logits(q @ keys.T / temperature, torch.arange(len(q), device=q.device) + offset)
    if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue must be (K, {q.shape[1]}) to match the embedding width, got {tuple(queue.shape)}")
    positive = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    negatives = q @ F.normalize(queue.float(), dim=1).T  # (N, K)
    logits = torch.cat([positive, negatives], dim=1) / temperature
    return Logits(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def collapsed_info_nce(negatives: int) -> float:
    """InfoNCE when query, key and every negative are the same point: log(1 + K) for K negatives, whatever τ is.

    All 1 + K logits are then equal, so the softmax is uniform over the candidates.
    """
    if negatives < 1:
        raise ValueError(f"a collapsed InfoNCE needs at least one negative, got {negatives}")
    return math.log(1 + negatives)
