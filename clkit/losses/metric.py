"""Metric-learning losses: pairs, triplets and supervised contrast, as plain functions of embeddings.

These losses use labels (or a same/different flag) where the self-supervised losses of
:mod:`~clkit.losses.contrastive` use the two views of an image. The distance-based ones
(:func:`margin_contrastive`, :func:`triplet`, :func:`batch_triplet`) work on the embeddings as
given, in Euclidean distance: a margin is a length, so it is only meaningful for a known scale
(FaceNet ℓ2-normalises its embeddings, and its α = 0.2 is a distance on the unit sphere; pass
``F.normalize(z, dim=1)`` to do the same). :func:`supcon` normalises inside, as NT-Xent does.

Half-precision inputs are computed in float32; float32 and float64 inputs keep their dtype.
Distances have a finite gradient everywhere, coinciding points included (there the gradient
of ‖a − b‖ is taken to be 0). No loss reads a value back to the host.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import at_least_float32, check_pair, check_temperature

MININGS = ("semi-hard", "hard", "all")


def _safe_sqrt(d2: Tensor) -> Tensor:
    """√d² with a zero (not infinite) gradient where d² = 0."""
    positive = d2 > 0
    return torch.where(positive, torch.where(positive, d2, torch.ones_like(d2)).sqrt(), torch.zeros_like(d2))


def _check_margin(margin: float) -> None:
    if not margin >= 0:
        raise ValueError(
            f"margin must be ≥ 0, got {margin}: it is how much farther a negative must be than a positive "
            "(a negative margin would reward triplets that are already wrong)"
        )


def _check_labels(z: Tensor, labels: Tensor, name: str = "labels") -> None:
    if z.ndim != 2:
        raise ValueError(f"z must be 2-D (N, D) embeddings, got shape {tuple(z.shape)}")
    if len(z) == 0:
        raise ValueError(
            "z holds no embeddings (N = 0): the loss is a mean over anchors, and an empty batch has none"
        )
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), one per embedding, got shape {tuple(labels.shape)}")
    if len(labels) != len(z):
        raise ValueError(f"{name} must have one entry per row of z: got {len(labels)} for N = {len(z)}")


def pairwise_distances(z: Tensor, squared: bool = False) -> Tensor:
    """(N, N) Euclidean distances between the rows of ``z`` (N, D), with an exactly-zero diagonal.

    Computed from the Gram matrix, ‖a − b‖² = ‖a‖² + ‖b‖² − 2aᵀb, clamped at 0 against round-off.
    """
    z = at_least_float32(z)
    sq = (z * z).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2 * z @ z.T).clamp_min(0)
    d2 = d2.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), 0)
    return d2 if squared else _safe_sqrt(d2)


def _distance(a: Tensor, b: Tensor, squared: bool) -> Tensor:
    d2 = (a - b).pow(2).sum(dim=1)
    return d2 if squared else _safe_sqrt(d2)


def margin_contrastive(z1: Tensor, z2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    r"""The margin contrastive loss of pairs (Hadsell, Chopra & LeCun 2006, "Dimensionality Reduction by
    Learning an Invariant Mapping").

    Pair i is (z1[i], z2[i]) at Euclidean distance d_i = ‖z1[i] − z2[i]‖; ``same[i]`` is 1 for a similar
    pair, 0 for a dissimilar one. Similar pairs are pulled together, dissimilar ones pushed out to
    the margin m and no farther::

        L = (1 / N) Σ_i [ same_i · d_i²  +  (1 − same_i) · max(0, m − d_i)² ]

    No ½ factor: the paper writes ½ in front of both terms, so its loss is exactly half of this one.

    Args:
        z1, z2: (N, D) embeddings, row-aligned: row i of each form pair i (not normalised here).
        same: (N,) 1 (or True) for a similar pair, 0 (or False) for a dissimilar one.
        margin: m ≥ 0, the distance beyond which a dissimilar pair costs nothing.
    Returns:
        0-d tensor, the mean over the N pairs.
    """
    check_pair(z1, z2, ("z1", "z2"))
    _check_labels(z1, same, "same")
    _check_margin(margin)
    d = _distance(at_least_float32(z1), at_least_float32(z2), squared=False)
    s = same.to(d.dtype)
    return (s * d.pow(2) + (1 - s) * (margin - d).clamp_min(0).pow(2)).mean()


def triplet(
    anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 0.2, squared: bool = False
) -> Tensor:
    r"""The triplet loss of FaceNet (Schroff, Kalenichenko & Philbin 2015, arXiv:1503.03832).

    Each anchor should be closer to its positive than to its negative by at least the margin α::

        L = (1 / N) Σ_i max(0, d(a_i, p_i) − d(a_i, n_i) + α)

    d is the Euclidean distance, or its square with ``squared=True`` (the paper's eq. 1 uses ‖·‖²).
    The loss is 0 once every negative is beyond its positive by α.

    Args:
        anchor, positive, negative: (N, D) embeddings, row-aligned: row i of each is triplet i.
        margin: α ≥ 0 (0.2 in the paper, on unit-norm embeddings).
        squared: compare squared distances.
    Returns:
        0-d tensor, the mean over the N triplets (the ones already satisfied count as 0).
    """
    check_pair(anchor, positive, ("anchor", "positive"))
    check_pair(anchor, negative, ("anchor", "negative"))
    _check_margin(margin)
    a, p, n = at_least_float32(anchor), at_least_float32(positive), at_least_float32(negative)
    return (_distance(a, p, squared) - _distance(a, n, squared) + margin).clamp_min(0).mean()


def batch_triplet(
    z: Tensor, labels: Tensor, margin: float = 0.2, mining: str = "semi-hard", squared: bool = False
) -> Tensor:
    r"""The triplet loss with triplets mined inside a labelled batch.

    Rows with the same label are positives of each other (an anchor is not its own positive);
    rows with another label are negatives. With D the (N, N) distance matrix and ℓ(a, p, n) =
    max(0, D[a, p] − D[a, n] + α):

    - ``"hard"`` (batch-hard; Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for
      Person Re-Identification", arXiv:1703.07737): each anchor with its farthest positive and its
      closest negative, L = mean_a max(0, max_p D[a, p] − min_n D[a, n] + α);
    - ``"semi-hard"`` (FaceNet, Schroff et al. 2015, arXiv:1503.03832): each (anchor, positive) pair
      with the closest negative that is farther than the positive, n* = argmin {D[a, n] : D[a, n] >
      D[a, p]}, or the closest negative overall when none is farther; L = mean over (a, p) pairs of
      ℓ(a, p, n*);
    - ``"all"``: every valid triplet, L = mean of ℓ(a, p, n) over the triplets with ℓ > 0 (the
      satisfied ones would only dilute the mean).

    Anchors with no positive or no negative in the batch are skipped. When no triplet is left
    (or, for ``"all"``, none has a positive loss), the loss is 0, still attached to the graph.

    Args:
        z: (N, D) embeddings (not normalised here).
        labels: (N,) class labels (any dtype that compares with ``==``).
        margin: α ≥ 0.
        mining: ``"semi-hard"``, ``"hard"`` or ``"all"``.
        squared: use squared distances.
    Returns:
        0-d tensor.
    """
    _check_labels(z, labels)
    _check_margin(margin)
    if mining not in MININGS:
        raise ValueError(f"mining must be one of {MININGS}, got {mining!r}")
    d = pairwise_distances(z, squared)  # (N, N)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    pos, neg = same & ~eye, ~same  # (N, N) each
    inf = torch.full_like(d, float("inf"))
    zero = d.sum() * 0
    if mining == "hard":
        valid = pos.any(dim=1) & neg.any(dim=1)  # (N,)
        hardest_pos = torch.where(pos, d, torch.zeros_like(d)).amax(dim=1)
        hardest_neg = torch.where(neg, d, inf).amin(dim=1)
        hardest_neg = torch.where(valid, hardest_neg, torch.zeros_like(hardest_neg))
        loss = torch.where(valid, (hardest_pos - hardest_neg + margin).clamp_min(0), 0.0)
        return loss.sum() / valid.sum().clamp_min(1) + zero
    if mining == "semi-hard":
        valid = pos & neg.any(dim=1, keepdim=True)  # (N, N): the (a, p) pairs that get a negative
        d_an = torch.where(neg, d, inf)[:, None, :]  # (N, 1, N): D[a, n], ∞ for non-negatives
        # (N, N): for each (a, p), the closest negative farther than p (∞ when there is none)
        farther = torch.where(d_an > d[:, :, None], d_an, float("inf")).amin(dim=2)
        closest = d_an.amin(dim=2).expand_as(d)  # (N, N)
        chosen = torch.where(torch.isfinite(farther), farther, closest)
        chosen = torch.where(valid, chosen, torch.zeros_like(chosen))
        loss = torch.where(valid, (d - chosen + margin).clamp_min(0), torch.zeros_like(d))
        return loss.sum() / valid.sum().clamp_min(1) + zero
    valid = pos[:, :, None] & neg[:, None, :]  # (N, N, N): (a, p, n)
    loss = torch.where(valid, (d[:, :, None] - d[:, None, :] + margin).clamp_min(0), 0.0)
    return loss.sum() / (loss > 0).sum().clamp_min(1) + zero


def supcon(z: Tensor, labels: Tensor, temperature: float | Tensor = 0.1) -> Tensor:
    r"""The supervised contrastive loss (Khosla et al. 2020, "Supervised Contrastive Learning",
    arXiv:2004.11362), in its L_out form (eq. 2).

    For anchor i, P(i) are the other rows with its label and A(i) all rows but i itself::

        ℓ_i = −(1 / |P(i)|) Σ_{p ∈ P(i)} log  exp(z_i·z_p / τ) / Σ_{a ∈ A(i)} exp(z_i·z_a / τ)
        L   = mean of ℓ_i over the anchors with |P(i)| > 0

    on ℓ2-normalised z. Anchors with no positive are skipped; if none has one, L = 0 (on the graph).

    Each image contributes as many rows as it has views: for two views, pass
    ``z = torch.cat([z1, z2])`` and ``labels = torch.cat([y, y])``. With one label per image
    (``y = arange(N)``), each view's only positive is its partner and L is exactly NT-Xent
    (:func:`~clkit.losses.contrastive.nt_xent`) at the same τ: SimCLR is the special case.

    Args:
        z: (M, D) embeddings, every view of every image (normalised here).
        labels: (M,) labels, repeated for the views of one image.
        temperature: τ > 0 (a float, or a 0-d tensor when τ is learned).
    Returns:
        0-d tensor (float32, or float64 for float64 input).
    """
    _check_labels(z, labels)
    check_temperature(temperature)
    u = F.normalize(at_least_float32(z), dim=1)
    if len(u) == 1:  # no other row: no positive, and a softmax over an empty A(i)
        return u.sum() * 0
    eye = torch.eye(len(u), dtype=torch.bool, device=u.device)
    logits = (u @ u.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits.log_softmax(dim=1).masked_fill(eye, 0)  # over A(i); the diagonal is never used
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(dim=1)
    per_anchor = -(log_prob * pos).sum(dim=1) / n_pos.clamp_min(1)
    has_pos = n_pos > 0
    return per_anchor.sum() / has_pos.sum().clamp_min(1) + u.sum() * 0
