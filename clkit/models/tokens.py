"""Encoders read as grids of tokens, and I-JEPA's predictor, which fills the hidden cells of a grid.

A joint-embedding *predictive* method needs features per part of the image, not one vector per image:

- the small ViT (8 × 8 patches of a 32 × 32 image) has them already, one token per patch, and drops the
  hidden patches from its attention (:meth:`~clkit.models.vit.VisionTransformer.patch_tokens`);
- ``small_cnn``'s last stage is a 4 × 4 feature map before its global average pool, one feature vector per
  8 × 8 cell of the image: the same grid. A convolution cannot drop a cell, so the hidden cells are blanked
  in the image (:func:`clkit.augment.masks.blank_cells`).

:func:`grid_tokens` gives either as (N, K, D); the mean of a CNN's tokens is exactly its features h.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clkit.augment.masks import blank_cells
from clkit.models.encoders import Encoder
from clkit.models.vit import Block, VisionTransformer

__all__ = ["TokenPredictor", "cell_size", "grid_tokens"]


def _conv_stages(encoder: Encoder) -> nn.Sequential:
    """A CNN encoder's layers before its global pool, or an error naming the encoders that have a grid."""
    net = encoder.net
    if isinstance(net, nn.Sequential) and len(net) >= 2 and isinstance(net[-2], nn.AdaptiveAvgPool2d) \
            and isinstance(net[-1], nn.Flatten):
        return net[:-2]
    raise TypeError(f"{encoder.name} has no grid of tokens to read: use small_vit (its patch tokens) or small_cnn "
                    "(its last feature map, before the global pool)")


def cell_size(encoder: Encoder) -> int:
    """The side in pixels of the image cell one token stands for: the ViT's patch, or 2^(max-pools) for a CNN."""
    if isinstance(encoder.net, VisionTransformer):
        return encoder.net.patch
    return 2 ** sum(isinstance(m, nn.MaxPool2d) for m in _conv_stages(encoder).modules())


def grid_tokens(encoder: Encoder, images: Tensor, keep: Tensor | None = None) -> Tensor:
    """Features per cell of the image: (N, C, H, W) float → (N, K, D), K = (H / cell) · (W / cell), row-major.

    Args:
        encoder: ``small_vit`` (patch tokens) or ``small_cnn`` (its last feature map, one vector per cell).
        images: float in [0, 1].
        keep: optional (N, K) bool, True for the visible cells: the ViT drops the others from its attention,
            the CNN sees them blanked with the image's mean colour.
    """
    if isinstance(encoder.net, VisionTransformer):
        return encoder.net.patch_tokens(images, keep)
    stages = _conv_stages(encoder)
    cell = cell_size(encoder)
    grid = (images.shape[-2] // cell, images.shape[-1] // cell)
    x = images if keep is None else blank_cells(images, ~keep, grid)
    return stages(x).flatten(2).transpose(1, 2)  # (N, D, rows, cols) → (N, K, D)


class TokenPredictor(nn.Module):
    """I-JEPA's predictor: a narrow transformer that fills the target cells of a grid from the context's tokens.

    The paper's architecture (Assran et al. 2023, arXiv:2301.08243, section 3): "a narrow ViT" that takes the
    context encoder's output and, for each target position, a shared learnable mask token plus that position's
    embedding, and outputs a prediction for every mask token. Here the whole grid goes through at once: the
    context tokens, projected to the predictor's width, at their positions, mask tokens at the target
    positions, a learned position embedding added to all; after the blocks each token is projected back to the
    encoder's width.

    Args:
        dim: the encoder's token width D.
        cells: K, the cells in the grid.
        width: the predictor's own width (I-JEPA: 384 against the encoder's 768 or more).
        depth, heads: its transformer blocks and attention heads (``width`` a multiple of ``heads``).
    """

    def __init__(self, dim: int, cells: int, width: int = 64, depth: int = 2, heads: int = 2):
        super().__init__()
        self.cells = cells
        self.embed = nn.Linear(dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.positions = nn.Parameter(torch.zeros(1, cells, width))
        self.blocks = nn.Sequential(*(Block(width, heads, mlp_ratio=2.0) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.positions, std=0.02)

    def forward(self, context: Tensor, target: Tensor) -> Tensor:
        """context: (N, K, D) the context encoder's tokens; target: (N, K) bool, True at the cells to predict.
        Returns (N, K, D): a prediction at every cell (read it at the target cells)."""
        if context.ndim != 3 or context.shape[1] != self.cells or target.shape != context.shape[:2]:
            raise ValueError(f"context must be (N, {self.cells}, D) and target (N, {self.cells}), got "
                             f"{tuple(context.shape)} and {tuple(target.shape)}")
        x = self.embed(context)  # (N, K, width)
        x = torch.where(target.unsqueeze(-1), self.mask_token.to(x.dtype), x) + self.positions
        return self.out(self.norm(self.blocks(x)))
