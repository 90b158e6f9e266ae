"""Sentence embeddings (the SimCSE lesson, notebook 19): how well each representation's similarity follows meaning.

- :func:`sentence_bars`: the Spearman correlation and paraphrase retrieval of several representations, side by
  side, one labelled bar per representation, coloured by kind (baseline, unsupervised, supervised);
- :func:`similarity_by_score`: the cosine similarity of the graded pairs at each score 0–5, one line per
  representation: the picture behind a Spearman correlation;
- :func:`sentence_similarity_matrices`: cosine similarities among a few numbered sentences, one heatmap per
  representation (or per dropout pass), the sentences listed underneath;
- :func:`sentence_curves`: the training loss, the two passes' similarity and the held-out numbers per epoch, one
  line per run.

The alignment–uniformity plane over training (SimCSE's Figure 2) is :func:`clkit.viz.alignment_uniformity_plane`,
fed by histories that :func:`clkit.evaluate.sentence_monitor` measured.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from clkit.viz.collapse import collapse_curves
from clkit.viz.style import (MAX_WIDTH, MIN_FONT, REFERENCE, SERIES_COLOURS, _as_numpy, cell_size, figure,
                             legend_below, series_style, styled)

#: The title of each number :func:`sentence_curves` draws.
CURVE_TITLES = {"loss": "training loss", "positive_cos": "cos(anchor, positive)",
                "contrastive_acc": "positive ranked first", "spearman": "Spearman ρ (held out)",
                "retrieval": "paraphrase retrieval", "alignment": "alignment (paraphrases)", "uniformity": "uniformity"}

#: The colour of each kind of representation in :func:`sentence_bars`.
KIND_COLOURS = {"baseline": REFERENCE, "unsupervised": SERIES_COLOURS[0], "supervised": SERIES_COLOURS[1]}


@styled
def sentence_bars(results: Mapping[str, Mapping[str, float]], kinds: Mapping[str, str] | None = None,
                  chance: float | None = None) -> Figure:
    """Spearman correlation (× 100) and paraphrase retrieval (%) of each representation, as horizontal bars.

    Args:
        results: name → {"spearman": ρ in [−1, 1], "retrieval": share in [0, 1], ...}, drawn top to bottom.
        kinds: name → "baseline", "unsupervised" or "supervised" (the bar's colour, :data:`KIND_COLOURS`; the
            legend names the kinds present); default every bar a baseline.
        chance: retrieval by chance (a dashed line), e.g. (paraphrases − 1) / (sentences − 1).
    """
    names = list(results)
    kinds = {name: (kinds or {}).get(name, "baseline") for name in names}
    unknown = sorted(set(kinds.values()) - set(KIND_COLOURS))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; valid kinds are {', '.join(KIND_COLOURS)}")
    label_width = max(len(name) for name in names) * 0.6 * MIN_FONT / 72
    fig = figure(MAX_WIDTH, 0.9 + 0.42 * len(names))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(names))
    colours = [KIND_COLOURS[kinds[name]] for name in names]
    for ax, key, title in zip(axes, ("spearman", "retrieval"),
                              ("Spearman ρ × 100 (graded pairs)", "paraphrase retrieval (%)")):
        values = [100 * results[name][key] for name in names]
        bars = ax.barh(y, values, 0.7, color=colours, edgecolor="white")
        ax.bar_label(bars, fmt="%.1f", padding=3, fontsize=MIN_FONT)
        ax.set_xlim(min(0, min(values)) * 1.2, 119)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    handles = [Patch(color=KIND_COLOURS[k], label=k) for k in KIND_COLOURS if k in kinds.values()]
    labels = [h.get_label() for h in handles]
    if chance is not None:
        line = axes[1].axvline(100 * chance, color="black", ls="--", lw=1.5)
        handles.append(line)
        labels.append(f"chance ({100 * chance:.1f}%)")
    fig.subplots_adjust(left=min(0.45, (label_width + 0.2) / MAX_WIDTH))
    legend_below(fig, handles, labels)
    return fig


@styled
def similarity_by_score(runs: Mapping[str, tuple[Tensor, Tensor]], size: float = 4.2) -> Figure:
    """Cosine similarity of graded pairs against their score: each run's median per score (line) and its
    interquartile range (band). A perfect Spearman correlation needs every band above the one to its left.

    Args:
        runs: name → (cosine similarities (N,), scores (N,)) of the same N pairs.
    """
    fig = figure(size + 3.4, size)
    ax = fig.subplots()
    for i, (name, (cos, scores)) in enumerate(runs.items()):
        cos, scores = _as_numpy(cos), _as_numpy(scores)
        levels = np.unique(scores)
        q1, median, q3 = np.array([np.percentile(cos[scores == s], [25, 50, 75]) for s in levels]).T
        style = series_style(i)
        ax.fill_between(levels, q1, q3, color=style["color"], alpha=0.15, lw=0)
        ax.plot(levels, median, label=name, **style)
    ax.set_xlabel("graded similarity (0 other topic … 5 same meaning)")
    ax.set_ylabel("cosine similarity")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


@styled
def sentence_similarity_matrices(matrices: Mapping[str, Tensor], sentences: Sequence[str],
                                 columns: Sequence[str] | None = None, size: float = 3.6) -> Figure:
    """Cosine similarities among a few numbered sentences, one annotated heatmap per representation.

    Args:
        matrices: name → (M, K) similarities (rows: ``sentences``; columns: ``columns``, default the same sentences).
        sentences: the M sentences, listed under the panels by number.
        columns: the K column sentences when they differ from the rows (listed too); numbered from M + 1.
    """
    names = list(matrices)
    m = len(sentences)
    k = m if columns is None else len(columns)
    side = cell_size(len(names), size, reserved=0.9)
    listed = list(sentences) + list(columns or [])
    wrapped = [textwrap.fill(f"{i + 1}. {s}", 78, subsequent_indent="    ") for i, s in enumerate(listed)]
    text_height = 0.2 * sum(w.count("\n") + 1 for w in wrapped) + 0.1
    fig = figure(side * len(names) + 0.9, side + 0.9 + text_height, layout="constrained")
    grid = fig.add_gridspec(2, len(names) + 1, height_ratios=(side + 0.6, text_height),
                            width_ratios=(1,) * len(names) + (0.07,))
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(names))]
    row_ticks = [str(i + 1) for i in range(m)]
    col_ticks = row_ticks if columns is None else [str(m + j + 1) for j in range(k)]
    for ax, name in zip(axes, names):
        s = _as_numpy(matrices[name]).astype(float)
        if s.shape != (m, k):
            raise ValueError(f"every matrix must be {m} × {k} (sentences × columns), {name!r} is {s.shape}")
        image = ax.imshow(s, cmap="RdBu_r", vmin=-1, vmax=1)
        if max(m, k) <= 8:  # room for a value in every cell
            for (i, j), v in np.ndenumerate(s):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=MIN_FONT,
                        color="white" if abs(v) > 0.6 else "black")
        ax.set_xticks(range(k), col_ticks)
        ax.set_yticks(range(m), row_ticks)
        ax.set_title(textwrap.fill(name, 28))
    fig.colorbar(image, cax=fig.add_subplot(grid[0, -1]), label="cosine")
    listing = fig.add_subplot(grid[1, :])
    listing.axis("off")
    listing.text(0, 1, "\n".join(wrapped), fontsize=MIN_FONT, va="top", ha="left", family="monospace",
                 transform=listing.transAxes)
    return fig


@styled
def sentence_curves(histories: Mapping[str, object], keys: Sequence[str] = ("loss", "positive_cos", "spearman"),
                    references: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Numbers per epoch of several SimCSE runs: one panel per key (titled by :data:`CURVE_TITLES`), one line per
    run, the loss on a log scale; ``references`` draws grey lines, e.g. ``{"spearman": {"TF-IDF": 0.77}}`` (see
    :func:`clkit.viz.collapse_curves`, which this is with the sentence lesson's titles)."""
    fig = collapse_curves(histories, keys, references)
    for ax, key in zip(fig.axes, keys):
        ax.set_title(CURVE_TITLES.get(key, key))  # one line each: the layout was made for the keys
        if key == "loss" and all(y > 0 for line in ax.lines for y in line.get_ydata()):
            ax.set_yscale("log")  # a loss that falls to 10⁻³ and one that stays near 1 on one panel
    return fig
