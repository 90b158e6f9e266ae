"""Pictures of images: grids, augmented views, neighbour and pair galleries, and the thumbnail atlas."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.data import to_float
from clkit.viz.style import to_numpy_image


def image_grid(
    images: Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    suptitle: str | None = None,
) -> Figure:
    """A grid of images, (N, C, H, W) uint8 or float in [0, 1], with an optional title under each."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0) + (0.25 * nrows if titles else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


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
    """
    rows = list(augmentations.items())
    fig = Figure(figsize=(size * (n_views + 1), size * len(rows) + 0.2))
    axes = fig.subplots(len(rows), n_views + 1, squeeze=False)
    batch = image.unsqueeze(0).expand(n_views, *image.shape)
    for r, (label, aug) in enumerate(rows):
        views = aug(batch, generator=torch.Generator().manual_seed(seed + r))
        axes[r, 0].imshow(to_numpy_image(image), cmap="gray")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        for c in range(n_views):
            axes[r, c + 1].imshow(to_numpy_image(views[c]), cmap="gray", vmin=0, vmax=1)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("original", fontsize=9)
    fig.tight_layout()
    return fig


def neighbour_gallery(
    query_images: Tensor,
    bank_images: Tensor,
    neighbours,
    query_labels: Tensor | None = None,
    bank_labels: Tensor | None = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.0,
) -> Figure:
    """Each query (first column) and its k nearest neighbours with their cosine similarities.

    With labels, a neighbour's frame is green when it shares the query's class and red when not.

    Args:
        query_images: (M, C, H, W); bank_images: (N, C, H, W).
        neighbours: :class:`clkit.evaluate.Neighbours` of the M queries among the N bank images.
        query_labels, bank_labels: optional (M,) and (N,) class indices; ``classes`` their names.
    """
    indices, sims = neighbours.indices, neighbours.similarities
    m, k = indices.shape
    fig = Figure(figsize=(size * (k + 1) + 0.3, size * m + 0.25 * m + (0.4 if title else 0)))
    axes = fig.subplots(m, k + 1, squeeze=False)
    for r in range(m):
        query_class = None if query_labels is None else int(query_labels[r])
        axes[r, 0].imshow(to_numpy_image(query_images[r]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        name = "query" if classes is None or query_class is None else classes[query_class]
        axes[r, 0].set_title(name, fontsize=8, fontweight="bold")
        for c in range(k):
            j = int(indices[r, c])
            ax = axes[r, c + 1]
            ax.imshow(to_numpy_image(bank_images[j]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{float(sims[r, c]):.2f}", fontsize=8)
            if query_class is not None and bank_labels is not None:
                colour = "tab:green" if int(bank_labels[j]) == query_class else "tab:red"
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(2.5)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
    """
    k = len(pairs.pairs)
    fig = Figure(figsize=(size * max(k, 1) + 0.2, 2 * size + 0.7 + (0.3 if title else 0)))
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
            if labels is not None and classes is not None:
                ax.set_xlabel(classes[int(labels[i])], fontsize=8)
        if c < k:
            axes[0, c].set_title(f"{float(pairs.similarities[c]):.2f}", fontsize=9)
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
