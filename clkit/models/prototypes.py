"""Learnable prototypes: SwAV's cluster centres on the unit sphere.

SwAV scores every embedding against K prototype vectors c_k and asks the two views of an
image to agree on which prototypes they belong to (Caron et al. 2020). The prototypes are
the rows of a Linear layer without bias, kept at unit length after every optimiser step,
so a score is a cosine similarity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Prototypes(nn.Module):
    """K unit-length prototypes of width ``dim``: ``forward(z) = ẑ Cᵀ``, (N, dim) → (N, K) cosine scores."""

    def __init__(self, dim: int, count: int):
        super().__init__()
        if dim < 1 or count < 1:
            raise ValueError(f"prototypes need dim >= 1 and count >= 1, got dim={dim}, count={count}")
        self.weight = nn.Parameter(F.normalize(torch.randn(count, dim), dim=1))

    def forward(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=1) @ self.weight.T

    @torch.no_grad()
    def normalize_(self) -> None:
        """Put every prototype back on the unit sphere (call after each optimiser step)."""
        self.weight.copy_(F.normalize(self.weight, dim=1))
