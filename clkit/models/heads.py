"""Heads: the small networks between backbone features ``h`` and what a loss sees.

Every head in the zoo is one multilayer perceptron, built from the same block
(Linear, optionally BatchNorm, ReLU); the papers differ only in which pieces they keep:

==============  =========================================================================
SimCLR          "a MLP with one hidden layer" (Chen et al. 2020): Linear → BN → ReLU → Linear
MoCo v2         the same MLP without BatchNorm in the hidden layer (``hidden_bn=False``)
SimSiam         BatchNorm on the output layer too (``out_bn=True``, no affine on it)
BYOL predictor  Linear → BN → ReLU → Linear, the SimCLR shape at another width
DINO            ℓ2-normalised bottleneck into a weight-normalised last layer
                without bias (``weight_norm_last=True``)
==============  =========================================================================
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations


def hidden_block(in_dim: int, out_dim: int, batch_norm: bool = True) -> list[nn.Module]:
    """One hidden layer: Linear (no bias when BatchNorm follows, which has its own) → [BatchNorm] → ReLU."""
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(nn.ReLU(inplace=True))
    return layers


class NormalizedLinear(nn.Module):
    """DINO's last layer: ℓ2-normalise the input, then a weight-normalised Linear without bias.

    The weight is w = g · v / ‖v‖ with the gain g fixed at 1, so every output is a cosine
    similarity between the input and one learned direction (Caron et al. 2021, section 3.1).
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = parametrizations.weight_norm(nn.Linear(in_dim, out_dim, bias=False))
        self.linear.parametrizations.weight.original0.data.fill_(1.0)
        self.linear.parametrizations.weight.original0.requires_grad = False

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(F.normalize(x, dim=-1))


class ProjectionHead(nn.Module):
    """The MLP between features ``h`` and embeddings ``z``, built from :func:`hidden_block`.

    ``layers=2`` is SimCLR's head: Linear → BN → ReLU → Linear. ``layers=1`` is a single
    linear map and ``layers=0`` the identity (the loss then acts on ``h`` directly), so a
    lesson can compare heads on the same backbone.

    Args:
        in_dim: width of ``h``.
        out_dim: width of ``z`` (ignored, and equal to ``in_dim``, when ``layers=0``).
        hidden_dim: width of the hidden layers (default: ``in_dim``).
        layers: number of linear layers, 0 or more.
        hidden_bn: BatchNorm in the hidden layers (SimCLR yes, MoCo v2 no).
        out_bn: BatchNorm without affine parameters on the output (SimSiam's projector).
        weight_norm_last: the last layer is a :class:`NormalizedLinear` (DINO).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 128,
        hidden_dim: int | None = None,
        layers: int = 2,
        *,
        hidden_bn: bool = True,
        out_bn: bool = False,
        weight_norm_last: bool = False,
    ):
        super().__init__()
        if layers < 0:
            raise ValueError(f"layers must be 0 (identity) or more, got {layers}")
        if layers == 0 and (out_bn or weight_norm_last):
            raise ValueError("out_bn and weight_norm_last need a last layer: use layers >= 1")
        hidden_dim = hidden_dim or in_dim
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers - 1):
            blocks += hidden_block(width, hidden_dim, batch_norm=hidden_bn)
            width = hidden_dim
        if layers > 0:
            blocks.append(NormalizedLinear(width, out_dim) if weight_norm_last else nn.Linear(width, out_dim))
        if out_bn:
            blocks.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*blocks)
        self.out_dim = out_dim if layers > 0 else in_dim

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
