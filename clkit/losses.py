"""Contrastive losses as plain functions of embeddings.

Every loss here takes tensors and returns a scalar tensor; nothing holds state, so the
same function serves a notebook cell computing a loss by hand and a training run.
Embeddings are ℓ2-normalised inside each loss, and similarities are computed in float32
even under mixed precision (a softmax over 1/τ-scaled logits is where bf16 hurts).
"""

from __future__ import annotations

import math
from typing import NamedTuple

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


# --- temperature: one anchor's softmax, in the open ---


class AnchorWeights(NamedTuple):
    """What NT-Xent does to one anchor at one temperature (see :func:`anchor_weights`).

    All vectors run over the anchor's 2N − 1 candidates (every other view of the batch), in
    the order of the stacked views ``[z1; z2]`` with the anchor itself left out.

    Attributes:
        similarities: (2N − 1,) float64 cosine similarities s_j of the anchor to each candidate.
        candidates: (2N − 1,) int64 index of each candidate among the 2N stacked views.
        positive: position of the positive (the anchor's partner view) among the candidates.
        probabilities: (2N − 1,) softmax weights P_j = exp(s_j/τ) / Σ_m exp(s_m/τ); they sum to 1.
        gradient: (2N − 1,) ∂ℓ/∂s_j: P_j/τ on a negative, (P_p − 1)/τ on the positive.
        loss: ℓ = −log P_p.
        correct: whether the positive is the most similar candidate (the anchor's contrastive accuracy).
        temperature: τ.
    """

    similarities: Tensor
    candidates: Tensor
    positive: int
    probabilities: Tensor
    gradient: Tensor
    loss: float
    correct: bool
    temperature: float

    @property
    def negatives(self) -> Tensor:
        """Boolean mask over the candidates, True on the 2N − 2 negatives."""
        mask = torch.ones(len(self.similarities), dtype=torch.bool)
        mask[self.positive] = False
        return mask

    def hardest_negatives(self, k: int = 1) -> Tensor:
        """Positions (among the candidates) of the ``k`` negatives most similar to the anchor, hardest first."""
        s = self.similarities.clone()
        s[self.positive] = float("-inf")
        return s.topk(min(k, len(s) - 1)).indices


def anchor_weights(z1: Tensor, z2: Tensor, anchor: int, temperature: float) -> AnchorWeights:
    r"""One anchor's softmax over its candidates in NT-Xent, with the gradient weight of each.

    The 2N views are stacked, ``z = [z1; z2]``; view ``anchor`` (0 ≤ k < 2N) has partner
    p = k ± N and 2N − 1 candidates j ≠ k, with cosine similarities s_j. Its loss (one term of
    :func:`nt_xent`) and the derivative with respect to each similarity are::

        P_j = exp(s_j/τ) / Σ_{m≠k} exp(s_m/τ)          (softmax weights, Σ_j P_j = 1)
        ℓ   = −log P_p
        ∂ℓ/∂s_j = P_j / τ              for a negative j ≠ p
        ∂ℓ/∂s_p = (P_p − 1) / τ = −Σ_{j≠p} P_j / τ    for the positive

    so each negative is pushed away with a weight ∝ P_j/τ (Wang & Liu 2021): the softmax decides
    which negatives matter. The two limits:

    * τ → 0: P puts all its mass on the most similar candidate; if that is a negative, all the
      gradient goes to it and τ·ℓ → max(0, s_hard − s_p), a triplet loss with margin 0 on the
      hardest negative; if the positive already wins, ℓ → 0 and nothing is learned.
    * τ → ∞: P → 1/(2N − 1) for every candidate, ℓ → log(2N − 1), and all negatives are pushed
      equally (and ever more weakly).

    Computed in float64 on the CPU, from the ℓ2-normalised embeddings, as :func:`nt_xent` does.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
        anchor: index of the anchor among the 2N stacked views (N + i is the second view of image i).
        temperature: τ > 0, finite.
    Returns:
        :class:`AnchorWeights`.
    """
    _check_pair(z1, z2, ("z1", "z2"))
    check_temperature(temperature)
    tau = float(temperature)
    if not math.isfinite(tau):
        raise ValueError(f"temperature must be finite, got {tau}; τ → ∞ is the uniform limit, try τ = 100")
    n = z1.shape[0]
    if not 0 <= anchor < 2 * n:
        raise ValueError(f"anchor must index one of the 2N = {2 * n} stacked views (0 to {2 * n - 1}), got {anchor}")
    z = F.normalize(torch.cat([z1, z2]).detach().double().cpu(), dim=1)
    candidates = torch.cat([torch.arange(anchor), torch.arange(anchor + 1, 2 * n)])
    similarities = z[candidates] @ z[anchor]
    partner = (anchor + n) % (2 * n)
    positive = int(partner - (partner > anchor))
    logits = similarities / tau
    probabilities = torch.softmax(logits, dim=0)
    gradient = probabilities / tau
    gradient[positive] -= 1 / tau
    loss = float(torch.logsumexp(logits, dim=0) - logits[positive])
    correct = bool(similarities.argmax() == positive)
    return AnchorWeights(similarities, candidates, positive, probabilities, gradient, loss, correct, tau)
