"""Pictures of the loss itself: similarity matrices, the softmax over negatives and what τ does to it.

The temperature figures are those of notebook 04: one anchor's softmax under a temperature, and how
much of the push lands on negatives of the anchor's own class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.viz.style import (
    HARD_NEGATIVE,
    MAX_WIDTH,
    MIN_FONT,
    NEGATIVE,
    POSITIVE,
    REFERENCE,
    figure,
    styled,
    to_numpy_image,
)


@styled
def similarity_heatmap(
    sim: Tensor,
    labels: Sequence[str] | None = None,
    title: str = "cosine similarity",
    annotate: bool | None = None,
    ax_size: float = 4.5,
) -> Figure:
    """A heatmap of an (M, M) or (M, K) similarity matrix, values annotated when it is small.

    An annotated matrix gets at least half an inch per cell, room for a value at the smallest text size.
    """
    s = sim.detach().float().cpu().numpy()
    annotate = (s.size <= 144) if annotate is None else annotate
    if annotate:
        ax_size = max(ax_size, 0.5 * max(s.shape))
    ax_size = min(ax_size, MAX_WIDTH - 1.6)
    fig = figure(ax_size + 1.6, ax_size + 0.6)
    ax = fig.subplots()
    image = ax.imshow(s, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8)
    if labels is not None:
        ax.set_xticks(range(s.shape[1]), labels[: s.shape[1]], rotation=90)
        ax.set_yticks(range(s.shape[0]), labels[: s.shape[0]])
    if annotate:
        for (i, j), v in np.ndenumerate(s):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=MIN_FONT,
                    color="white" if abs(v) > 0.6 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _mark(ax, x: float, height: float, colour: str, marker: str, label: str | None = None) -> None:
    # A marker just above one bar, so that a bar one pixel wide is still found by its shape, not its colour only.
    ax.plot([x], [height], ls="", marker=marker, ms=10, mfc=colour, mec="black", mew=1, clip_on=False, label=label)


@styled
def softmax_over_negatives(
    similarities: Tensor,
    positive: int,
    temperatures: Sequence[float] = (0.05, 0.2, 1.0),
) -> Figure:
    """How τ reshapes one anchor's softmax over its candidates, sorted by similarity: one panel per τ, stacked,
    on a shared scale.

    The positive's bar is orange and marked with a triangle (and a dotted line, for when its bar is too
    small to see), the negatives' bars sky blue.

    Args:
        similarities: (K,) cosine similarities of the anchor to its 2N − 1 candidates.
        positive: index of the positive among them.
    """
    order = torch.argsort(similarities, descending=True)
    s = similarities[order]
    is_positive = (order == positive).numpy()
    fig = figure(9.0, 2.2 * len(temperatures) + 0.6)
    axes = fig.subplots(len(temperatures), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    rank = int(np.flatnonzero(is_positive)[0])
    weights = {tau: torch.softmax(s / tau, dim=0).numpy() for tau in temperatures}
    for ax, (tau, p) in zip(axes, weights.items()):
        ax.bar(np.arange(len(p)), p, width=1.0, color=np.where(is_positive, POSITIVE, NEGATIVE))
        ax.axvline(rank, color=POSITIVE, ls=":", lw=1.5)
        _mark(ax, rank, p[rank], POSITIVE, "v")
        ax.set_title(f"τ = {tau}: P(positive) = {p[is_positive].sum():.2f}")
        ax.set_ylabel("softmax weight")
    axes[0].set_ylim(0, 1.15 * max(p.max() for p in weights.values()))  # shared: room for the markers
    axes[-1].set_xlabel(f"candidates, most similar first (the positive, ▼, ranks {rank + 1})")
    fig.tight_layout()
    return fig


@styled
def loss_vs_temperature(z1: Tensor, z2: Tensor, temperatures: Sequence[float]) -> Figure:
    """NT-Xent of one fixed batch of embeddings across τ, with the collapsed batch's log(2N − 1) for reference.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
    """
    from clkit.losses import collapsed_nt_xent, nt_xent

    values = [nt_xent(z1, z2, tau).item() for tau in temperatures]
    fig = figure(6.5, 4.0)
    ax = fig.subplots()
    ax.plot(temperatures, values, marker="o", label="this batch")
    ax.axhline(collapsed_nt_xent(len(z1)), color=REFERENCE, ls="--", lw=1.5, label="collapsed batch: log(2N − 1)")
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("NT-Xent")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _log_grid(low: float, high: float, n: int = 60) -> np.ndarray:
    return np.exp(np.linspace(np.log(low), np.log(high), n))


@styled
def anchor_temperature_figure(
    z1: Tensor,
    z2: Tensor,
    anchor: int,
    temperature: float,
    views: Tensor | None = None,
    labels: Tensor | None = None,
    show_hard_negative: bool = True,
    temperature_range: tuple[float, float] = (0.01, 2.0),
    class_names: Sequence[str] | None = None,
) -> Figure:
    r"""What NT-Xent does to one anchor at temperature τ (:func:`clkit.losses.anchor_weights`), in a 2 × 2 grid.

    1. top left: the softmax weights P_j the anchor puts on its 2N − 1 candidates, most similar first,
       the positive in orange (▼), the hardest negative in dark blue (◆), the other negatives sky blue,
       with the τ → ∞ limit (uniform, 1/(2N − 1)) dashed;
    2. top right: the gradient weight on each negative, ∂ℓ/∂s_j = P_j/τ, and the share of the total push
       that the hardest five negatives get (τ → 0: all of it goes to the hardest one);
    3. bottom left: the anchor's loss ℓ (orange) and the batch's NT-Xent (black) against τ, with both limits
       in grey (τ → ∞: log(2N − 1); τ → 0: max(0, s_hard − s_p)/τ, a triplet loss with margin 0) and the batch's
       contrastive accuracy, which does not depend on τ for fixed embeddings (without ``views``, this
       panel spans the bottom row);
    4. bottom right, when ``views`` is given: the anchor view, its positive (framed orange) and
       (``show_hard_negative``) the hardest negative (framed dark blue), a different image, with their
       similarities to the anchor.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
        anchor: index among the 2N stacked views ``[z1; z2]``.
        temperature: τ > 0.
        views: optional (2N, C, H, W) images of the stacked views, in the same order.
        labels: optional (N,) class of each image; a hard negative of the anchor's class is flagged.
        show_hard_negative: mark the hardest negative in the bars and show its image.
        temperature_range: the τ axis of panel 3.
        class_names: names of the classes, to title the images with.
    Returns:
        a Figure with 3 axes, plus 2 or 3 image axes when ``views`` is given.
    """
    from clkit.evaluate import contrastive_accuracy
    from clkit.losses import anchor_weights, collapsed_nt_xent, nt_xent

    w = anchor_weights(z1, z2, anchor, temperature)
    n = len(z1)
    k = len(w.similarities)
    order = torch.argsort(w.similarities, descending=True)
    rank_of = torch.empty_like(order)
    rank_of[order] = torch.arange(k)
    hard = int(w.hardest_negatives(1)[0])
    positive_rank, hard_rank = int(rank_of[w.positive]), int(rank_of[hard])
    colors = np.full(k, NEGATIVE, dtype=object)
    colors[positive_rank] = POSITIVE
    if show_hard_negative:
        colors[hard_rank] = HARD_NEGATIVE

    fig = figure(10.0, 7.6)
    grid = fig.add_gridspec(2, 2)
    ax_p, ax_g = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_l = fig.add_subplot(grid[1, 0] if views is not None else grid[1, :])

    p = w.probabilities[order].numpy()
    ax_p.bar(np.arange(k), p, width=1.0, color=colors)
    ax_p.axhline(1 / k, color=REFERENCE, ls="--", lw=1.5, label=f"τ→∞: uniform 1/{k}")
    _mark(ax_p, positive_rank, p[positive_rank], POSITIVE, "v", "positive")
    if show_hard_negative:
        _mark(ax_p, hard_rank, p[hard_rank], HARD_NEGATIVE, "D", "hardest negative")
    p_positive = float(w.probabilities[w.positive])
    ax_p.set_title(f"τ = {temperature:.3g}: softmax weights\nP(positive) = {p_positive:.2f}")
    ax_p.set_xlabel("candidates, most similar first")
    ax_p.set_ylabel("P_j")
    ax_p.set_ylim(0, 1.2 * p.max())
    ax_p.legend(loc="upper right")

    negatives = w.negatives
    push = w.gradient[negatives]
    s_neg = w.similarities[negatives]
    neg_order = torch.argsort(s_neg, descending=True)
    push_sorted = push[neg_order].numpy()
    top5 = push_sorted[:5].sum() / push_sorted.sum()
    neg_colors = np.full(k - 1, NEGATIVE, dtype=object)
    if show_hard_negative:
        neg_colors[0] = HARD_NEGATIVE
        _mark(ax_g, 0, push_sorted[0], HARD_NEGATIVE, "D")
    ax_g.bar(np.arange(k - 1), push_sorted, width=1.0, color=neg_colors)
    ax_g.set_title(f"push on each negative, ∂ℓ/∂s_j = P_j/τ\nthe hardest 5 get {top5:.0%}")
    ax_g.set_xlabel("negatives, hardest first")
    ax_g.set_ylabel("P_j / τ")
    ax_g.set_ylim(0, 1.2 * push_sorted.max())
    ax_g.text(0.97, 0.95, "τ→0: all on the hardest\nτ→∞: all equal", transform=ax_g.transAxes, ha="right",
              va="top", color="dimgrey", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})

    taus = _log_grid(*temperature_range)
    own = [anchor_weights(z1, z2, anchor, t).loss for t in taus]
    batch = [nt_xent(z1, z2, float(t)).item() for t in taus]
    s_p, s_hard = float(w.similarities[w.positive]), float(w.similarities[hard])
    triplet = max(0.0, s_hard - s_p) / taus
    ceiling = collapsed_nt_xent(n)
    ax_l.plot(taus, own, color=POSITIVE, label="this anchor's ℓ")
    ax_l.plot(taus, batch, color="black", ls="-.", label="batch NT-Xent")
    ax_l.axhline(ceiling, color=REFERENCE, ls="--", lw=1.5, label=f"τ→∞: log(2N−1) = {ceiling:.2f}")
    if s_hard > s_p:
        ax_l.plot(taus, triplet, color=REFERENCE, ls=":", lw=2, label="τ→0: max(0, s_hard − s_p)/τ")
    ax_l.axvline(temperature, color="black", lw=1)
    ax_l.plot([temperature], [w.loss], "o", ms=8, color=POSITIVE, mec="black")
    ax_l.set_xscale("log")
    ax_l.set_ylim(0, 2.0 * ceiling)  # the limit at half height, the legend above it
    ax_l.set_xlabel("temperature τ")
    accuracy = float(contrastive_accuracy(z1, z2))
    ax_l.set_title(f"ℓ = {w.loss:.2f}: the positive {'is' if w.correct else 'is not'} top-1\n"
                   f"batch contrastive accuracy {accuracy:.0%}")
    ax_l.legend(loc="upper right")
    for ax in (ax_p, ax_g, ax_l):
        ax.grid(alpha=0.3)

    if views is not None:
        def name(view: int) -> str:
            image = view % n
            if labels is None:
                return f"image {image}"
            label = int(labels[image])
            return f"image {image}, {class_names[label] if class_names is not None else f'class {label}'}"

        shown = [(anchor, f"anchor\n{name(anchor)}", "black"),
                 (int(w.candidates[w.positive]), f"positive, s = {s_p:.2f}", POSITIVE)]
        if show_hard_negative:
            view = int(w.candidates[hard])
            note = ""
            if labels is not None and int(labels[view % n]) == int(labels[anchor % n]):
                note = "\nsame class: a false negative"
            shown.append((view, f"hardest negative, s = {s_hard:.2f}\n{name(view)}{note}", HARD_NEGATIVE))
        _image_column(fig, grid[1, 1], views, shown)
    fig.tight_layout()
    return fig


def _image_column(fig, cell, views: Tensor, shown: list[tuple[int, str, str]]) -> None:
    # The views shown, one per row of the grid cell, each titled beside it and framed in the colour of its bar.
    rows = cell.subgridspec(3, 1)
    for row, (view, title, colour) in enumerate(shown):
        ax = fig.add_subplot(rows[row])
        ax.imshow(to_numpy_image(views[view]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, x=1.08, y=0.5, ha="left", va="center")  # beside the image, not over it
        ax.set_anchor("W")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(3)


def same_class_push(z1: Tensor, z2: Tensor, labels: Tensor, temperature: float) -> float:
    r"""The share of the push on negatives that lands on negatives of the anchor's own class, over all anchors.

    Each negative j of anchor k is pushed with weight P_kj/τ (:func:`clkit.losses.anchor_weights`);
    this returns Σ_k Σ_{j same class} P_kj / Σ_k Σ_{j negative} P_kj (the 1/τ cancels). Without labels
    the loss cannot tell these "false negatives" from true ones; a small τ concentrates the push on
    the most similar negatives, which for a good encoder are often of the same class.

    Args:
        z1, z2: (N, D) embeddings of the two views; labels: (N,) classes of the N images.
    """
    from clkit.losses import check_temperature

    check_temperature(temperature)
    n = len(z1)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).detach().double().cpu(), dim=1)
    y = torch.cat([labels, labels]).cpu()
    logits = (z @ z.T) / temperature
    logits.fill_diagonal_(float("-inf"))
    p = torch.softmax(logits, dim=1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    negative = torch.ones_like(p, dtype=torch.bool)
    negative.fill_diagonal_(False)
    negative[torch.arange(2 * n), partner] = False
    same = negative & (y[:, None] == y[None, :])
    return float((p * same).sum() / (p * negative).sum())


@styled
def same_class_push_figure(z1: Tensor, z2: Tensor, labels: Tensor,
                           temperature_range: tuple[float, float] = (0.01, 2.0)) -> Figure:
    """:func:`same_class_push` against τ, with the share of same-class negatives (what τ → ∞ gives) dashed."""
    taus = _log_grid(*temperature_range, n=30)
    shares = [same_class_push(z1, z2, labels, float(t)) for t in taus]
    y = torch.cat([labels, labels]).cpu()
    n2 = len(y)
    same_pairs = float(((y[:, None] == y[None, :]).sum() - 2 * n2) / (n2 * (n2 - 2)))
    fig = figure(7.0, 4.2)
    ax = fig.subplots()
    ax.plot(taus, [100 * s for s in shares], marker="o", ms=5, label="share of the push on same-class negatives")
    ax.axhline(100 * same_pairs, color=REFERENCE, ls="--", lw=1.5, label="share of negatives that are same-class")
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
