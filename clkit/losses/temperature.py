"""One anchor's softmax in NT-Xent, in the open: what the temperature does to each negative.

Used by the temperature lesson to show, for a single anchor, the softmax weight and the
gradient weight NT-Xent puts on every candidate.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import check_pair, check_temperature


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
    check_pair(z1, z2, ("z1", "z2"))
    check_temperature(temperature)
    tau = float(temperature)
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
