"""A small Vision Transformer (Dosovitskiy et al. 2021, arXiv:2010.11929) for 32 × 32 images on a CPU.

The image is cut into ``patch`` × ``patch`` squares, each embedded by one linear map (a strided
convolution); a learned class token is prepended, a learned position embedding added, and pre-norm
transformer blocks mix the tokens::

    x_0 = [cls; E·p_1; …; E·p_G²] + P                 (1 + G², dim) for a G × G grid of patches
    y   = x + MHSA(LN(x)),   x' = y + MLP(LN(y))       one block
    h   = LN(x_L)[0]                                   the class token after the last block

The position embedding is learned for the training resolution. Multi-crop (SwAV, DINO) also feeds
smaller local crops, with fewer patches: as DINO does (Caron et al. 2021, arXiv:2104.14294), the
patch part of P is resized to the input's grid by bicubic interpolation, so a 16 × 16 crop reads
the positions of a 32 × 32 image on a coarser grid. At the native size that is the identity.

The defaults (patch 4, width 96, depth 4, 3 heads, MLP ratio 2: 0.31 M parameters, 64 patches of
a 32 × 32 image) cost about 5× the arithmetic of ``small_cnn`` (width 16): measured on two shared CPU
cores, a batch of 256 forward and backward took 1.5 s against 0.2 s, so a pass over 5,000 images
costs about 30 s per view. A ViT needs more data and epochs than a CNN to beat it; in this kit it is
there to run DINO on the architecture DINO was made for, and to show the positional interpolation
that multi-crop needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def interpolate_positions(positions: Tensor, grid: tuple[int, int]) -> Tensor:
    """Resize a position embedding to another grid of patches, bicubically, as DINO does.

    Args:
        positions: (1, 1 + G·G, D): the class token's position, then a G × G grid's, row by row.
        grid: (rows, columns) of the input's patches.
    Returns:
        (1, 1 + rows·columns, D): the class token's position unchanged, the grid's resized.
        At the native grid (G, G) the output equals the input.
    """
    cls, patches = positions[:, :1], positions[:, 1:]
    side = round(patches.shape[1] ** 0.5)
    if side * side != patches.shape[1]:
        raise ValueError(f"positions must hold a square grid after the class token, got {patches.shape[1]} entries")
    square = patches.reshape(1, side, side, -1).permute(0, 3, 1, 2)  # (1, D, G, G): channels first to resize
    resized = F.interpolate(square, size=grid, mode="bicubic", align_corners=False)
    return torch.cat([cls, resized.flatten(2).transpose(1, 2)], dim=1)


class Attention(nn.Module):
    """Multi-head self-attention: one linear map to queries, keys and values, then scaled dot products."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads (each head gets dim / heads), got {dim} and {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """x: (N, tokens, dim); keep: optional (N, tokens) bool, False for tokens no query may attend to (padding)."""
        n, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(n, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        mask = None if keep is None else keep[:, None, None, :]  # (N, 1, 1, tokens): the same for every query
        mixed = F.scaled_dot_product_attention(*qkv, attn_mask=mask)  # (N, heads, tokens, dim / heads)
        return self.out(mixed.transpose(1, 2).reshape(n, tokens, dim))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LN(x)), then + MLP(LN(·)); LayerNorm before each branch
    keeps the residual path an identity, which is what lets ViTs train without warm-up tricks at this depth.
    ``dropout`` (as in BERT: on each branch's output) is off for images and is SimCSE's augmentation for text."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        hidden = int(dim * mlp_ratio)
        self.norm1, self.attention = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attention(self.norm1(x), keep))
        return x + self.drop(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """Images (N, C, H, W) → the class token's features (N, dim), for any H, W that are multiples of ``patch``.

    Args:
        in_channels: image channels.
        image_size: the side the position embedding is learned for (other sides interpolate it).
        patch: side of the square patches; the image side must be a multiple of it.
        dim: token width, and the width of the features.
        depth: number of transformer blocks.
        heads: attention heads per block (``dim`` must be a multiple).
        mlp_ratio: the MLP's hidden width as a multiple of ``dim`` (ViT: 4; 2 here, for speed).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, patch: int = 4, dim: int = 96, depth: int = 4,
                 heads: int = 3, mlp_ratio: float = 2.0):
        super().__init__()
        if patch < 1 or image_size % patch:
            raise ValueError(f"image_size must be a multiple of patch, got image_size={image_size}, patch={patch}")
        self.patch, self.dim = patch, dim
        self.grid = (image_size // patch, image_size // patch)
        self.embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)  # one linear map per patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positions = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.apply(_init)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.positions, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        n, _, height, width = x.shape
        if height % self.patch or width % self.patch:
            raise ValueError(f"the image sides must be multiples of the patch size {self.patch}, got {height}×{width}")
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, grid cells, dim), row by row
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), tokens], dim=1)
        grid = (height // self.patch, width // self.patch)
        positions = self.positions if grid == self.grid else interpolate_positions(self.positions, grid)
        return self.norm(self.blocks(tokens + positions))[:, 0]

    def patch_tokens(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """The last block's patch tokens, I-JEPA's way: no class token, and only the kept patches seen.

        I-JEPA's context encoder (Assran et al. 2023, arXiv:2301.08243) reads the visible patches only. Here
        every patch still gets a token, so that the batch stays rectangular, but the attention never lets a
        kept token see a dropped one: the kept tokens come out exactly as if the others had been removed.

        Args:
            x: (N, C, H, W) float images, H and W multiples of ``patch``.
            keep: optional (N, G) bool over the G patches in row-major order, True for a visible patch
                (default: all). Every image needs at least one.
        Returns:
            (N, G, dim): the tokens after the final LayerNorm. Those of dropped patches are meaningless.
        """
        n, _, height, width = x.shape
        if height % self.patch or width % self.patch:
            raise ValueError(f"the image sides must be multiples of the patch size {self.patch}, got {height}×{width}")
        grid = (height // self.patch, width // self.patch)
        if keep is not None and keep.shape != (n, grid[0] * grid[1]):
            raise ValueError(f"keep must be (N, patches) = ({n}, {grid[0] * grid[1]}), got {tuple(keep.shape)}")
        positions = self.positions if grid == self.grid else interpolate_positions(self.positions, grid)
        tokens = self.embed(x).flatten(2).transpose(1, 2) + positions[:, 1:]  # (N, G, dim), no class token
        for block in self.blocks:
            tokens = block(tokens, keep)
        return self.norm(tokens)


def _init(module: nn.Module) -> None:
    """ViT's initialisation (as in DINO's code): truncated normal weights with std 0.02, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
