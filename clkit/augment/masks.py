"""Block masks on a grid of patches, I-JEPA's way of hiding parts of an image, and blanking hidden cells.

I-JEPA (Assran et al. 2023, arXiv:2301.08243, section 3) hides *blocks*: rectangles of neighbouring patches,
large enough to carry meaning (a part of an object, not a few pixels), several per image; the context is the
rest. On the kit's 32 × 32 images cut into 8 × 8 patches the grid is 4 × 4, so a block is 1 × 1 to 2 × 2
cells and the paper's four target blocks of 15–20% of the image become up to four blocks of 6–25%, their
union capped so that enough context is left.

A mask is (N, K) bool over the K = rows · columns cells in row-major order, True for a target cell.
"""

from __future__ import annotations

import torch
from torch import Tensor

from clkit.augment.ops import to_device

__all__ = ["blank_cells", "block_masks"]


def block_masks(n: int, grid: tuple[int, int] = (4, 4), blocks: int = 4, side: tuple[int, int] = (1, 2),
                max_fraction: float = 0.5, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> Tensor:
    """Target masks: the union of up to ``blocks`` random rectangles of cells per image.

    Each block's height and width are drawn uniformly from ``side`` (inclusive) and its position uniformly
    among those that keep it on the grid. Blocks are added one at a time; a block that would take the union
    past ``max_fraction`` of the cells is skipped for that image (the first never is, so every image has a
    target), which leaves the context at least ``1 − max_fraction`` of the image.

    Args:
        n: images.
        grid: (rows, columns) of cells.
        blocks: rectangles tried per image, ≥ 1.
        side: (smallest, largest) side of a rectangle in cells.
        max_fraction: the largest fraction of the cells the targets may cover, in (0, 1).
        generator: the random source (default: torch's global one, which :func:`clkit.train.fit` seeds).
    Returns:
        (n, rows · columns) bool, True at the target cells, on ``device``.
    """
    rows, cols = grid
    lo, hi = side
    if not (1 <= lo <= hi <= min(rows, cols)):
        raise ValueError(f"side must be (smallest, largest) with 1 ≤ smallest ≤ largest ≤ {min(rows, cols)} "
                         f"(the grid is {rows} × {cols}), got {side}")
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    if not 0 < max_fraction < 1:
        raise ValueError(f"max_fraction must be in (0, 1): some cells must stay as context, got {max_fraction}")
    if hi * hi > max_fraction * rows * cols:
        raise ValueError(f"a {hi} × {hi} block covers more than max_fraction = {max_fraction} of a {rows} × {cols} "
                         "grid: lower side or raise max_fraction")
    r = torch.arange(rows).view(1, rows, 1)
    c = torch.arange(cols).view(1, 1, cols)
    union = torch.zeros(n, rows, cols, dtype=torch.bool)
    for k in range(blocks):
        h = torch.randint(lo, hi + 1, (n, 1, 1), generator=generator)
        w = torch.randint(lo, hi + 1, (n, 1, 1), generator=generator)
        top = (torch.rand(n, 1, 1, generator=generator) * (rows - h + 1)).long()  # uniform in 0 … rows − h
        left = (torch.rand(n, 1, 1, generator=generator) * (cols - w + 1)).long()
        block = (r >= top) & (r < top + h) & (c >= left) & (c < left + w)  # (n, rows, cols)
        grown = union | block
        fits = grown.flatten(1).sum(1) <= max_fraction * rows * cols
        union = torch.where(fits.view(n, 1, 1) | (k == 0), grown, union)
    return to_device(union.flatten(1), device)  # without making the host wait for a GPU


def blank_cells(images: Tensor, hidden: Tensor, grid: tuple[int, int]) -> Tensor:
    """Images with the hidden cells painted over with each image's mean colour.

    A convolutional network cannot drop a patch as a transformer drops a token, so it sees the hidden cells
    blanked instead. The mean colour gives away nothing a blank of another colour would not, and keeps the
    image's overall statistics, which BatchNorm reads, where they were.

    Args:
        images: (N, C, H, W) float, H and W multiples of the grid's rows and columns.
        hidden: (N, rows · columns) bool, True for a cell to blank (a target mask).
        grid: (rows, columns).
    Returns:
        (N, C, H, W) float, a new tensor.
    """
    n, _, height, width = images.shape
    rows, cols = grid
    if height % rows or width % cols:
        raise ValueError(f"the image ({height} × {width}) must split into the {rows} × {cols} grid's whole cells")
    if hidden.shape != (n, rows * cols):
        raise ValueError(f"hidden must be (N, rows · columns) = ({n}, {rows * cols}), got {tuple(hidden.shape)}")
    cells = hidden.view(n, 1, rows, cols)
    pixels = cells.repeat_interleave(height // rows, dim=2).repeat_interleave(width // cols, dim=3)  # (N, 1, H, W)
    mean = images.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    return torch.where(pixels, mean, images)
