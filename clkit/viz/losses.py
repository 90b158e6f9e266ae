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

from clkit.viz.style import to_numpy_image


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
    rank = int(np.flatnonzero(is_positive)[0])
    for ax, tau in zip(axes, temperatures):
        p = torch.softmax(s / tau, dim=0).numpy()
        ax.bar(np.arange(len(p)), p, color=np.where(is_positive, "tab:orange", "tab:blue"))
        ax.axvline(rank, color="tab:orange", ls=":", lw=1)  # the positive stays findable when its bar is tiny
        ax.set_title(f"τ = {tau}: P(positive) = {p[is_positive].sum():.2f}")
        ax.set_xlabel(f"candidates, most similar first (positive: rank {rank + 1})")
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


def _log_grid(low: float, high: float, n: int = 60) -> np.ndarray:
    return np.exp(np.linspace(np.log(low), np.log(high), n))


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
    r"""What NT-Xent does to one anchor at temperature τ, as four panels (see :func:`clkit.losses.anchor_weights`).

    1. the softmax weights P_j the anchor puts on its 2N − 1 candidates, most similar first, the
       positive in orange, with the τ → ∞ limit (uniform, 1/(2N − 1)) dashed;
    2. the gradient weight on each negative, ∂ℓ/∂s_j = P_j/τ, and the share of the total push
       that the hardest five negatives get (τ → 0: all of it goes to the hardest one);
    3. the anchor's loss ℓ and the batch's NT-Xent against τ, with both limits (τ → ∞: log(2N − 1);
       τ → 0: max(0, s_hard − s_p)/τ, a triplet loss with margin 0) and the batch's contrastive
       accuracy, which does not depend on τ for fixed embeddings;
    4. when ``views`` is given: the anchor view, its positive and (``show_hard_negative``) the
       hardest negative, a different image, with their similarities to the anchor.

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
    colors = np.full(k, "tab:blue", dtype=object)
    colors[int(rank_of[w.positive])] = "tab:orange"
    if show_hard_negative:
        colors[int(rank_of[hard])] = "tab:red"

    n_images = 0 if views is None else (3 if show_hard_negative else 2)
    fig = Figure(figsize=(15.5 if n_images else 13.5, 3.7))
    grid = fig.add_gridspec(3, 4 if n_images else 3, width_ratios=[1, 1, 1, 0.32][: 4 if n_images else 3])
    ax_p, ax_g, ax_l = (fig.add_subplot(grid[:, c]) for c in range(3))

    x = np.arange(k)
    p = w.probabilities[order].numpy()
    ax_p.bar(x, p, width=1.0, color=colors)
    ax_p.axhline(1 / k, color="grey", ls="--", lw=1, label=f"τ→∞: uniform 1/{k}")
    ax_p.set_title(f"τ = {temperature:.3g}: softmax weights, P(positive) = {float(w.probabilities[w.positive]):.2f}",
                   fontsize=9)
    ax_p.set_xlabel("candidates, most similar first")
    ax_p.set_ylabel("P_j")
    ax_p.legend(fontsize=7, loc="upper right")

    negatives = w.negatives
    push = w.gradient[negatives]
    s_neg = w.similarities[negatives]
    neg_order = torch.argsort(s_neg, descending=True)
    push_sorted = push[neg_order].numpy()
    top5 = push_sorted[:5].sum() / push_sorted.sum()
    neg_colors = np.full(k - 1, "tab:blue", dtype=object)
    if show_hard_negative:
        neg_colors[0] = "tab:red"
    ax_g.bar(np.arange(k - 1), push_sorted, width=1.0, color=neg_colors)
    ax_g.set_title(f"push on each negative ∂ℓ/∂s_j = P_j/τ: hardest 5 get {top5:.0%}", fontsize=9)
    ax_g.set_xlabel("negatives, hardest first")
    ax_g.set_ylabel("P_j / τ")
    ax_g.text(0.98, 0.95, "τ→0: all on the hardest\nτ→∞: all equal", transform=ax_g.transAxes, ha="right",
              va="top", fontsize=7, color="dimgrey", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})

    taus = _log_grid(*temperature_range)
    own = [anchor_weights(z1, z2, anchor, t).loss for t in taus]
    batch = [nt_xent(z1, z2, float(t)).item() for t in taus]
    s_p, s_hard = float(w.similarities[w.positive]), float(w.similarities[hard])
    triplet = max(0.0, s_hard - s_p) / taus
    ceiling = collapsed_nt_xent(n)
    ax_l.plot(taus, own, color="tab:orange", label="this anchor's ℓ")
    ax_l.plot(taus, batch, color="tab:blue", label="batch NT-Xent")
    ax_l.axhline(ceiling, color="grey", ls="--", lw=1, label=f"τ→∞: log(2N−1) = {ceiling:.2f}")
    if s_hard > s_p:
        ax_l.plot(taus, triplet, color="tab:red", ls=":", lw=1, label="τ→0: max(0, s_hard − s_p)/τ")
    ax_l.axvline(temperature, color="black", lw=0.8)
    ax_l.plot([temperature], [w.loss], "o", color="tab:orange")
    ax_l.set_xscale("log")
    ax_l.set_ylim(0, 1.6 * ceiling)
    ax_l.set_xlabel("temperature τ")
    accuracy = float(contrastive_accuracy(z1, z2))
    ax_l.set_title(f"ℓ = {w.loss:.2f} (positive {'is' if w.correct else 'is not'} top-1); "
                   f"batch contrastive acc {accuracy:.0%}", fontsize=9)
    ax_l.legend(fontsize=7, loc="upper right")
    for ax in (ax_p, ax_g, ax_l):
        ax.grid(alpha=0.3)

    if n_images:
        def name(view: int) -> str:
            image = view % n
            if labels is None:
                return f"image {image}"
            label = int(labels[image])
            return f"image {image}, {class_names[label] if class_names is not None else f'class {label}'}"

        shown = [(anchor, f"anchor\n{name(anchor)}"),
                 (int(w.candidates[w.positive]), f"positive, s = {s_p:.2f}")]
        if show_hard_negative:
            view = int(w.candidates[hard])
            note = ""
            if labels is not None and int(labels[view % n]) == int(labels[anchor % n]):
                note = "\nsame class: a false negative"
            shown.append((view, f"hardest negative, s = {s_hard:.2f}\n{name(view)}{note}"))
        for row, (view, title) in enumerate(shown):
            ax = fig.add_subplot(grid[row, 3])
            ax.imshow(to_numpy_image(views[view]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.set_axis_off()
    fig.tight_layout()
    return fig


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


def same_class_push_figure(z1: Tensor, z2: Tensor, labels: Tensor,
                           temperature_range: tuple[float, float] = (0.01, 2.0)) -> Figure:
    """:func:`same_class_push` against τ, with the share of same-class negatives (what τ → ∞ gives) dashed."""
    taus = _log_grid(*temperature_range, n=30)
    shares = [same_class_push(z1, z2, labels, float(t)) for t in taus]
    y = torch.cat([labels, labels]).cpu()
    n2 = len(y)
    same_pairs = float(((y[:, None] == y[None, :]).sum() - 2 * n2) / (n2 * (n2 - 2)))
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    ax.plot(taus, [100 * s for s in shares], marker="o", ms=3, label="share of the push on same-class negatives")
    ax.axhline(100 * same_pairs, color="grey", ls="--", lw=1, label="share of negatives that are same-class")
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
