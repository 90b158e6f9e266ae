"""Metric-learning losses: pairs, triplets and supervised contrast, as plain functions of embeddings.

These losses use labels (or a same/different flag) where the self-supervised losses of
:mod:`~clkit.losses.contrastive` use the two views of an image. The distance-based ones
(:func:`margin_contrastive`, :func:`batch_margin_contrastive`, :func:`triplet`, :func:`batch_triplet`)
work on the embeddings as given, in Euclidean distance: a margin is a length, so it is only meaningful
for a known scale (FaceNet ℓ2-normalises its embeddings, and its α = 0.2 is a distance on the unit
sphere; pass ``F.normalize(z, dim=1)`` to do the same). :func:`supcon` normalises inside, as NT-Xent does.

:func:`nt_logistic` and :func:`margin_triplet` are the two losses SimCLR compared NT-Xent with
(arXiv:2002.05709, Tables 2 and 4), on the two views' similarities uᵀv. They and
:func:`batch_margin_contrastive`, which the Siamese methods train on, return :class:`MetricTerms`.

Half-precision inputs are computed in float32; float32 and float64 inputs keep their dtype.
Distances have a finite gradient everywhere, coinciding points included (there the gradient
of ‖a − b‖ is taken to be 0). No loss reads a value back to the host.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import at_least_float32, check_pair, check_temperature

MININGS = ("semi-hard", "hard", "all")


class MetricTerms(NamedTuple):
    """A metric loss and what a run should watch of it (0-d tensors).

    Attributes:
        loss: the total to train on (it carries the gradient).
        positive, negative: the mean term of the positive pairs and of the negatives; None where the loss
            does not split so (a triplet's hinge of their difference).
        active: detached, the share of the loss's hinge terms above zero: of the pairs or triplets that still
            move the embeddings, which mining keeps up; None for a smooth loss, whose every term counts.
    """

    loss: Tensor
    positive: Tensor | None
    negative: Tensor | None
    active: Tensor | None


def _safe_sqrt(d2: Tensor) -> Tensor:
    """√d² with a zero (not infinite) gradient where d² = 0."""
    positive = d2 > 0
    return torch.where(positive, torch.where(positive, d2, torch.ones_like(d2)).sqrt(), torch.zeros_like(d2))


def check_margin(margin: float) -> None:
    """Refuse a margin below 0 (or NaN)."""
    if not margin >= 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}: it is how much farther a negative must be than a "
                         "positive (a negative margin would reward triplets that are already wrong)")


def _check_labels(z: Tensor, labels: Tensor, name: str = "labels") -> None:
    if z.ndim != 2:
        raise ValueError(f"z must be 2-D (N, D) embeddings, got shape {tuple(z.shape)}")
    if len(z) == 0:
        raise ValueError("z holds no embeddings (N = 0): the loss is a mean over anchors, and an empty batch has none")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), one per embedding, got shape {tuple(labels.shape)}")
    if len(labels) != len(z):
        raise ValueError(f"{name} must have one entry per row of z: got {len(labels)} for N = {len(z)}")


def check_mining(mining: str) -> None:
    """Refuse a mining other than those of :data:`MININGS`."""
    if mining not in MININGS:
        raise ValueError(f"mining must be one of {MININGS}, got {mining!r}")


def pairwise_distances(z: Tensor, squared: bool = False) -> Tensor:
    """(N, N) Euclidean distances between the rows of ``z`` (N, D), with an exactly-zero diagonal.

    Computed from the Gram matrix, ‖a − b‖² = ‖a‖² + ‖b‖² − 2aᵀb, clamped at 0 against round-off.
    """
    z = at_least_float32(z)
    with torch.autocast(z.device.type, enabled=False):  # bf16 autocast would round the Gram matrix to 3 digits
        gram = z @ z.T
    sq = (z * z).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2 * gram).clamp_min(0)
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
    check_margin(margin)
    d = _distance(at_least_float32(z1), at_least_float32(z2), squared=False)
    s = same.to(d.dtype)
    return (s * d.pow(2) + (1 - s) * (margin - d).clamp_min(0).pow(2)).mean()


def batch_margin_contrastive(z: Tensor, labels: Tensor, margin: float = 1.0, normalize: bool = False) -> MetricTerms:
    r"""The margin contrastive loss (Hadsell et al. 2006) over every pair of a labelled batch.

    Rows with the same label are similar pairs, rows with different labels dissimilar ones; each kind
    is averaged apart, as if the pairs were drawn half similar, half dissimilar::

        L = mean_{similar (i, j)} d_ij²  +  mean_{dissimilar (i, j)} max(0, m − d_ij)²

    (twice :func:`margin_contrastive` of such a draw): of two views' pairs, N are similar and 2N(N − 1)
    not, so one mean over all pairs would all but ignore the similar ones.

    Args:
        z: (M, D) embeddings (normalised here only with ``normalize``).
        labels: (M,) labels, repeated for the views of one image.
        margin: m ≥ 0.
        normalize: ℓ2-normalise z first (distances then lie in [0, 2]).
    Returns:
        :class:`MetricTerms`: the two means as ``positive`` and ``negative``, and as ``active`` the share of
        dissimilar pairs closer than m. A kind of pair the batch lacks contributes 0.
    """
    _check_labels(z, labels)
    check_margin(margin)
    u = F.normalize(at_least_float32(z), dim=1) if normalize else at_least_float32(z)
    d = pairwise_distances(u)
    same = labels[:, None] == labels[None, :]
    pos, neg = same & ~torch.eye(len(u), dtype=torch.bool, device=u.device), ~same
    hinge = (margin - d).clamp_min(0)
    n_neg = neg.sum().clamp_min(1)
    positive = torch.where(pos, d.pow(2), 0).sum() / pos.sum().clamp_min(1)
    negative = torch.where(neg, hinge.pow(2), 0).sum() / n_neg
    active = (neg & (hinge > 0)).sum().to(u.dtype) / n_neg
    return MetricTerms(positive + negative, positive, negative, active)


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
    check_margin(margin)
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
    check_margin(margin)
    check_mining(mining)
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


def _similarities(z1: Tensor, z2: Tensor, labels: Tensor | None, normalize: bool) -> tuple[Tensor, Tensor, Tensor]:
    """The (2N, 2N) similarities uᵀv of the views [z1; z2], and which pairs are positives and negatives."""
    check_pair(z1, z2, ("z1", "z2"))
    if labels is not None:
        _check_labels(z1, labels)
    u = at_least_float32(torch.cat([z1, z2]))
    u = F.normalize(u, dim=1) if normalize else u
    y = (torch.arange(len(z1), device=u.device) if labels is None else labels).repeat(2)  # no labels: own class
    same = y[:, None] == y[None, :]
    with torch.autocast(u.device.type, enabled=False):  # bf16 autocast would round uᵀv to 3 digits, and tie them
        s = u @ u.T
    return s, same & ~torch.eye(len(u), dtype=torch.bool, device=u.device), ~same


def _mine(s: Tensor, pos: Tensor, neg: Tensor, mining: str) -> tuple[Tensor, Tensor, Tensor]:
    """The triples a mining keeps (see :func:`nt_logistic`), as (s_ap, s_an, kept), each (M, M) or (M, 1)."""
    neg_s = torch.where(neg, s, float("-inf"))
    has_neg = neg.any(dim=1, keepdim=True)
    if mining == "hard":
        s_ap = torch.where(pos, s, float("inf")).amin(dim=1, keepdim=True)
        s_an, kept = neg_s.amax(dim=1, keepdim=True), pos.any(dim=1, keepdim=True) & has_neg
    else:
        ranked = neg_s.sort(dim=1).values  # each anchor's negatives, ascending; the non-negatives' −∞ first
        below = torch.searchsorted(ranked, s.contiguous())  # (M, M): entries strictly less similar than p
        candidate = ranked.gather(1, (below - 1).clamp_min(0))
        semi_hard = (below > 0) & torch.isfinite(candidate)
        s_ap, s_an, kept = s, torch.where(semi_hard, candidate, ranked[:, -1:]), pos & has_neg
    # finite placeholders where nothing is kept, so that no ±∞ reaches the loss or its gradient
    return torch.where(kept, s_ap, 0), torch.where(kept, s_an, 0), kept


def nt_logistic(z1: Tensor, z2: Tensor, temperature: float | Tensor = 0.5, mining: str = "all",
                normalize: bool = True, labels: Tensor | None = None) -> MetricTerms:
    r"""SimCLR's NT-Logistic loss: each pair of views classified as positive or negative by σ(uᵀv / τ).

    Table 2 of arXiv:2002.05709 gives the loss of one triple (anchor u, positive v⁺, negative v⁻) as
    −[log σ(uᵀv⁺/τ) + log σ(−uᵀv⁻/τ)] on ℓ2-normalised vectors; L is its mean over the triples::

        ℓ(a, p, n) = softplus(−s_ap / τ) + softplus(s_an / τ),      s = uᵀv

    Each of the 2N views is an anchor; its positive is its other view (with ``labels``, every view of its
    class), its negatives the 2N − 2 views of other images (classes). Averaging triples weighs the positive
    term and the mean negative term equally per anchor (word2vec's negative sampling, which the paper
    cites, sums its k negatives instead). The paper's comparison took negatives from one view only
    (appendix B); the kit takes both, as NT-Xent does, so the losses weigh the same pairs differently.

    Args:
        z1, z2: (N, D) embeddings of the two views, row i of each from image i.
        temperature: τ > 0 (the paper tuned it over 0.1–1).
        mining: ``"all"`` (every triple); ``"semi-hard"`` (Table 4's "sh", after FaceNet: per anchor and
            positive, the most similar negative still less similar than the positive, or the most similar
            one if none is); ``"hard"`` (per anchor, its least similar positive, most similar negative).
        normalize: ℓ2-normalise the embeddings (the paper's "N"); False compares raw dot products.
        labels: (N,) one label per image, or None for each image its own class.
    Returns:
        :class:`MetricTerms`, the positive and negative means apart (no hinge: no ``active``); 0 for N = 1.
    """
    check_temperature(temperature)
    check_mining(mining)
    s, pos, neg = _similarities(z1, z2, labels, normalize)
    if mining == "all":  # Σ_(a,p,n) [pull(a, p) + push(a, n)] = Σ_a |N(a)|·Σ_p pull(a, p) + |P(a)|·Σ_n push(a, n)
        n_pos, n_neg = pos.sum(dim=1), neg.sum(dim=1)
        triples = (n_pos * n_neg).sum().clamp_min(1)
        positive = (n_neg * torch.where(pos, F.softplus(-s / temperature), 0).sum(dim=1)).sum() / triples
        negative = (n_pos * torch.where(neg, F.softplus(s / temperature), 0).sum(dim=1)).sum() / triples
    else:
        s_ap, s_an, kept = _mine(s, pos, neg, mining)
        count = kept.sum().clamp_min(1)
        positive = torch.where(kept, F.softplus(-s_ap / temperature), 0).sum() / count
        negative = torch.where(kept, F.softplus(s_an / temperature), 0).sum() / count
    return MetricTerms(positive + negative, positive, negative, None)


def margin_triplet(z1: Tensor, z2: Tensor, margin: float = 0.1, mining: str = "all", normalize: bool = True,
                   labels: Tensor | None = None) -> MetricTerms:
    r"""SimCLR's Margin Triplet loss: each positive more similar to the anchor than each negative by m.

    Table 2 of arXiv:2002.05709 gives the loss of one triple as max(uᵀv⁻ − uᵀv⁺ + m, 0) on ℓ2-normalised
    vectors; L is its mean over the triples the mining keeps, chosen as in :func:`nt_logistic`::

        ℓ(a, p, n) = max(0, s_an − s_ap + m)

    On the unit sphere ‖u − v‖² = 2 − 2uᵀv, so ℓ is half FaceNet's triplet on squared distances with
    α = 2m: :func:`batch_triplet` (``squared=True``) of the normalised views is exactly 2·L for
    ``"semi-hard"`` and ``"hard"``, and for ``"all"``, which averages its active triplets only, 2·L / active.

    Args:
        z1, z2: (N, D) embeddings of the two views, row i of each from image i.
        margin: m ≥ 0, a difference of cosines (SimCLR tuned it over 0–1.6; FaceNet's α = 0.2 is m = 0.1).
        mining: ``"all"``, ``"semi-hard"`` (Table 4's "sh") or ``"hard"``, as for :func:`nt_logistic`.
        normalize: ℓ2-normalise the embeddings; False compares raw dot products.
        labels: (N,) one label per image, or None for each image its own class.
    Returns:
        :class:`MetricTerms` with ``active``, the share of the kept triples whose hinge is above 0.
    """
    check_margin(margin)
    check_mining(mining)
    s, pos, neg = _similarities(z1, z2, labels, normalize)
    if mining == "all":
        # Σ_n max(0, s_an − t), t = s_ap − m: a suffix sum of each anchor's sorted negatives, no (a, p, n) cube
        ranked = torch.where(neg, s, float("-inf")).sort(dim=1).values
        threshold = s - margin  # (M, M), one per (a, p)
        first = torch.searchsorted(ranked, threshold.contiguous(), side="right")  # the first negative above t
        suffix = F.pad(torch.where(ranked.isfinite(), ranked, 0).flip(1).cumsum(1).flip(1), (0, 1))
        above = ranked.shape[1] - first
        hinges = suffix.gather(1, first) - above * threshold
        triples = (pos * neg.sum(dim=1, keepdim=True)).sum().clamp_min(1)
        loss = torch.where(pos, hinges, 0).sum() / triples
        active = torch.where(pos, above, 0).sum().to(s.dtype) / triples
    else:
        s_ap, s_an, kept = _mine(s, pos, neg, mining)
        hinge = (s_an - s_ap + margin).clamp_min(0)
        count = kept.sum().clamp_min(1)
        loss = torch.where(kept, hinge, 0).sum() / count
        active = (kept & (hinge > 0)).sum().to(s.dtype) / count
    return MetricTerms(loss, None, None, active)
