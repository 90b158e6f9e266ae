"""A method built to fail: positives without negatives, the collapse of the geometry lesson."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clkit.data import Batch
from clkit.losses import alignment
from clkit.methods.base import JointEmbedding, StepOutput


class PositivesOnly(JointEmbedding):
    r"""SimCLR without its negatives, built to collapse: pull the two views together and nothing else.

    For views v1, v2 of a batch, z = g(f(v)) and ẑ = z / ‖z‖, the loss is the alignment term of
    Wang & Isola (2020) alone::

        loss = (1/N) Σ_i ‖ẑ1_i − ẑ2_i‖²

    Nothing pushes different images apart, so a constant map is a perfect minimiser, and gradient
    descent finds it: every embedding moves to one point (per-dimension std of ẑ → 0, uniformity
    → 0, effective rank → 1). It is the negative example of the geometry lesson; NT-Xent's
    denominator, or BYOL/SimSiam's predictor with a stop-gradient, is what prevents this.

    Args:
        backbone, augment, projection_dim, hidden_dim, head_layers: as for :class:`~clkit.methods.SimCLR`.
    """

    def forward(self, batch: Batch) -> StepOutput:
        z1, z2 = self.encode(self.views(batch))
        loss = alignment(z1, z2)
        # The collapse monitor of SimSiam: mean per-dimension std of the normalised outputs (1/√D healthy, 0 collapsed).
        unit = F.normalize(torch.cat([z1, z2]).detach().float(), dim=1)
        return StepOutput(loss, {"z_std": unit.std(dim=0).mean()})
