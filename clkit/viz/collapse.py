"""Collapse without negatives (notebook 16): the numbers of several runs side by side, and Barlow Twins'
cross-correlation matrix as training drives it towards the identity.

- :func:`collapse_curves`: per epoch, one panel per number (kNN, the spread of z, its effective rank), one line
  per run, from each run's :class:`~clkit.train.History`;
- :func:`collapse_bars`: the same numbers at the end of training, one bar per run;
- :class:`CrossCorrelations`: a measure for ``fit`` that keeps Barlow Twins' matrix C on fixed views of fixed
  images at every measured epoch (computed by :func:`clkit.losses.barlow_twins` itself, not a copy of it);
- :func:`cross_correlation_figure`: a row of those matrices, as heatmaps on one diverging scale from −1 to 1.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from clkit.data import to_float
from clkit.evaluate import project
from clkit.losses import barlow_twins
from clkit.viz.style import REFERENCE, SERIES_COLOURS, cell_size, figure, legend_below, series_style, styled

#: What a number is called on a panel, and the factor it is drawn with (accuracies in %).
LABELS: dict[str, tuple[str, float]] = {
    "knn": ("kNN on h (%)", 100.0),
    "linear": ("linear probe on h (%)", 100.0),
    "std_z·√D": ("std of z/‖z‖ per dimension · √D", 1.0),
    "rankme_z": ("effective rank of z", 1.0),
    "rankme_h": ("effective rank of h", 1.0),
    "std_h·√D": ("std of h/‖h‖ per dimension · √D", 1.0),
    "uniform_z": ("uniformity of z", 1.0),
}

#: A diverging colormap that stays readable with colour-vision deficiency (ColorBrewer's red–blue).
DIVERGING = "RdBu_r"


def _label(key: str) -> tuple[str, float]:
    return LABELS.get(key, (key, 1.0))


def _records(history) -> list[dict]:
    return history.epochs if hasattr(history, "epochs") else list(history)


@styled
def collapse_curves(histories: Mapping[str, object], keys: Sequence[str] = ("knn", "std_z·√D", "rankme_z"),
                    references: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Numbers against epochs for several runs: one panel per key, one line per run (its own colour and marker).

    Args:
        histories: run name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold ``keys``,
            e.g. from ``fit(monitor=..., measures=[collapse_metrics ...])``.
        keys: the numbers to draw, in panel order (:data:`LABELS` names them; accuracies are drawn in %).
        references: key → {label: value} drawn as grey dashed lines on that key's panel, e.g.
            ``{"knn": {"chance": 0.1}}`` (in the key's own units, before the % factor).
    """
    size = cell_size(len(keys), 3.3)
    fig = figure(size * len(keys), 3.4)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        title, factor = _label(key)
        for i, (name, history) in enumerate(histories.items()):
            points = [(r["epoch"], factor * r[key]) for r in _records(history) if key in r]
            if points:
                ax.plot(*zip(*points), label=name, markevery=max(1, len(points) // 8), **series_style(i))
        for (label, value), dashes in zip((references or {}).get(key, {}).items(), ("--", ":", "-.")):
            ax.axhline(factor * value, color=REFERENCE, ls=dashes, lw=1.5, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, wrap=True)
        ax.grid(alpha=0.3)
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels())}
    legend_below(fig, list(handles.values()), list(handles))
    return fig


@styled
def collapse_bars(rows: Mapping[str, Mapping[str, float]],
                  keys: Sequence[str] = ("knn", "rankme_z", "std_z·√D")) -> Figure:
    """Final numbers of several runs: one panel per key (each on its own scale), one labelled bar per run.

    Args:
        rows: run name → {key: value}, e.g. each run's last history record.
        keys: the numbers to draw (:data:`LABELS` names them; accuracies are drawn in %).
    """
    names = list(rows)
    size = cell_size(len(keys), 3.3)
    fig = figure(size * len(keys), 3.6)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        title, factor = _label(key)
        values = [factor * rows[name][key] for name in names]
        bars = ax.bar(range(len(names)), values, 0.7, color=[SERIES_COLOURS[i % len(SERIES_COLOURS)]
                                                             for i in range(len(names))])
        ax.bar_label(bars, fmt="%.3g", fontsize=11)
        ax.set_xticks(range(len(names)), [textwrap.fill(name, 12) for name in names])
        ax.set_ylim(0, 1.18 * max(max(values), 1e-9))
        ax.set_title(title, wrap=True)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


class CrossCorrelations:
    r"""A measure for ``fit(measures=[...])``: Barlow Twins' cross-correlation C of two fixed views of fixed images.

    Two views of every image are drawn once, from ``seed``, so every call correlates the same pairs; C is the
    matrix :func:`clkit.losses.barlow_twins` computes from the projections z of the two views::

        C = ẑ1ᵀ ẑ2 / N,   ẑ = each dimension standardised over the N images

    Each call keeps C (D, D) in :attr:`matrices`, in call order, and returns two summaries that ``fit`` writes
    into that epoch's record, so the history says which epoch each matrix belongs to (:meth:`by_epoch`):
    ``corr_diagonal``, the mean of C_ii (1 when every dimension agrees across the views), and
    ``corr_off_diagonal``, the root mean square of C_ij, i ≠ j (0 when the dimensions are decorrelated).

    Args:
        images: (N, C, H, W) uint8 images, N ≥ 2 (a few hundred).
        augment: the view recipe, e.g. ``method.augment``.
        seed: the draw of the views.
    """

    def __init__(self, images: Tensor, augment: Callable[..., Tensor], seed: int = 0):
        x, generator = to_float(images), torch.Generator().manual_seed(seed)
        self.views = augment(x, generator), augment(x, generator)  # drawn once, as clkit.augment.two_views draws them
        self.matrices: list[Tensor] = []

    def __call__(self, method: nn.Module) -> dict[str, float]:
        z1, z2 = (project(method, v) for v in self.views)
        c = barlow_twins(z1, z2).matrix.cpu()
        self.matrices.append(c)
        off = ~torch.eye(len(c), dtype=torch.bool)
        return {"corr_diagonal": float(c.diagonal().mean()), "corr_off_diagonal": float(c[off].pow(2).mean().sqrt())}

    def by_epoch(self, history) -> dict[int, Tensor]:
        """Epoch → C, pairing :attr:`matrices` with the records of ``history`` that hold this measure's numbers."""
        epochs = [r["epoch"] for r in _records(history) if "corr_diagonal" in r]
        if len(epochs) != len(self.matrices):
            raise ValueError(f"the history has {len(epochs)} records of this measure but it kept "
                             f"{len(self.matrices)} matrices: pass the history of the run it measured")
        return dict(zip(epochs, self.matrices))


@styled
def cross_correlation_figure(matrices: Mapping[int, Tensor], dims: int = 32, size: float = 2.3) -> Figure:
    """A row of cross-correlation matrices, one per epoch: the first ``dims`` dimensions of each, on one diverging
    scale from −1 (blue) through 0 (white) to 1 (red), titled with the mean of the whole diagonal.

    Barlow Twins drives C towards the identity: a red diagonal on a white ground.

    Args:
        matrices: epoch → C (D, D), e.g. :meth:`CrossCorrelations.by_epoch` (or a chosen few of its epochs).
        dims: how many leading dimensions to draw (all of them if fewer).
        size: a panel's side in inches, shrunk to fit the row and its colour bar in the width.
    """
    n = len(matrices)
    side = cell_size(n, size, reserved=1.0)
    fig = figure(side * n + 1.0, side + 1.0)
    *axes, bar_ax = fig.subplots(1, n + 1, gridspec_kw={"width_ratios": [1.0] * n + [0.08]})
    image = None
    for ax, (epoch, c) in zip(axes, matrices.items()):
        c = np.asarray(c.detach().cpu() if isinstance(c, Tensor) else c)
        shown = c[:dims, :dims]
        image = ax.imshow(shown, cmap=DIVERGING, vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"epoch {epoch}\nmean Cᵢᵢ {np.diagonal(c).mean():.2f}")
        ticks = [0, len(shown) - 1]
        ax.set_xticks(ticks, [str(t + 1) for t in ticks])
        ax.set_yticks(ticks, [str(t + 1) for t in ticks])
        ax.set_xlabel("view 2")
    axes[0].set_ylabel("view 1")
    fig.colorbar(image, cax=bar_ax, label="Cᵢⱼ")
    fig.tight_layout()
    panel, bar = axes[0].get_position(), bar_ax.get_position()
    bar_ax.set_position((bar.x0, panel.y0, bar.width, panel.height))  # the bar as tall as the matrices, no taller
    return fig
