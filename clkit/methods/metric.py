"""Metric-learning methods: supervised contrast, and the Siamese losses NT-Xent was measured against.

:class:`SupCon` is the zoo's supervised reference: SimCLR's loss with every view of the same class
as a positive, "what if we had labels". The Siamese methods train one network on two views with the
older losses of metric learning, either self-supervised (the positive of a view is the other view of
its image, the negatives are the other images: SimCLR's Table 4) or with labels (the positives are
the same class, as for Hadsell et al. and FaceNet):

- :class:`MarginContrastive`: pairs, similar ones pulled together, dissimilar ones pushed to a margin;
- :class:`Triplet`: each positive more similar than each negative by a margin, with mining;
- :class:`NTLogistic`: every pair of views classified as positive or negative by a logistic.

A hinge stops pushing once its margin is met, so the share of pairs or triplets still active (logged as
``active``) falls as a run learns; mining picks the ones that are, which is what it changes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from clkit.data import Batch
from clkit.losses.contrastive import check_temperature
from clkit.losses.metric import (
    MetricTerms,
    batch_margin_contrastive,
    check_margin,
    check_mining,
    margin_triplet,
    nt_logistic,
    supcon,
)
from clkit.methods.base import JointEmbedding, StepOutput

POSITIVES = ("views", "labels")


def _labels(method: JointEmbedding, batch: Batch, need: str, instead: str = "") -> Tensor:
    """The batch's labels, or a ValueError that says who needs them and what to do."""
    if batch.labels is None:
        raise ValueError(f"{type(method).__name__} {need}: the batch carries none (train it on a labelled "
                         f"dataset{instead})")
    return batch.labels


class SupCon(JointEmbedding):
    r"""Supervised contrastive learning (Khosla et al. 2020, arXiv:2004.11362): SimCLR with labels.

    Every view of every image in the batch is an anchor; its positives P(i) are all the other views
    of its class (its own other view included), and the softmax runs over all other views A(i)::

        ℓ_i = −(1 / |P(i)|) Σ_{p ∈ P(i)} log  exp(z_i·z_p / τ) / Σ_{a ∈ A(i)} exp(z_i·z_a / τ)

    on ℓ2-normalised z (the paper's L_out, eq. 2). With one class per image it is SimCLR's NT-Xent.

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`; any number of views (the paper: two).
        temperature: τ > 0 (the paper: 0.1).
        head: the head's settings, as for :class:`~clkit.methods.JointEmbedding`.
    """

    def __init__(self, backbone: Any, augment: Any, *, temperature: float = 0.1, **head: Any):
        super().__init__(backbone, augment, **head)
        check_temperature(temperature)
        self.temperature = temperature

    def collapsed_loss(self, batch_size: int) -> float | None:
        """log(VN − 1) for V views of N images (NT-Xent's log(2N − 1)): at collapse each positive gets 1/(VN − 1)."""
        return math.log(len(self.recipes) * batch_size - 1) if batch_size >= 2 else None

    def forward(self, batch: Batch) -> StepOutput:
        labels = _labels(self, batch, "trains on classes and needs labels")
        z = self.encode(self.views(batch))
        views = torch.cat(z)
        per_view = labels.repeat(len(z))
        loss = supcon(views, per_view, self.temperature)
        # how many positives an anchor has: 1 in SimCLR, about 2N / classes − 1 here
        positives = (per_view[:, None] == per_view[None, :]).sum(dim=1).float().mean() - 1
        return StepOutput(loss, {"positives_per_anchor": positives})


class Siamese(JointEmbedding):
    """What the Siamese methods share: two views through one network, positives from views or labels.

    A subclass defines :meth:`terms`, its loss of the two views' embeddings; ``forward`` logs every
    term the loss reports (``positive``, ``negative``, ``active``).

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`; exactly two views.
        positives: ``"views"`` (self-supervised: a view's positive is the other view of its image, the
            negatives are the other images) or ``"labels"`` (every view of the same class is a positive,
            the other classes are the negatives).
        normalize: ℓ2-normalise z in the loss (SimCLR's Table 5 compares NT-Xent with and without; its Table 4
            normalises every loss).
        head: the head's settings, as for :class:`~clkit.methods.JointEmbedding`.
    """

    def __init__(self, backbone: Any, augment: Any, *, positives: str = "views", normalize: bool = True,
                 **head: Any):
        super().__init__(backbone, augment, **head)
        if len(self.recipes) != 2:
            raise ValueError(f"{type(self).__name__} compares two views, got {len(self.recipes)} recipes")
        if positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {positives!r}")
        self.positives, self.normalize = positives, normalize

    def terms(self, z1: Tensor, z2: Tensor, labels: Tensor | None) -> MetricTerms:
        """The loss of the views' embeddings (N, D) each, with one label per image (None: each its own class)."""
        raise NotImplementedError(f"{type(self).__name__} must define terms(z1, z2, labels)")

    def forward(self, batch: Batch) -> StepOutput:
        if self.positives == "labels":
            labels = _labels(self, batch, "with positives='labels' needs labels", ", or take positives='views'")
        else:
            labels = None  # each image its own class: its other view is its positive
        z1, z2 = self.encode(self.views(batch))
        terms = self.terms(z1, z2, labels)
        logs = {name: value.detach() for name, value in terms._asdict().items()
                if name != "loss" and value is not None}
        return StepOutput(terms.loss, logs)


class MarginContrastive(Siamese):
    r"""The margin contrastive loss of Hadsell, Chopra & LeCun 2006 over every pair of views in the batch::

        L = mean_{similar} d²  +  mean_{dissimilar} max(0, m − d)²,     d = ‖z_i − z_j‖

    Similar pairs are pulled together; dissimilar ones are pushed out to the margin and then left alone.
    Logged: the two means (``positive``, ``negative``) and the share of dissimilar pairs inside the margin.

    Args:
        margin: m ≥ 0, a Euclidean distance (on the unit sphere distances lie in [0, 2]; a random pair in
            many dimensions sits near √2).
        positives, normalize, head: as for :class:`Siamese`.
    """

    def __init__(self, backbone: Any, augment: Any, *, margin: float = 1.0, positives: str = "views",
                 normalize: bool = True, **head: Any):
        super().__init__(backbone, augment, positives=positives, normalize=normalize, **head)
        check_margin(margin)
        self.margin = margin

    def collapsed_loss(self, batch_size: int) -> float | None:
        """m²: every dissimilar pair at distance 0 (None for one image, which has no dissimilar pair)."""
        return self.margin**2 if batch_size >= 2 and self.margin > 0 else None

    def terms(self, z1: Tensor, z2: Tensor, labels: Tensor | None) -> MetricTerms:
        image_labels = torch.arange(len(z1), device=z1.device) if labels is None else labels
        return batch_margin_contrastive(torch.cat([z1, z2]), image_labels.repeat(2), self.margin, self.normalize)


class Triplet(Siamese):
    r"""The triplet loss with mining, on similarities (SimCLR's "Margin Triplet", arXiv:2002.05709 Table 2)::

        ℓ(a, p, n) = max(0, s_an − s_ap + m),     s = uᵀv

    averaged over the triples the mining keeps. On ℓ2-normalised z this is FaceNet's loss
    (Schroff et al. 2015, arXiv:1503.03832) on squared distances with α = 2m, halved.

    Args:
        margin: m ≥ 0, a difference of cosines (FaceNet's α = 0.2 is m = 0.1).
        mining: ``"semi-hard"`` (FaceNet, and SimCLR's "sh": the most similar negative that is still
            less similar than the positive), ``"hard"`` (each anchor's hardest positive and negative,
            Hermans et al. 2017) or ``"all"`` (every triple, SimCLR's plain margin loss).
        positives, normalize, head: as for :class:`Siamese`.
    """

    def __init__(self, backbone: Any, augment: Any, *, margin: float = 0.1, mining: str = "semi-hard",
                 positives: str = "views", normalize: bool = True, **head: Any):
        super().__init__(backbone, augment, positives=positives, normalize=normalize, **head)
        check_margin(margin)
        check_mining(mining)
        self.margin, self.mining = margin, mining

    def collapsed_loss(self, batch_size: int) -> float | None:
        """m, every similarity being equal, for ``mining="all"`` (None for one image, which has no negative).

        Mined losses are no telltale: a semi-hard negative sits just past its positive, so a healthy
        run's loss stays near m too.
        """
        return self.margin if self.mining == "all" and batch_size >= 2 and self.margin > 0 else None

    def terms(self, z1: Tensor, z2: Tensor, labels: Tensor | None) -> MetricTerms:
        return margin_triplet(z1, z2, self.margin, self.mining, self.normalize, labels)


class NTLogistic(Siamese):
    r"""SimCLR's NT-Logistic loss (arXiv:2002.05709, Table 2): a logistic on uᵀv / τ tells positive pairs
    (label 1) from negatives (label 0)::

        ℓ(a, p, n) = −log σ(s_ap / τ) − log σ(−s_an / τ),     s = uᵀv

    averaged over the triples the mining keeps. Unlike NT-Xent's softmax it does not weigh a negative
    by how hard it is relative to the others, which is why the paper needed semi-hard mining to bring it
    within reach (Table 4). Logged: the positive and negative terms.

    Args:
        temperature: τ > 0 (the paper tuned it over 0.1–1).
        mining: ``"all"`` (the loss as defined), ``"semi-hard"`` (Table 4's "sh") or ``"hard"``, as for
            :class:`Triplet`.
        positives, normalize, head: as for :class:`Siamese`.
    """

    def __init__(self, backbone: Any, augment: Any, *, temperature: float = 0.5, mining: str = "all",
                 positives: str = "views", normalize: bool = True, **head: Any):
        super().__init__(backbone, augment, positives=positives, normalize=normalize, **head)
        check_temperature(temperature)
        check_mining(mining)
        self.temperature, self.mining = temperature, mining

    def collapsed_loss(self, batch_size: int) -> float | None:
        """softplus(−1/τ) + softplus(1/τ), every cosine being 1, for ``mining="all"`` on normalised z (None else:
        unnormalised, a collapsed point's dot product is its squared length; mined, see :class:`Triplet`)."""
        if self.mining != "all" or not self.normalize or batch_size < 2:
            return None
        return math.log1p(math.exp(-1 / self.temperature)) * 2 + 1 / self.temperature

    def terms(self, z1: Tensor, z2: Tensor, labels: Tensor | None) -> MetricTerms:
        return nt_logistic(z1, z2, self.temperature, self.mining, self.normalize, labels)
