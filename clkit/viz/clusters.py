"""Pictures of clusters: the images a prototype (SwAV) or an output dimension (DINO) gathers, and the sizes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, PercentFormatter
from torch import Tensor

from clkit.evaluate.clusters import ClusterReport, cluster_members
from clkit.viz.style import SERIES_COLOURS, cell_size, figure, styled, text_width, to_numpy_image


@styled
def cluster_gallery(
    images: Tensor,
    assignments: Tensor,
    report: ClusterReport,
    classes: Sequence[str],
    clusters: Sequence[int] | None = None,
    per_cluster: int = 10,
    title: str | None = None,
    size: float = 0.9,
    seed: int = 0,
) -> Figure:
    """One row per cluster: its label (index, size, majority class and its share), then images assigned to it.

    Args:
        images: (N, C, H, W) uint8 or float in [0, 1]; assignments: (N,) their clusters.
        report: :func:`clkit.evaluate.cluster_report` of the same assignments (for the row labels).
        classes: class names, indexed by ``report.majority``.
        clusters: the clusters to show, top to bottom (default: the 8 largest).
        per_cluster: images per row, drawn at random from the cluster.
        size: an image's side in inches, made smaller if a row would not fit the width.
    """
    if clusters is None:
        clusters = [int(k) for k in report.sizes.argsort(descending=True)[:8] if report.sizes[k] > 0]
    rows = [f"#{k}: {int(report.sizes[k])} images\n{100 * float(report.share[k]):.0f}% "
            f"{classes[int(report.majority[k])] if report.majority[k] >= 0 else '—'}" for k in clusters]
    label_width = max(text_width(line) for row in rows for line in row.splitlines()) + 0.2
    size = cell_size(per_cluster, size, reserved=label_width)
    fig = figure(size * per_cluster + label_width, len(clusters) * (size + 0.12) + (0.5 if title else 0.1))
    axes = fig.subplots(len(clusters), per_cluster, squeeze=False)
    for r, (k, members) in enumerate(zip(clusters, cluster_members(assignments, list(clusters), per_cluster, seed))):
        axes[r, 0].set_ylabel(rows[r], rotation=0, ha="right", va="center")
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(members):
                ax.imshow(to_numpy_image(images[int(members[c])]), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@styled
def cluster_sizes(reports: dict[str, ClusterReport], title: str | None = None) -> Figure:
    """Each run's cluster sizes, largest first, as a share of the images (log scale): a flat line is K equal
    clusters, a cliff after the first few is a run that uses few of its clusters."""
    fig = figure(7.0, 3.6)
    ax = fig.subplots()
    for i, (name, report) in enumerate(reports.items()):
        shares = report.sizes.sort(descending=True).values.double() / report.sizes.sum()
        used = shares[shares > 0].numpy()
        ax.plot(np.arange(1, len(used) + 1), used, color=SERIES_COLOURS[i % len(SERIES_COLOURS)], lw=2.5,
                ls=("-", "--", ":", "-.")[i % 4], label=f"{name}: {report.used} used, NMI {report.nmi:.2f}")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("cluster, largest first")
    ax.set_ylabel("share of images")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


@styled
def factor_nmi_bars(rows: dict[str, dict[str, float]], title: str | None = None,
                    chance: dict[str, dict[str, float]] | None = None) -> Figure:
    """What each run's clusters follow: the NMI of its clusters with each factor (the class, and nuisances cut
    into equal bins), one group of bars per factor, one bar per run, each value written above its bar.

    Args:
        rows: run name → factor name → NMI in [0, 1], every run with the same factors.
        chance: the same shape, the NMI each bar reaches by chance (:func:`clkit.evaluate.chance_nmi`), drawn as
            a black line across its bar: a bar that barely clears its line says nothing about its factor.
    """
    runs = list(rows)
    factors = list(rows[runs[0]])
    width = 0.8 / len(runs)
    fig = figure(min(10.0, 1.4 + 1.25 * len(factors) * max(1, len(runs) / 2)), 4.2)
    ax = fig.subplots()
    for i, run in enumerate(runs):
        x = np.arange(len(factors)) + (i - (len(runs) - 1) / 2) * width
        values = [rows[run][f] for f in factors]
        bars = ax.bar(x, values, width, color=SERIES_COLOURS[i % len(SERIES_COLOURS)], label=run,
                      hatch=("", "//", "..", "xx")[i % 4], edgecolor="white")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=11, rotation=90)
        if chance is not None:
            ax.hlines([chance[run][f] for f in factors], x - width / 2, x + width / 2, colors="black", linewidth=2,
                      label="chance" if i == 0 else None)
    ax.set_xticks(np.arange(len(factors)), [f.replace(" ", "\n") for f in factors])  # two lines, no overlap
    ax.set_ylabel("NMI with the clusters")
    ax.set_ylim(0, max(0.1, max(v for r in rows.values() for v in r.values())) * 1.35)
    ax.legend(frameon=False, ncol=len(runs) + (chance is not None), loc="upper center")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
