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


def _display_figures_as_png() -> None:
    """In IPython, show a returned ``Figure`` as a PNG.

    pyplot registers that formatter when it is imported; these figures are made without
    pyplot, so we register it ourselves (a no-op outside IPython).
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


_display_figures_as_png()


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


def results_bars(results: dict[str, dict[str, float]], title: str = "accuracy on the test set") -> Figure:
    """Grouped bars of :func:`clkit.evaluate.report` results: one group per metric, one bar per feature set."""
    names = list(results)
    metrics = list(results[names[0]])
    fig = Figure(figsize=(1.6 + 1.3 * len(metrics) * max(1, len(names)) / 3, 3.6))
    ax = fig.subplots()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        x = np.arange(len(metrics)) + (i - (len(names) - 1) / 2) * width
        values = [100 * results[name][m] for m in metrics]
        bars = ax.bar(x, values, width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(np.arange(len(metrics)), metrics)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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


# --- temperature ---
# Figures of notebook 04: one anchor's softmax under a temperature, and a measured sweep.


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


def _value_colors(values: Sequence[float]) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(1, len(values) - 1) * 0.9) for i in range(len(values))]


def _param_label(param: str) -> str:
    return {"temperature": "τ"}.get(param, param)


def _value_axis(ax, param: str, values: Sequence[float]) -> None:
    # Temperatures on a log axis, ticks at the values themselves.
    if param == "temperature":
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.set_xlabel(_param_label(param))


def sweep_accuracy_figure(results: dict, published: dict[str, dict[float, float]] | None = None) -> Figure:
    """Final kNN and linear-probe accuracy against the swept value (one point per run of :func:`clkit.sweep.sweep`).

    ``published`` adds a second panel with curves from papers, name → {value: accuracy in %}, to
    compare the shape of the curve (their data and scale differ from ours).
    """
    param = results["param"]
    runs = sorted(results["runs"], key=lambda r: r["value"])
    values = [r["value"] for r in runs]
    fig = Figure(figsize=(10.5 if published else 5.5, 3.6))
    axes = fig.subplots(1, 2 if published else 1, squeeze=False)[0]
    ax = axes[0]
    for key, label, marker in (("knn", "kNN on h", "o"), ("linear", "linear probe on h", "s")):
        ax.plot(values, [100 * r["final"][key] for r in runs], marker=marker, label=label)
    settings = results["settings"]
    ax.set_title(f"{settings['dataset']}, {settings['encoder']}, {settings['epochs']} epochs", fontsize=9)
    ax.set_ylabel("test accuracy (%)")
    if published:
        for name, curve in published.items():
            taus = sorted(curve)
            axes[1].plot(taus, [curve[t] for t in taus], marker="o", label=name)
        axes[1].set_title("published (other data and scale: compare the shape)", fontsize=9)
        axes[1].set_ylabel("linear top-1 (%)")
    _value_axis(axes[0], param, values)
    if published:
        _value_axis(axes[1], param, sorted({t for curve in published.values() for t in curve}))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sweep_curves_figure(results: dict, keys: Sequence[str] = ("loss", "knn")) -> Figure:
    """Per-epoch curves of a sweep, one panel per key, one line per swept value."""
    param = results["param"]
    runs = sorted(results["runs"], key=lambda r: r["value"])
    fig = Figure(figsize=(4.2 * len(keys), 3.3))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for run, color in zip(runs, _value_colors([r["value"] for r in runs])):
            points = [(e["epoch"], e[key]) for e in run["epochs"] if key in e]
            if points:
                ax.plot(*zip(*points), marker="o", ms=2.5, color=color, label=f"{_param_label(param)} = {run['value']:g}")
        ax.set_xlabel("epoch")
        titles = {"knn": "kNN accuracy (test)", "loss": "training loss",
                  "contrastive_acc_heldout": "contrastive accuracy (held-out batch)"}
        ax.set_title(titles.get(key, key), fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def alignment_uniformity_figure(results: dict) -> Figure:
    """The alignment–uniformity plane (Wang & Isola 2020): one path per swept value, epoch 0 to the end.

    Both are measured on z of a fixed held-out batch of two views; lower is better on both axes.
    The start of each path is a hollow circle, the end a filled one labelled with the final kNN accuracy.
    """
    param = results["param"]
    runs = sorted(results["runs"], key=lambda r: r["value"])
    fig = Figure(figsize=(6.0, 4.4))
    ax = fig.subplots()
    for run, color in zip(runs, _value_colors([r["value"] for r in runs])):
        points = [(e["uniformity"], e["alignment"]) for e in run["epochs"] if "uniformity" in e]
        u, a = zip(*points)
        ax.plot(u, a, "-", color=color, lw=1.2, label=f"{_param_label(param)} = {run['value']:g}")
        ax.plot(u[0], a[0], "o", mfc="white", color=color, ms=5)
        ax.plot(u[-1], a[-1], "o", color=color, ms=6)
        ax.annotate(f"kNN {100 * run['final']['knn']:.0f}%", (u[-1], a[-1]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7, color=color)
    ax.set_xlabel("uniformity  log E exp(−2‖z_i − z_j‖²)   (lower: more uniform)")
    ax.set_ylabel("alignment  E‖z − z⁺‖²   (lower: closer)")
    ax.set_title("alignment vs uniformity of z over training (○ start, ● end)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pretext_vs_quality_figure(results: dict, published: dict[float, tuple[float, float]] | None = None) -> Figure:
    """The pretext task's accuracy against representation quality, one point per swept value.

    x: held-out contrastive accuracy of z (is the partner the most similar of 2N − 1 views?);
    y: kNN and linear-probe accuracy of h. ``published`` adds a panel of a paper's points,
    value → (contrastive accuracy %, linear %), e.g. SimCLR's Table 5.
    """
    param = results["param"]
    runs = sorted(results["runs"], key=lambda r: r["value"])
    fig = Figure(figsize=(10.5 if published else 5.5, 3.8))
    axes = fig.subplots(1, 2 if published else 1, squeeze=False)[0]
    ax = axes[0]
    x = [100 * r["final"]["contrastive_acc_heldout"] for r in runs]
    for key, label, marker in (("knn", "kNN", "o"), ("linear", "linear probe", "s")):
        y = [100 * r["final"][key] for r in runs]
        ax.plot(x, y, marker=marker, ls=":", label=label)
        if key == "linear":
            for xi, yi, r in zip(x, y, runs):
                ax.annotate(f"{_param_label(param)}={r['value']:g}", (xi, yi), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
    ax.set_xlabel("contrastive accuracy on a held-out batch (%)")
    ax.set_ylabel("test accuracy of h (%)")
    ax.set_title("our sweep", fontsize=9)
    if published:
        taus = sorted(published)
        px, py = zip(*(published[t] for t in taus))
        axes[1].plot(px, py, marker="s", ls=":", color="tab:orange")
        for t, xi, yi in zip(taus, px, py):
            axes[1].annotate(f"τ={t:g}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
        axes[1].set_xlabel("contrastive accuracy (%)")
        axes[1].set_ylabel("linear top-1 (%)")
        axes[1].set_title("SimCLR Table 5 (ImageNet, ResNet-50)", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def learned_temperature_figure(results: dict) -> Figure:
    """τ over training when it is learned, one line per initial value.

    Left: τ itself (log scale) with CLIP's clamp, τ ≥ 1/max logit scale; right: τ relative to
    where it started, so a small drift is visible too.
    """
    runs = sorted(results["runs"], key=lambda r: r["value"])
    floor = 1 / results["settings"]["max_logit_scale"]
    fig = Figure(figsize=(10.5, 3.6))
    ax, rel = fig.subplots(1, 2)
    for run, color in zip(runs, _value_colors([r["value"] for r in runs])):
        epochs, taus = zip(*[(e["epoch"], e["temperature_end"]) for e in run["epochs"] if "temperature_end" in e])
        ax.plot(epochs, taus, marker="o", ms=3, color=color, label=f"starts at τ = {run['value']:g}")
        rel.plot(epochs, [t / taus[0] for t in taus], marker="o", ms=3, color=color)
    ax.axhline(floor, color="grey", ls="--", lw=1, label=f"clamp: logit scale ≤ {1 / floor:g} (τ ≥ {floor:g})")
    ax.set_yscale("log")
    ax.set_ylabel("learned τ")
    ax.set_title("a learned temperature drifts", fontsize=9)
    ax.legend(fontsize=7)
    rel.axhline(1, color="grey", lw=0.8)
    rel.set_ylabel("τ / τ at the start")
    rel.set_title("relative to where it started", fontsize=9)
    for a in (ax, rel):
        a.set_xlabel("epoch")
        a.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# --- geometry ---
# Pictures of the embedding space (notebook 05): UMAP (a static panel and an interactive plotly
# scatter with image thumbnails on hover), neighbour galleries, class-sorted similarity matrices,
# the audit of close and far pairs, the circle and the sphere, the alignment–uniformity plane
# and the collapse dashboard. umap and plotly are imported inside the functions that use them,
# so `import clkit.viz` stays light.


def class_colours(n: int) -> list[str]:
    """n distinct hex colours, one per class (matplotlib's tab10, or tab20 beyond 10 classes)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(n)]


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


# Kernels a seeded 2-D UMAP compiles on every fresh start, which umap-learn declares without cache=True.
_UMAP_KERNELS = (
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)


def cache_umap_kernels() -> int:
    """Switch on numba's on-disk cache for the umap kernels :func:`umap_embed` compiles; returns how many.

    umap-learn compiles these with numba on first use, several seconds in every fresh kernel, and
    does not cache them. ``Dispatcher.enable_caching()`` is the switch ``@njit(cache=True)`` sets:
    the first run in a fresh environment still compiles, every later kernel loads the machine code.
    numba keeps the cache in umap's ``__pycache__`` when it is writable, else in the user's cache
    folder, or under ``$NUMBA_CACHE_DIR`` when that is set. Kernels that are missing (another umap
    version) are skipped.
    """
    import importlib

    count = 0
    for module, name in _UMAP_KERNELS:
        kernel = getattr(importlib.import_module(module), name, None)
        if kernel is None or not hasattr(kernel, "enable_caching"):
            continue
        if type(getattr(kernel, "_cache", None)).__name__ == "NullCache":
            kernel.enable_caching()
        count += 1
    return count


def umap_embed(
    features: Tensor | np.ndarray,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int = 200,
    init: str = "spectral",
    progress: bool = True,
) -> np.ndarray:
    """2-D UMAP coordinates of (N, D) features under the cosine metric, the same for the same seed.

    Three choices keep it fast in a fresh kernel (``bench/bench_umap.py`` measures them):

    - the exact cosine neighbours come from :func:`clkit.evaluate.nearest_neighbours` (one matrix
      product) and are handed to UMAP, which skips its approximate search and the tens of seconds
      pynndescent spends compiling it on first use;
    - UMAP's own numba kernels are cached on disk (:func:`cache_umap_kernels`);
    - ``n_epochs=200``, UMAP's own choice for large data (it uses 500 below 10,000 points).

    A seeded UMAP runs single-threaded. ``progress`` shows a bar over the layout epochs.

    Args:
        features: (N, D) float, N ≥ 3.
    Returns:
        (N, 2) float32 array.
    """
    import warnings

    import umap

    from clkit.evaluate import nearest_neighbours

    x = torch.as_tensor(_as_numpy(features)).float()
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"UMAP needs (N, D) features with N ≥ 3, got shape {tuple(x.shape)}")
    k = min(n_neighbors, len(x) - 1)
    cache_umap_kernels()
    neighbours = nearest_neighbours(x, x, k=k)  # each point is its own first neighbour, as UMAP expects
    distances = (1 - neighbours.similarities).clamp_min(0).numpy()
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=min_dist,
        metric="cosine",
        n_epochs=n_epochs,
        init=init,
        random_state=seed,
        precomputed_knn=(neighbours.indices.numpy(), distances),
        tqdm_kwds={"disable": not progress, "desc": "UMAP layout", "leave": False},
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value")  # seeded runs are single-threaded: we know
        warnings.filterwarnings("ignore", message="precomputed_knn")  # no search index: we never call transform
        coords = reducer.fit_transform(x.numpy())
    return np.asarray(coords, dtype=np.float32)


def umap_panels(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    size: float = 3.8,
    point_size: float | None = None,
) -> Figure:
    """Side-by-side 2-D scatter plots of the same points, one panel per feature set, coloured by class.

    Args:
        coords: name → (N, 2) coordinates (e.g. from :func:`umap_embed`), the same N points in each.
        labels: (N,) class indices into ``classes``.
    """
    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    point_size = point_size or float(np.clip(3000 / max(1, len(y)), 1, 12))
    fig = Figure(figsize=(size * len(coords) + 1.4, size))
    axes = fig.subplots(1, len(coords), squeeze=False)[0]
    for ax, (name, xy) in zip(axes, coords.items()):
        xy = _as_numpy(xy)
        for c, label in enumerate(classes):
            inside = y == c
            ax.scatter(xy[inside, 0], xy[inside, 1], s=point_size, color=colours[c], alpha=0.7, lw=0, label=label)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", markerscale=12 / point_size ** 0.5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig


def umap_plotly(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    height: int = 420,
    point_size: int = 4,
):
    """The interactive version of :func:`umap_panels`: a plotly figure, one subplot per feature set.

    One trace per class and panel, grouped in the legend, so clicking a class hides it everywhere.
    Each point's ``customdata`` is its row index (into ``labels``, and into the images that
    :func:`hover_thumbnails` shows on hover); its hover label gives the class and that index.

    Returns:
        ``plotly.graph_objects.Figure`` with ``len(coords) * len(classes)`` Scattergl traces.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = make_subplots(rows=1, cols=len(coords), subplot_titles=list(coords), horizontal_spacing=0.02)
    for p, (name, xy) in enumerate(coords.items()):
        xy = _as_numpy(xy)
        for c, label in enumerate(classes):
            rows = np.flatnonzero(y == c)
            fig.add_trace(
                go.Scattergl(
                    x=xy[rows, 0],
                    y=xy[rows, 1],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=p == 0,
                    customdata=rows,
                    marker={"color": colours[c], "size": point_size, "opacity": 0.8},
                    hovertemplate=f"<b>{label}</b><br>image %{{customdata}}<extra>{name}</extra>",
                ),
                row=1,
                col=p + 1,
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"itemsizing": "constant"})
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


_HOVER_SCRIPT = """
<div id="clkit-thumbs-UID" style="font:12px sans-serif;color:#777">
  (image thumbnails on hover need JavaScript: a trusted notebook in JupyterLab or Jupyter Notebook)</div>
<script>
(function () {
  var uid = "UID", atlas = "ATLAS", tile = TILE, cols = COLS, zoom = ZOOM;
  var note = document.getElementById("clkit-thumbs-" + uid);
  function attach(gd) {
    var tip = document.createElement("div");
    tip.style.cssText = "position:absolute;display:none;pointer-events:none;z-index:1000;background:#fff;" +
      "border:1px solid #999;border-radius:3px;padding:3px;font:11px sans-serif;text-align:center";
    var img = document.createElement("div");
    img.style.cssText = "width:" + tile * zoom + "px;height:" + tile * zoom + "px;image-rendering:pixelated;" +
      "background-image:url(" + atlas + ");background-size:" + cols * tile * zoom + "px auto";
    var caption = document.createElement("div");
    tip.appendChild(img);
    tip.appendChild(caption);
    if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
    gd.appendChild(tip);
    gd.on("plotly_hover", function (e) {
      var p = e.points[0], i = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
      if (i === undefined || i === null) return;
      img.style.backgroundPosition = -(i % cols) * tile * zoom + "px " + -Math.floor(i / cols) * tile * zoom + "px";
      caption.textContent = p.data.name + " · " + i;
      var box = gd.getBoundingClientRect(), w = tile * zoom + 10;
      var x = e.event.clientX - box.left + 14, y = e.event.clientY - box.top + 14;
      if (x + w > box.width) x -= w + 28;
      tip.style.left = x + "px";
      tip.style.top = y + "px";
      tip.style.display = "block";
    });
    gd.on("plotly_unhover", function () { tip.style.display = "none"; });
    note.textContent = "hover over a point to see its image";
  }
  var tries = 0, timer = setInterval(function () {
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var k = 0; k < plots.length; k++) {
      var gd = plots[k], meta = gd.layout && gd.layout.meta;
      if (meta && meta.clkit_thumbnails === uid && typeof gd.on === "function") {
        clearInterval(timer);
        attach(gd);
        return;
      }
    }
    if (++tries > 300) clearInterval(timer);
  }, 100);
})();
</script>
"""


class HoverThumbnails:
    """A plotly figure whose points show their image beside the pointer on hover.

    Displaying it shows the figure (through plotly's own renderer) and, under it, a small HTML
    output whose script finds that figure on the page and attaches a ``plotly_hover`` handler
    drawing the point's tile of an image atlas. Plotly's hover labels cannot hold images; this
    works wherever notebook outputs may run JavaScript (JupyterLab, Jupyter Notebook, HTML
    exports); elsewhere the hover label still names the class and the image index.

    Attributes:
        figure: the ``plotly.graph_objects.Figure`` (its ``layout.meta`` carries the link).
        html: the HTML and script of the second output.
    """

    def __init__(self, figure, html: str):
        self.figure = figure
        self.html = html

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(self.figure)
        display(HTML(self.html))


def hover_thumbnails(figure, images: Tensor, zoom: int = 3) -> HoverThumbnails:
    """Attach image thumbnails to a plotly figure whose points carry their row index as ``customdata``.

    Args:
        figure: e.g. from :func:`umap_plotly`; it is copied, not changed.
        images: (N, C, H, W), row i is the image of every point whose customdata is i.
        zoom: the thumbnail's magnification (pixels are kept sharp).
    """
    import uuid

    import plotly.graph_objects as go

    uid = uuid.uuid4().hex
    figure = go.Figure(figure)
    figure.update_layout(meta={"clkit_thumbnails": uid})
    atlas, cols = thumbnail_atlas(images)
    html = (
        _HOVER_SCRIPT.replace("UID", uid)
        .replace("ATLAS", atlas)
        .replace("TILE", str(images.shape[-1]))
        .replace("COLS", str(cols))
        .replace("ZOOM", str(zoom))
    )
    return HoverThumbnails(figure, html)


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


def similarity_by_class(
    features: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    ax_size: float = 3.6,
) -> Figure:
    """Cosine-similarity matrices of the same points under several feature sets, sorted by class.

    Rows and columns are grouped by class (lines mark the blocks), so a space that agrees with
    the labels shows bright diagonal blocks. Each panel's colours span its own similarities (2nd to
    98th percentile off the diagonal): features that are all non-negative, such as pixels or ReLU
    outputs, never go below 0, and one shared −1…1 scale would hide their structure. Each title
    gives the mean similarity within classes (off the diagonal) and across them, comparable
    between panels.

    Args:
        features: name → (N, D) features of the same N points.
        labels: (N,) class indices; a class-balanced sample of a few hundred points reads best.
    """
    import torch.nn.functional as F

    y = torch.as_tensor(labels).cpu()
    order = torch.argsort(y, stable=True)
    y = y[order]
    present = torch.unique(y)
    bounds = [int((y < c).sum()) for c in present] + [len(y)]
    same = y[:, None] == y[None, :]
    off_diagonal = ~torch.eye(len(y), dtype=torch.bool)
    fig = Figure(figsize=((ax_size + 0.7) * len(features), ax_size + 0.4))
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    for ax, (name, z) in zip(axes, features.items()):
        x = F.normalize(z[order].float().cpu(), dim=1)
        sim = x @ x.T
        within = sim[same & off_diagonal].mean().item()
        across = sim[~same].mean().item() if (~same).any() else float("nan")
        low, high = torch.quantile(sim[off_diagonal], torch.tensor([0.02, 0.98])).tolist()
        image = ax.imshow(sim.numpy(), cmap="viridis", vmin=low, vmax=max(high, low + 1e-6), interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02)
        for b in bounds[1:-1]:
            ax.axhline(b - 0.5, color="black", lw=0.6)
            ax.axvline(b - 0.5, color="black", lw=0.6)
        centres = [(bounds[i] + bounds[i + 1] - 1) / 2 for i in range(len(present))]
        names = [classes[int(c)] for c in present]
        ax.set_xticks(centres, names, rotation=90, fontsize=7)
        ax.set_yticks(centres, names if ax is axes[0] else [], fontsize=7)
        ax.set_title(f"{name}\nwithin {within:.2f} · across {across:.2f}", fontsize=9)
    fig.suptitle("cosine similarity, sorted by class", fontsize=10)
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


def circle_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    spread: float = 0.15,
    seed: int = 0,
    ax_size: float = 3.4,
) -> Figure:
    """2-D embeddings on the unit circle, one panel per entry (e.g. before and after training).

    Each point sits at the angle of its ℓ2-normalised embedding; its radius, between 1 and
    1 + ``spread``, is random and only keeps overlapping points visible.

    Args:
        z: name → (N, 2) embeddings.
        labels: (N,) class indices into ``classes``.
    """
    import torch.nn.functional as F

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = Figure(figsize=(ax_size * len(z) + 1.4, ax_size))
    axes = fig.subplots(1, len(z), squeeze=False)[0]
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, (name, points) in zip(axes, z.items()):
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"circle_figure needs (N, 2) embeddings, got {tuple(points.shape)} for {name!r}")
        u = F.normalize(points.float().cpu(), dim=1).numpy()
        radius = 1 + spread * np.random.default_rng(seed).random(len(u))
        ax.plot(np.cos(theta), np.sin(theta), color="grey", lw=0.8)
        for c, label in enumerate(classes):
            inside = y == c
            ax.scatter(*(u[inside] * radius[inside, None]).T, s=6, color=colours[c], alpha=0.6, lw=0, label=label)
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_axis_off()
        ax.set_title(name)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", markerscale=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig


def sphere_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    height: int = 420,
    point_size: int = 2,
):
    """3-D embeddings on the unit sphere (plotly, rotatable), one scene per entry.

    Each scene holds a faint sphere and one Scatter3d trace per class of the ℓ2-normalised points.

    Args:
        z: name → (N, 3) embeddings; labels: (N,) class indices into ``classes``.
    Returns:
        ``plotly.graph_objects.Figure`` with ``len(z) * (1 + len(classes))`` traces.
    """
    import plotly.graph_objects as go
    import torch.nn.functional as F
    from plotly.subplots import make_subplots

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = make_subplots(rows=1, cols=len(z), specs=[[{"type": "scene"}] * len(z)], subplot_titles=list(z),
                        horizontal_spacing=0.01)
    u, v = np.mgrid[0 : 2 * np.pi : 40j, 0 : np.pi : 20j]
    for p, (name, points) in enumerate(z.items()):
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"sphere_figure needs (N, 3) embeddings, got {tuple(points.shape)} for {name!r}")
        s = F.normalize(points.float().cpu(), dim=1).numpy()
        fig.add_trace(
            go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.12,
                       showscale=False, colorscale=[[0, "lightgrey"], [1, "lightgrey"]], hoverinfo="skip"),
            row=1, col=p + 1,
        )
        for c, label in enumerate(classes):
            inside = y == c
            fig.add_trace(
                go.Scatter3d(x=s[inside, 0], y=s[inside, 1], z=s[inside, 2], mode="markers", name=label,
                             legendgroup=label, showlegend=p == 0,
                             marker={"size": point_size, "color": colours[c], "opacity": 0.8},
                             hovertemplate=f"<b>{label}</b><extra>{name}</extra>"),
                row=1, col=p + 1,
            )
    axis = {"visible": False}
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend={"itemsizing": "constant"})
    return fig


def alignment_uniformity_plane(
    histories: dict[str, object],
    references: dict[str, float] | None = None,
    size: float = 4.6,
) -> Figure:
    """Runs as paths on the alignment–uniformity plane of Wang & Isola (2020).

    x is uniformity, log E exp(−2‖z_i − z_j‖²), y is alignment, E‖z − z⁺‖²; one marker per
    measured epoch, the first hollow and the last labelled with its epoch. Down and to the left is
    better: positives close together, the data spread over the sphere. A collapsed run ends at (0, 0).

    Args:
        histories: name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold
            ``alignment`` and ``uniformity`` (from :func:`clkit.evaluate.view_geometry`).
        references: label → a uniformity value drawn as a vertical line, e.g.
            ``{"uniform on S¹²⁷": -3.94}``.
    """
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    for (name, history), colour in zip(histories.items(), class_colours(max(10, len(histories)))):
        records = history.epochs if hasattr(history, "epochs") else history
        points = [(r["uniformity"], r["alignment"], r["epoch"]) for r in records if "alignment" in r]
        if not points:
            continue
        x, y, epochs = zip(*points)
        ax.plot(x, y, color=colour, lw=1, marker="o", ms=3, label=name)
        ax.plot(x[0], y[0], "o", ms=7, mfc="white", mec=colour)
        ax.annotate(f"epoch {epochs[-1]:g}", (x[-1], y[-1]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                    color=colour)
    for (label, value), style in zip((references or {}).items(), ["--", ":", "-.", (0, (1, 3))]):
        ax.axvline(value, color="grey", ls=style, lw=1, label=label)
    ax.set_xlabel("uniformity  log E exp(−2‖z − z′‖²)")
    ax.set_ylabel("alignment  E‖z − z⁺‖²")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def collapse_dashboard(runs: dict[str, tuple[Tensor, Tensor]], floor: float = 1e-9, size: float = 3.8) -> Figure:
    """Dimensional collapse at a glance, for each run's backbone features h and projections z.

    Three panels: the eigenvalues of the covariance of ℓ2-normalised h and of ℓ2-normalised z,
    largest first on a log scale (Jing et al. 2022; values under ``floor`` are drawn at it), with
    each run's effective rank (RankMe) in the legend; and the per-dimension std of normalised z,
    sorted, against 1/√D, the value for embeddings spread evenly over the sphere (SimSiam's
    collapse check). A collapsed run sits at the bottom of all three.

    Args:
        runs: name → (h (N, D_h), z (N, D_z)) of the same N images.
    """
    from clkit.evaluate import covariance_spectrum, effective_rank, per_dimension_std

    fig = Figure(figsize=(3 * size + 0.5, size))
    ax_h, ax_z, ax_std = fig.subplots(1, 3)
    colours = class_colours(max(10, len(runs)))
    dims = set()
    for (name, (h, z)), colour in zip(runs.items(), colours):
        for ax, x in ((ax_h, h), (ax_z, z)):
            spectrum = covariance_spectrum(x).clamp_min(floor).numpy()
            ax.plot(np.arange(1, len(spectrum) + 1), spectrum, color=colour, lw=1.5,
                    label=f"{name}: rank {effective_rank(x):.1f}")
        std = np.sort(per_dimension_std(z).numpy())[::-1]
        ax_std.plot(np.arange(1, len(std) + 1), std, color=colour, lw=1.5, label=name)
        dims.add(z.shape[1])
    for d in sorted(dims):
        ax_std.axhline(1 / np.sqrt(d), color="grey", ls="--", lw=1, label=f"1/√{d}")
    for ax, title in ((ax_h, "covariance spectrum of h"), (ax_z, "covariance spectrum of z")):
        ax.set_yscale("log")
        ax.set_xlabel("index, largest first")
        ax.set_title(title)
    ax_h.set_ylabel("eigenvalue (normalised embeddings)")
    ax_std.set_xlabel("dimension, sorted")
    ax_std.set_title("per-dimension std of z / ‖z‖")
    for ax in (ax_h, ax_z, ax_std):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
