"""Figures for the lessons.

Every function here returns a figure and shows nothing by itself: a notebook cell that
ends with one displays it, and a test can look inside it. Static figures are matplotlib
``Figure`` objects made without pyplot, so nothing is drawn twice and no global state leaks
between cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.augment import to_float


def to_numpy_image(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] → (H, W, 3) or (H, W) float array for ``imshow``."""
    x = to_float(image.detach().cpu()).clamp(0, 1)
    if x.shape[0] == 1:
        return x[0].numpy()
    return x.permute(1, 2, 0).numpy()


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


def similarity_heatmap(
    sim: Tensor,
    labels: Sequence[str] | None = None,
    title: str = "cosine similarity",
    annotate: bool | None = None,
    ax_size: float = 4.5,
) -> Figure:
    """A heatmap of an (M, M) or (M, K) similarity matrix, values annotated when it is small."""
    s = sim.detach().float().cpu().numpy()
    annotate = (s.size <= 144) if annotate is None else annotate
    fig = Figure(figsize=(ax_size + 1, ax_size))
    ax = fig.subplots()
    image = ax.imshow(s, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8)
    if labels is not None:
        ax.set_xticks(range(s.shape[1]), labels[: s.shape[1]], rotation=90, fontsize=8)
        ax.set_yticks(range(s.shape[0]), labels[: s.shape[0]], fontsize=8)
    if annotate:
        for (i, j), v in np.ndenumerate(s):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def history_figure(history, keys: Sequence[str] = ("loss", "knn"), baselines: dict[str, float] | None = None) -> Figure:
    """Training curves, one panel per key of a :class:`clkit.train.History` (or its ``epochs`` list).

    ``baselines`` draws horizontal reference lines on the ``knn`` panel, e.g. raw pixels.
    """
    records = history.epochs if hasattr(history, "epochs") else history
    keys = [k for k in keys if any(k in r for r in records)]
    fig = Figure(figsize=(4.2 * max(1, len(keys)), 3.2))
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        points = [(r["epoch"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points), marker="o", ms=3)
        if key == "knn" and baselines:
            for (name, value), style in zip(baselines.items(), ["--", ":", "-."]):
                ax.axhline(value, color="grey", ls=style, lw=1, label=name)
            ax.legend(fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_title({"knn": "kNN accuracy (test)", "loss": "training loss"}.get(key, key))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


class LivePlot:
    """A training callback that redraws :func:`history_figure` in place after every epoch.

    >>> live = LivePlot(keys=("loss", "knn"))          # doctest: +SKIP
    >>> fit(method, data, callbacks=[live], ...)       # doctest: +SKIP
    """

    def __init__(self, keys: Sequence[str] = ("loss", "knn"), baselines: dict[str, float] | None = None):
        self.keys = keys
        self.baselines = baselines
        self.records: list[dict[str, float]] = []
        self._handle = None

    def __call__(self, record: dict[str, float]) -> None:
        from IPython.display import display

        self.records.append(record)
        fig = history_figure(self.records, self.keys, self.baselines)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


def softmax_over_negatives(
    similarities: Tensor,
    positive: int,
    temperatures: Sequence[float] = (0.05, 0.2, 1.0),
) -> Figure:
    """How τ reshapes one anchor's softmax over its candidates, sorted by similarity.

    Args:
        similarities: (K,) cosine similarities of the anchor to its 2N − 1 candidates.
        positive: index of the positive among them.
    """
    order = torch.argsort(similarities, descending=True)
    s = similarities[order]
    is_positive = (order == positive).numpy()
    fig = Figure(figsize=(4.0 * len(temperatures), 3.2))
    axes = fig.subplots(1, len(temperatures), sharey=True, squeeze=False)[0]
    for ax, tau in zip(axes, temperatures):
        p = torch.softmax(s / tau, dim=0).numpy()
        ax.bar(np.arange(len(p)), p, color=np.where(is_positive, "tab:orange", "tab:blue"))
        ax.set_title(f"τ = {tau}: P(positive) = {p[is_positive].sum():.2f}")
        ax.set_xlabel("candidates, most similar first")
    axes[0].set_ylabel("softmax weight")
    fig.tight_layout()
    return fig


def loss_vs_temperature(z1: Tensor, z2: Tensor, temperatures: Sequence[float]) -> Figure:
    """NT-Xent of one fixed batch of embeddings across τ, with the collapsed batch's log(2N − 1) for reference.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
    """
    from clkit.losses import collapsed_nt_xent, nt_xent

    values = [nt_xent(z1, z2, tau).item() for tau in temperatures]
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    ax.plot(temperatures, values, marker="o", ms=3, label="this batch")
    ax.axhline(collapsed_nt_xent(len(z1)), color="grey", ls="--", lw=1, label="collapsed batch: log(2N − 1)")
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("NT-Xent")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
