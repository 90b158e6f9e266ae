"""Figures of the CLIP lesson (notebook 18): captioned images, the image–caption similarity matrix, the learned
logit scale, zero-shot accuracy against its references, and retrieval recall.

- :func:`caption_gallery`: images, each beside its phrasings;
- :func:`similarity_figure`: a batch's image × caption cosine similarities, images above their columns, the
  matching pairs framed;
- :func:`logit_scale_figure`: the logit scale per epoch, one line per run, with CLIP's start and clamp;
- :func:`score_bars`: labelled horizontal bars (accuracies, shares) with reference lines such as chance;
- :func:`recall_bars`: recall@k both ways, grouped by k.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from clkit.viz.style import (
    MAX_WIDTH,
    MIN_FONT,
    REFERENCE,
    SERIES_COLOURS,
    _as_numpy,
    figure,
    legend_below,
    series_style,
    styled,
    text_width,
    to_numpy_image,
)

__all__ = ["caption_gallery", "logit_scale_figure", "recall_bars", "score_bars", "similarity_figure"]

#: A sequential colormap readable with every common colour-vision deficiency (and in greyscale).
SEQUENTIAL = "cividis"
_DASHES = ("--", ":", "-.")


@styled
def caption_gallery(images: Tensor, phrasings: Sequence[Sequence[str]], ncols: int = 2) -> Figure:
    """Each image beside its phrasings, one per line: (N, C, H, W) images and N lists of strings."""
    n = len(images)
    if len(phrasings) != n:
        raise ValueError(f"{n} images but {len(phrasings)} lists of phrasings; give one list per image")
    lines = max(len(p) for p in phrasings)
    text = max(text_width(t, MIN_FONT) for p in phrasings for t in p)
    cell_h = max(1.0, 0.24 * lines)
    ncols = max(1, min(ncols, n, int(MAX_WIDTH // (cell_h + text + 0.2))))
    nrows = -(-n // ncols)
    fig = figure(ncols * (cell_h + text + 0.2), nrows * (cell_h + 0.25))
    grid = fig.add_gridspec(nrows, 2 * ncols, width_ratios=[cell_h, text + 0.2] * ncols, wspace=0.05, hspace=0.25)
    for i in range(n):
        row, col = divmod(i, ncols)
        ax = fig.add_subplot(grid[row, 2 * col])
        ax.imshow(to_numpy_image(images[i]), interpolation="nearest")
        ax.set_axis_off()
        words = fig.add_subplot(grid[row, 2 * col + 1])
        words.set_axis_off()
        words.text(0.0, 0.5, "\n".join(phrasings[i]), va="center", ha="left", fontsize=MIN_FONT,
                   linespacing=1.3)
    return fig


@styled
def similarity_figure(similarity: Tensor, images: Tensor, captions: Sequence[str],
                      title: str = "cosine similarity of each image (column) to each caption (row)") -> Figure:
    """An (N, N) image × caption similarity matrix: image j above column j, caption i left of row i, values written
    in the cells and the matching pairs (the diagonal) framed.

    Args:
        similarity: (N_images, N_captions) cosine similarities, e.g. :meth:`clkit.methods.CLIP.similarity`
            (drawn transposed: captions down, images across).
        images: (N_images, C, H, W) the images of the columns.
        captions: N_captions strings, the rows.
    """
    s = _as_numpy(similarity).astype(float).T  # (captions, images)
    rows, cols = s.shape
    if len(images) != cols or len(captions) != rows:
        raise ValueError(f"similarity is {cols} images × {rows} captions but {len(images)} images and "
                         f"{len(captions)} captions were given")
    label = max(text_width(c, MIN_FONT) for c in captions)
    cell = min(0.62, (MAX_WIDTH - label - 1.3) / cols)
    width, height = label + cols * cell + 1.3, (rows + 1.1) * cell + 0.9
    fig = figure(width, height)
    # The captions take the left margin, the colour bar's labels the right: the grid leaves them room.
    grid = fig.add_gridspec(2, cols + 1, height_ratios=[1.1, rows], width_ratios=[1] * cols + [0.35],
                            hspace=0.04, wspace=0.04, left=(label + 0.15) / width, right=1 - 0.55 / width,
                            bottom=0.1 / height, top=1 - 0.75 / height)
    for j in range(cols):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(to_numpy_image(images[j]), interpolation="nearest")
        ax.set_axis_off()
    ax = fig.add_subplot(grid[1, :cols])
    heat = ax.imshow(s, cmap=SEQUENTIAL, vmin=min(0.0, s.min()), vmax=1.0, aspect="auto")
    dark = heat.norm(s) < 0.55  # cividis is dark at its low end: white text there
    for (i, j), v in np.ndenumerate(s):
        ax.text(j, i, f"{v:.2f}".replace("0.", "."), ha="center", va="center", fontsize=MIN_FONT,
                color="white" if dark[i, j] else "black")
    for k in range(min(rows, cols)):
        ax.add_patch(Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, edgecolor="white", lw=2.5))
        ax.add_patch(Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.0))
    ax.set_yticks(range(rows), captions)
    ax.set_xticks([])
    fig.colorbar(heat, cax=fig.add_subplot(grid[1, cols]))
    fig.suptitle("\n".join(textwrap.wrap(title, int(fig.get_figwidth() * 72 / (0.6 * 13)))))
    return fig


@styled
def logit_scale_figure(histories: Mapping[str, object], initial: float | None = 1 / 0.07,
                       maximum: float | None = 100.0) -> Figure:
    """The learned logit scale s = 1/τ per epoch, one line per run, with CLIP's initial value and its clamp.

    Args:
        histories: run name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold
            ``logit_scale`` (the epoch's mean, as :class:`~clkit.methods.CLIP` logs it every step).
        initial, maximum: drawn as grey reference lines (None: not drawn).
    """
    fig = figure(6.4, 3.8)
    ax = fig.subplots()
    for i, (name, history) in enumerate(histories.items()):
        records = history.epochs if hasattr(history, "epochs") else list(history)
        points = [(r["epoch"], r["logit_scale"]) for r in records if "logit_scale" in r]
        if points:
            ax.plot(*zip(*points), label=name, markevery=max(1, len(points) // 10), **series_style(i))
    for (label, value), dashes in zip((("initial 1/0.07", initial), ("clamp", maximum)), _DASHES):
        if value is not None:
            ax.axhline(value, color=REFERENCE, ls=dashes, lw=1.5, label=f"{label} = {value:.3g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("logit scale s = 1/τ")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig


@styled
def score_bars(scores: Mapping[str, float], references: Mapping[str, float] | None = None,
               xlabel: str = "accuracy (%)", title: str | None = None, percent: bool = True) -> Figure:
    """One labelled horizontal bar per score, top to bottom in the given order, with reference lines (chance...).

    Args:
        scores: name → value in [0, 1] (drawn in % when ``percent``).
        references: name → value, drawn as grey vertical lines of different dashes, named in a legend below.
    """
    if not scores:
        raise ValueError("scores is empty: give at least one name → value")
    factor = 100.0 if percent else 1.0
    names = list(scores)
    label = max(text_width(n, MIN_FONT) for n in names)
    fig = figure(label + 5.0, 0.9 + 0.42 * len(names))
    ax = fig.subplots()
    y = np.arange(len(names))[::-1]
    values = [factor * scores[n] for n in names]
    bars = ax.barh(y, values, 0.7, color=SERIES_COLOURS[0])
    ax.bar_label(bars, fmt="%.1f" if percent else "%.3g", padding=3)
    for (name, value), dashes in zip((references or {}).items(), _DASHES):
        ax.axvline(factor * value, color=REFERENCE, ls=dashes, lw=1.8, label=f"{name}: {factor * value:.3g}")
    ax.set_yticks(y, names)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max([*values, *(factor * v for v in (references or {}).values())]) * 1.15 or 1)
    if title:
        ax.set_title(title, wrap=True)
    ax.grid(alpha=0.3, axis="x")
    if references:
        legend_below(fig, *ax.get_legend_handles_labels())
    else:
        fig.tight_layout()
    return fig


@styled
def recall_bars(recall: Mapping[str, Mapping[int, float]], chance: Mapping[str, Mapping[int, float]] | None = None,
                title: str = "retrieval recall@k") -> Figure:
    """Recall@k grouped by k, one bar per direction (:func:`clkit.evaluate.retrieval_recall`), values written on
    the bars; ``chance`` (the same shape) adds a hollow grey bar behind each, a random ranking's recall."""
    directions = list(recall)
    ks = list(next(iter(recall.values())))
    fig = figure(1.8 + 1.3 * len(ks) * len(directions), 4.0)
    ax = fig.subplots()
    width = 0.8 / len(directions)
    for i, direction in enumerate(directions):
        x = np.arange(len(ks)) + (i - (len(directions) - 1) / 2) * width
        if chance is not None:
            ax.bar(x, [100 * chance[direction][k] for k in ks], width, fill=False, edgecolor=REFERENCE,
                   hatch="//", lw=1.2, label="random ranking" if i == 0 else None)
        bars = ax.bar(x, [100 * recall[direction][k] for k in ks], width * 0.7, label=direction,
                      color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
        ax.bar_label(bars, fmt="%.0f", padding=2)
    ax.set_xticks(np.arange(len(ks)), [f"R@{k}" for k in ks])
    ax.set_ylabel("queries answered (%)")
    ax.set_ylim(0, 112)
    ax.set_title(title, wrap=True)
    ax.grid(alpha=0.3, axis="y")
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig
