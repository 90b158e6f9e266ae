"""Methods without negatives that prevent collapse with batch statistics: Barlow Twins and VICReg.

Both take two views of every image through the backbone and an expander head, and train on a
loss of :mod:`clkit.losses.redundancy`; each term of the loss is logged apart, so a run shows which
one moves (the invariance falling while the redundancy or variance term holds the dimensions apart).
"""

from __future__ import annotations

from typing import Any

from clkit.data import Batch
from clkit.losses import barlow_twins, vicreg
from clkit.methods.base import JointEmbedding, StepOutput


class BarlowTwins(JointEmbedding):
    r"""Barlow Twins (Zbontar et al. 2021, arXiv:2103.03230): the cross-correlation of the two views' embeddings,
    standardised over the batch, driven towards the identity::

        C = ẑ1ᵀ ẑ2 / N,   loss = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²

    The diagonal makes each dimension agree across the views (invariance); the off-diagonal makes the
    dimensions carry different information (redundancy reduction), which rules out collapse.

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`.
        lambda_offdiag: λ, the weight of the off-diagonal term (the paper: 5·10⁻³).
        head: the head's settings (``projection_dim``, ``head_layers``, ...). The paper's expander is three
            layers of 8,192; the kit's recipe keeps its small head at laptop scale (see :mod:`clkit.recipes`).
    """

    def __init__(self, backbone: Any, augment: Any, lambda_offdiag: float = 5e-3, **head: Any):
        super().__init__(backbone, augment, **head)
        self.lambda_offdiag = lambda_offdiag

    def forward(self, batch: Batch) -> StepOutput:
        z1, z2 = self.encode(self.views(batch))
        terms = barlow_twins(z1, z2, lambda_offdiag=self.lambda_offdiag)
        return StepOutput(terms.loss, {"invariance": terms.invariance.detach(),
                                       "redundancy": terms.redundancy.detach()})


class VICReg(JointEmbedding):
    r"""VICReg (Bardes, Ponce & LeCun 2022, arXiv:2105.04906): variance, invariance and covariance terms::

        loss = λ·MSE(z1, z2) + μ·[v(z1) + v(z2)]/2 + ν·[c(z1) + c(z2)]

    with v the mean hinge max(0, γ − std) over dimensions (every dimension keeps a spread) and c the sum of
    squared off-diagonal covariances over D (the dimensions decorrelate).

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`.
        sim_weight, var_weight, cov_weight: λ, μ, ν (the paper: 25, 25, 1).
        head: the head's settings, as for :class:`BarlowTwins`.
    """

    def __init__(self, backbone: Any, augment: Any, sim_weight: float = 25.0, var_weight: float = 25.0,
                 cov_weight: float = 1.0, **head: Any):
        super().__init__(backbone, augment, **head)
        self.weights = {"sim_weight": sim_weight, "var_weight": var_weight, "cov_weight": cov_weight}

    def forward(self, batch: Batch) -> StepOutput:
        z1, z2 = self.encode(self.views(batch))
        terms = vicreg(z1, z2, **self.weights)
        return StepOutput(terms.loss, {"invariance": terms.invariance.detach(), "variance": terms.variance.detach(),
                                       "covariance": terms.redundancy.detach()})
