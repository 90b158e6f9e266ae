"""Pictures of images: grids, augmented views, neighbour and pair galleries, and the thumbnail atlas.

Each image is shown at the size asked for, or smaller when a row of them would not fit a notebook's width
(:data:`~clkit.viz.style.MAX_WIDTH`); titles and labels keep their size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.data import to_float
from clkit.viz.style import OTHER_CLASS, SAME_CLASS, cell_size, figure, styled, text_width, to_numpy_image


@styled
def image_grid(
    images: Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    suptitle: str | None = None,
) -> Figure:
    """A grid of images, (N, C, H, W) uint8 or float in [0, 1], with an optional title over each.

    ``size`` is an image's side in inches, made smaller if ``ncols`` of them would not fit the width.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    size = cell_size(ncols, size)
    fig = figure(size * ncols, nrows * (size + (0.3 if titles else 0)) + (0.5 if suptitle else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i])
    if suptitle:
        fig.suptitle(suptitle, wrap=True)
    fig.tight_layout()
    return fig


@styled
def views_figure(
    image: Tensor,
    augmentations: dict[str, Callable[..., Tensor]],
    n_views: int = 6,
    seed: int = 0,
    size: float = 1.4,
) -> Figure:
    """One row per augmentation: the original image, then ``n_views`` random views of it.

    Args:
        image: (C, H, W) uint8 or float.
        augmentations: row label → batch augmentation (called with a seeded ``generator``).
        size: an image's side in inches, made smaller if the row would not fit the width.
    """
    rows = list(augmentations.items())
    label_width = max(text_width(label) for label, _ in rows) + 0.2
    size = cell_size(n_views + 1, size, reserved=label_width)
    fig = figure(size * (n_views + 1) + label_width, size * len(rows) + 0.4)
    axes = fig.subplots(len(rows), n_views + 1, squeeze=False)
    batch = image.unsqueeze(0).expand(n_views, *image.shape)
    for r, (label, aug) in enumerate(rows):
        views = aug(batch, generator=torch.Generator().manual_seed(seed + r))
        axes[r, 0].imshow(to_numpy_image(image), cmap="gray")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
        for c in range(n_views):
            axes[r, c + 1].imshow(to_numpy_image(views[c]), cmap="gray", vmin=0, vmax=1)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("original")
    fig.tight_layout()
    return fig


def _frame(ax, same_class: bool) -> None:
    # Same class: a solid blue frame; another class: a dashed vermillion one, so the frame's style tells them
    # apart without its colour.
    for spine in ax.spines.values():
        spine.set_edgecolor(SAME_CLASS if same_class else OTHER_CLASS)
        spine.set_linestyle("-" if same_class else (0, (3, 1.5)))
        spine.set_linewidth(3.5)


@styled
def neighbour_gallery(
    query_images: Tensor,
    bank_images: Tensor,
    neighbours,
    query_labels: Tensor | None = None,
    bank_labels: Tensor | None = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.3,
) -> Figure:
    """Each query (first column) and its k nearest neighbours with their cosine similarities.

    With labels, a neighbour's frame is solid blue when it shares the query's class and dashed vermillion
    when not (a legend under the gallery says so).

    Args:
        query_images: (M, C, H, W); bank_images: (N, C, H, W).
        neighbours: :class:`clkit.evaluate.Neighbours` of the M queries among the N bank images.
        query_labels, bank_labels: optional (M,) and (N,) class indices; ``classes`` their names.
        size: an image's side in inches, made smaller if a row would not fit the width.
    """
    from matplotlib.patches import Patch

    indices, sims = neighbours.indices, neighbours.similarities
    m, k = indices.shape
    framed = query_labels is not None and bank_labels is not None
    size = cell_size(k + 1, size, reserved=0.3)
    legend_height = 0.5 if framed else 0.0
    height = m * (size + 0.3) + (0.5 if title else 0) + legend_height
    fig = figure(size * (k + 1) + 0.3, height)
    axes = fig.subplots(m, k + 1, squeeze=False)
    for r in range(m):
        query_class = None if query_labels is None else int(query_labels[r])
        axes[r, 0].imshow(to_numpy_image(query_images[r]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        name = "query" if classes is None or query_class is None else classes[query_class]
        axes[r, 0].set_title(name, fontweight="bold")
        for c in range(k):
            j = int(indices[r, c])
            ax = axes[r, c + 1]
            ax.imshow(to_numpy_image(bank_images[j]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{float(sims[r, c]):.2f}")
            if framed:
                _frame(ax, int(bank_labels[j]) == query_class)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    if framed:
        frames = [Patch(facecolor="none", edgecolor=SAME_CLASS, lw=3, label="same class as the query"),
                  Patch(facecolor="none", edgecolor=OTHER_CLASS, lw=3, ls=(0, (3, 1.5)), label="another class")]
        fig.legend(handles=frames, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, legend_height / height, 1, 1))
    return fig


@styled
def pair_gallery(
    images: Tensor,
    pairs,
    labels: Tensor | None = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.2,
) -> Figure:
    """Pairs of images, one pair per column (one above the other), each headed by its cosine similarity.

    Args:
        images: (N, C, H, W), indexed by the pairs.
        pairs: :class:`clkit.evaluate.Pairs`, e.g. from ``cross_class_pairs`` or ``within_class_pairs``.
        labels, classes: optional; the class names are written under each image.
        size: an image's side in inches, made smaller if the pairs would not fit the width.
    """
    k = len(pairs.pairs)
    size = cell_size(max(k, 1), size, reserved=0.2)
    named = labels is not None and classes is not None
    fig = figure(size * max(k, 1) + 0.2, 2 * size + 0.4 + (0.6 if named else 0) + (0.5 if title else 0))
    axes = fig.subplots(2, max(k, 1), squeeze=False)
    for c in range(max(k, 1)):
        for r in range(2):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= k:
                ax.set_axis_off()
                continue
            i = int(pairs.pairs[c, r])
            ax.imshow(to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if named:
                ax.set_xlabel(classes[int(labels[i])])
        if c < k:
            axes[0, c].set_title(f"{float(pairs.similarities[c]):.2f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def thumbnail_atlas(images: Tensor, quality: int = 85) -> tuple[str, int]:
    """All images tiled into one picture, as a ``data:`` URI, and the number of tiles per row.

    Image i sits at row ``i // cols``, column ``i % cols``. One WebP (JPEG when Pillow lacks WebP)
    is far smaller than a file per image: about 0.2 kB per 32×32 thumbnail.

    Args:
        images: (N, C, H, W) uint8 or float in [0, 1], C = 1 or 3.
    """
    import base64
    import io

    from PIL import Image, features

    x = (to_float(images.detach().cpu()).clamp(0, 1) * 255).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = -(-n // cols)
    atlas = torch.zeros(rows * cols, 3, h, w, dtype=torch.uint8)
    atlas[:n] = x
    atlas = atlas.reshape(rows, cols, 3, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, 3)
    kind = "WEBP" if features.check("webp") else "JPEG"
    buffer = io.BytesIO()
    Image.fromarray(atlas.numpy()).save(buffer, format=kind, quality=quality)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode(), cols
