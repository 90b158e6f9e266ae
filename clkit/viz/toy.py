"""Pictures of the margin lesson's toy (notebook 13): the points and their views, what each loss made of them,
where each loss pushes its negatives, and NT-Xent on its way to the τ → 0 limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from torch import Tensor

from clkit.data.toy import ToySet
from clkit.train.toy import Push, ToyRun
from clkit.viz.style import (
    HARD_NEGATIVE,
    NEGATIVE,
    POSITIVE,
    REFERENCE,
    cell_size,
    class_colours,
    class_markers,
    figure,
    legend_below,
    marker_area,
    scatter_classes,
    series_style,
    styled,
)


@styled
def toy_figure(toy: ToySet, v1: Tensor, v2: Tensor, cluster: int = 0, size: float = 4.6) -> Figure:
    """The toy's points by cluster (left) and one cluster close up (right), each point's two views joined by a
    line: a neighbour in the same cluster can be as close as the point's own second view.

    Args:
        toy: the points; v1, v2: (N, 2) their two views (:func:`clkit.data.toy.toy_views`).
        cluster: the cluster shown close up.
    """
    points, labels = toy.points.numpy(), toy.labels.numpy()
    a, b = v1.numpy(), v2.numpy()
    inside = labels == cluster
    low, high = points[inside].min(axis=0), points[inside].max(axis=0)
    pad = 0.1 * (high - low).max()
    low, high = low - pad, high + pad
    size = cell_size(2, size)
    fig = figure(2 * size, size + 0.4)
    whole, close = fig.subplots(1, 2)
    scatter_classes(whole, points, labels, toy.classes, marker_area(len(points)))
    whole.add_patch(Rectangle(low, *(high - low), fill=False, ec="black", lw=1.5, ls="--"))
    whole.set_title(f"{len(points)} points in {len(toy.classes)} clusters")
    for i in np.flatnonzero(inside):
        close.plot([a[i, 0], b[i, 0]], [a[i, 1], b[i, 1]], color=POSITIVE, lw=1.5, marker="o", ms=4)
    close.plot([], [], color=POSITIVE, lw=1.5, marker="o", ms=4, label="a point's two views")
    colour, marker = class_colours(len(toy.classes))[cluster], class_markers(len(toy.classes))[cluster]
    close.scatter(*points[inside].T, s=40, color=colour, marker=marker, alpha=0.4, lw=0)
    close.set_xlim(low[0], high[0])
    close.set_ylim(low[1], high[1])
    close.set_title(f"{toy.classes[cluster]}, close up")
    for ax in (whole, close):
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    handles, names = whole.get_legend_handles_labels()
    handles.append(close.get_legend_handles_labels()[0][0])
    names.append("a point's two views")
    legend_below(fig, handles, names, markerscale=1.5)
    return fig


@styled
def toy_embeddings_figure(runs: Mapping[str, ToyRun], toy: ToySet, ncols: int = 3,
                          size: float = 3.3) -> Figure:
    """What each run made of the toy's points, side by side: a loss on the circle by the angle of each output
    (drawn at a random radius between 1 and 1.15, only so that points on one angle stay visible), a loss in
    the plane by the outputs themselves.

    Args:
        runs: title → trained :class:`~clkit.train.toy.ToyRun`.
        toy: the points the runs embed (the clusters colour them; no loss saw them).
    """
    rows = math.ceil(len(runs) / ncols)
    size = cell_size(ncols, size)
    fig = figure(ncols * size, rows * (size + 0.5))
    axes = fig.subplots(rows, ncols, squeeze=False).ravel()
    labels = toy.labels.numpy()
    radius = 1 + 0.15 * np.random.default_rng(0).random(len(toy))
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, (name, run) in zip(axes, runs.items()):
        z = run.embed(toy.points)
        if run.loss.on_circle:
            u = F.normalize(z, dim=1).numpy() * radius[:, None]
            ax.plot(np.cos(theta), np.sin(theta), color=REFERENCE, lw=1)
            scatter_classes(ax, u, labels, toy.classes, marker_area(len(u)))
            ax.set_xlim(-1.25, 1.25)
            ax.set_ylim(-1.25, 1.25)
            ax.set_aspect("equal")
            ax.set_axis_off()
        else:  # the plane keeps its axes: there a distance, the margin's unit, can be read off
            scatter_classes(ax, z.numpy(), labels, toy.classes, marker_area(len(z)))
            ax.set_aspect("equal", adjustable="datalim")
            ax.grid(alpha=0.3)
        ax.set_title(f"{name}\nloss {run.losses[-1]:.3g}")
    for ax in axes[len(runs):]:
        ax.set_visible(False)
    legend_below(fig, *axes[0].get_legend_handles_labels(), markerscale=1.5)
    return fig


@styled
def push_figure(pushes: Mapping[str, Push], ncols: int = 3, size: float = 3.3) -> Figure:
    """Where each loss pushes: one dot per (anchor, negative) pair at its distance or similarity (x) and the
    size of the push it gets (|∂ℓ_a/∂x|), each anchor's hardest negative as a dark diamond, the loss's
    boundary (the margin, or 0) dashed. The title gives the share of pairs with no push at all and the share
    of each anchor's push that lands on its hardest negative.

    Args:
        pushes: title → :class:`~clkit.train.toy.Push`, e.g. ``loss.push(z1, z2)`` at the end of training.
    """
    rows = math.ceil(len(pushes) / ncols)
    size = cell_size(ncols, size)
    fig = figure(ncols * size, rows * (size + 0.3))
    axes = fig.subplots(rows, ncols, squeeze=False).ravel()
    for ax, (name, push) in zip(axes, pushes.items()):
        x, w = push.x.numpy(), push.weight.numpy()
        negative = push.negative.numpy()
        ax.scatter(x[negative], w[negative], s=12, color=NEGATIVE, lw=0, alpha=0.5, rasterized=True)
        rows_ = np.arange(len(x))
        hard = push.hardest.numpy()
        ax.scatter(x[rows_, hard], w[rows_, hard], s=22, marker="D", color=HARD_NEGATIVE, lw=0)
        ax.axvline(push.boundary, color=REFERENCE, ls="--", lw=1.5)
        ax.set_title(f"{name}\nidle {push.idle_share():.0%} · on the hardest {push.hardest_share():.0%}")
        ax.set_xlabel(push.x_label)
        ax.grid(alpha=0.3)
    for ax in axes[::ncols]:
        ax.set_ylabel("push |∂ℓ_a/∂x|")
    for ax in axes[len(pushes):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="o", color=NEGATIVE, ms=6),
               Line2D([], [], ls="", marker="D", color=HARD_NEGATIVE, ms=6),
               Line2D([], [], color=REFERENCE, ls="--", lw=1.5)]
    legend_below(fig, handles, ["an (anchor, negative) pair", "the anchor's hardest negative",
                                "the rule's boundary: m, α or 0"])
    return fig


@styled
def zero_temperature_figure(scaled: Mapping[float, float], shares: Mapping[float, float], limit: float,
                            candidates: int) -> Figure:
    """NT-Xent on fixed embeddings as τ falls (left to right): the share of each anchor's push on its hardest
    negative (left), and τ · NT-Xent closing in on its limit, a hardest-negative triplet loss with margin 0
    (right), inside the band [limit, limit + τ log(2N − 1)] that holds at every τ.

    Args:
        scaled: τ → τ · NT-Xent of the embeddings.
        shares: τ → the share of the push on the hardest negative
            (:meth:`~clkit.train.toy.Push.hardest_share`).
        limit: :func:`~clkit.train.toy.zero_temperature_limit` of the same embeddings.
        candidates: 2N − 1, the candidates of an anchor (2N − 2 of them negatives).
    """
    fig = figure(10.0, 4.2)
    share_ax, loss_ax = fig.subplots(1, 2)
    taus = np.array(sorted(scaled, reverse=True))
    share_ax.plot(taus, [shares[t] for t in taus], **series_style(0), label="this batch")
    share_ax.axhline(1 / (candidates - 1), color=REFERENCE, ls="--", lw=1.5,
                     label=f"τ → ∞: every negative alike, 1/{candidates - 1}")
    share_ax.axhline(1.0, color=REFERENCE, ls=":", lw=1.5, label="τ → 0: all of it")
    share_ax.set_ylabel("share of the push on the hardest negative")
    share_ax.set_yscale("log")
    share_ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.08))  # above the τ → ∞ line
    values = np.array([scaled[t] for t in taus])
    loss_ax.fill_between(taus, limit, limit + taus * math.log(candidates), color=REFERENCE, alpha=0.2,
                         label="limit + τ log(2N − 1)")
    loss_ax.plot(taus, values, **series_style(1), label="τ · NT-Xent")
    loss_ax.axhline(limit, color="black", ls="--", lw=1.5, label=f"τ → 0 limit: {limit:.3g}")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("τ · loss")
    loss_ax.legend(loc="upper right")
    for ax in (share_ax, loss_ax):
        ax.set_xscale("log")
        ax.invert_xaxis()  # τ falls from left to right: the curves run into their limits
        ax.set_xlabel("temperature τ (falling →)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
