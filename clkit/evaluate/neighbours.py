"""Neighbours and pairs: the audit of an embedding space (its nearest, closest and farthest points)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class Neighbours(NamedTuple):
    """Each query's k nearest bank points, most similar first.

    Attributes:
        indices: (M, k) int64, rows of the bank.
        similarities: (M, k) float32 cosine similarities, descending along each row.
    """

    indices: Tensor
    similarities: Tensor


@torch.no_grad()
def nearest_neighbours(
    queries: Tensor,
    bank: Tensor | None = None,
    k: int = 8,
    skip: Tensor | None = None,
    chunk_size: int = 1024,
) -> Neighbours:
    """The k most cosine-similar bank points of every query, exactly (a chunked matrix product).

    Args:
        queries: (M, D) features.
        bank: (N, D) features to search; ``None`` searches ``queries`` among themselves, each
            point leaving itself out (pass the same tensor as ``bank`` to keep it).
        k: neighbours per query, at most the number of candidates.
        skip: optional (M,) int bank rows, one per query, to leave out of its list: the query's
            own row when the queries are drawn from the bank.
    Returns:
        :class:`Neighbours` with (M, k) ``indices`` and ``similarities``.
    """
    if bank is None:
        bank, skip = queries, torch.arange(len(queries))
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f"queries and bank must be (M, D) and (N, D) with the same D, got {tuple(queries.shape)} "
            f"and {tuple(bank.shape)}"
        )
    if skip is not None and skip.shape != (len(queries),):
        raise ValueError(f"skip must hold one bank row per query, shape ({len(queries)},), got {tuple(skip.shape)}")
    candidates = len(bank) - int(skip is not None)
    if not 1 <= k <= candidates:
        raise ValueError(f"k must be between 1 and the number of candidates ({candidates}), got {k}")
    b = F.normalize(bank.float(), dim=1)
    indices, similarities = [], []
    for start in range(0, len(queries), chunk_size):
        q = F.normalize(queries[start : start + chunk_size].float().to(b.device), dim=1)
        sim = q @ b.T
        if skip is not None:
            rows = torch.arange(len(q), device=sim.device)
            sim[rows, skip[start : start + chunk_size].to(sim.device)] = float("-inf")
        s, i = sim.topk(k, dim=1)
        indices.append(i.cpu())
        similarities.append(s.cpu())
    return Neighbours(torch.cat(indices), torch.cat(similarities))


class Pairs(NamedTuple):
    """Pairs of points (i, j), i < j, with their cosine similarity, in the order they were asked for.

    Attributes:
        pairs: (K, 2) int64 row indices.
        similarities: (K,) float32 cosine similarities.
    """

    pairs: Tensor
    similarities: Tensor


@torch.no_grad()
def extreme_pairs(
    z: Tensor,
    labels: Tensor,
    k: int = 8,
    same_class: bool = False,
    most_similar: bool = True,
    chunk_size: int = 1024,
) -> Pairs:
    """The k most (or least) cosine-similar pairs among pairs of the same (or of different) classes.

    Every unordered pair i < j is considered once; the search runs over row chunks, so the
    N × N similarity matrix is never held whole. Fewer than k pairs come back when fewer exist.

    Args:
        z: (N, D) features; labels: (N,) int class labels.
        same_class: pairs within a class (True) or across classes (False).
        most_similar: the highest similarities first (True) or the lowest first (False).
    Returns:
        :class:`Pairs`, sorted from the most extreme pair.
    """
    if z.ndim != 2 or len(z) != len(labels):
        raise ValueError(f"z must be (N, D) with one label per row, got {tuple(z.shape)} and {len(labels)} labels")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    x = F.normalize(z.float(), dim=1)
    y = labels.to(x.device)
    sign = 1.0 if most_similar else -1.0
    best_scores, best_pairs = [], []
    columns = torch.arange(len(x), device=x.device)
    for start in range(0, len(x), chunk_size):
        rows = columns[start : start + chunk_size]
        score = sign * (x[rows] @ x.T)
        valid = (columns[None, :] > rows[:, None]) & ((y[rows][:, None] == y[None, :]) == same_class)
        score = score.masked_fill(~valid, float("-inf"))
        top, flat = score.flatten().topk(min(k, score.numel()))
        keep = top > float("-inf")
        best_scores.append(top[keep])
        best_pairs.append(torch.stack([rows[flat[keep] // len(x)], flat[keep] % len(x)], dim=1))
    scores, pairs = torch.cat(best_scores), torch.cat(best_pairs)
    order = scores.argsort(descending=True)[:k]
    return Pairs(pairs[order].cpu(), (sign * scores[order]).cpu())


def cross_class_pairs(z: Tensor, labels: Tensor, k: int = 8) -> Pairs:
    """The k most similar pairs of points from different classes: candidate false negatives.

    A contrastive loss pushes every other image away, including the ones that look alike; the
    pairs it failed to push apart are where the space disagrees with the labels (or the labels
    with the images). (N, D) features, (N,) labels → :class:`Pairs`, most similar first.
    """
    return extreme_pairs(z, labels, k, same_class=False, most_similar=True)


def within_class_pairs(z: Tensor, labels: Tensor, k: int = 8) -> Pairs:
    """The k least similar pairs of points from the same class: what the space splits apart.

    (N, D) features, (N,) labels → :class:`Pairs`, least similar first.
    """
    return extreme_pairs(z, labels, k, same_class=True, most_similar=False)
