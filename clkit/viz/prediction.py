"""Preferences and prediction (notebook 20): the reward model's loss and rewards, I-JEPA's masks and its runs.

- :func:`bradley_terry_figure`: the two-logit softmax over [r⁺, r⁻] and Bradley–Terry's σ(r⁺ − r⁻) are one
  curve, whatever the rewards' common offset; and so are their losses;
- :func:`reward_scatter`: a learned reward against the hidden utility it was never shown;
- :func:`jepa_masks_figure`: images with their target blocks drawn on them, and the context a CNN sees;
- :func:`prediction_curves`: several runs' kNN accuracy, effective rank and spread of h per epoch, with the
  references drawn as lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from torch import Tensor

from clkit.augment.masks import blank_cells
from clkit.data import to_float
from clkit.viz.collapse import collapse_curves
from clkit.viz.style import (
    NEGATIVE,
    POSITIVE,
    REFERENCE,
    SERIES_COLOURS,
    _as_numpy,
    cell_size,
    figure,
    legend_below,
    styled,
    to_numpy_image,
)

__all__ = ["bradley_terry_figure", "jepa_masks_figure", "prediction_curves", "reward_scatter"]


@styled
def bradley_terry_figure(r_chosen: Tensor, r_rejected: Tensor, span: float = 6.0) -> Figure:
    """Bradley–Terry and the two-logit softmax, one picture: the curves of σ(Δ) and −log σ(Δ) against the gap
    Δ = r⁺ − r⁻, and on them, as markers, the softmax weight of the chosen item and the cross-entropy of the
    logits [r⁺, r⁻] for every given pair (whose rewards may sit anywhere: only their gap moves the marker).

    Args:
        r_chosen, r_rejected: (N,) rewards of a few pairs, e.g. with different common offsets.
        span: the gaps drawn run from −span to span.
    """
    from clkit.losses.preference import bradley_terry_loss, preference_logits

    gap = np.linspace(-span, span, 200)
    logits = preference_logits(r_chosen.detach().float(), r_rejected.detach().float())
    softmax = torch.softmax(logits.logits, dim=1)[:, 0].numpy()  # the chosen item's softmax weight
    ce = torch.nn.functional.cross_entropy(logits.logits, logits.targets, reduction="none").numpy()
    d = (r_chosen - r_rejected).detach().float().numpy()
    fig = figure(10.0, 3.9)
    left, right = fig.subplots(1, 2)
    left.plot(gap, 1 / (1 + np.exp(-gap)), color=NEGATIVE, label="Bradley–Terry: σ(r⁺ − r⁻)")
    left.plot(d, softmax, ls="", marker="o", ms=9, mfc=POSITIVE, mec="black",
              label="softmax over [r⁺, r⁻], weight of r⁺")
    left.set(xlabel="reward gap r⁺ − r⁻", ylabel="P(chosen item wins)", ylim=(-0.02, 1.02))
    values = [bradley_terry_loss(torch.tensor([g]), torch.tensor([0.0])).item() for g in gap]
    right.plot(gap, values, color=NEGATIVE, label="−log σ(r⁺ − r⁻)")
    right.plot(d, ce, ls="", marker="s", ms=9, mfc=POSITIVE, mec="black",
               label="cross-entropy of [r⁺, r⁻], target r⁺")
    right.set(xlabel="reward gap r⁺ − r⁻", ylabel="loss of the pair")
    for ax in (left, right):
        ax.axvline(0, color=REFERENCE, ls=":", lw=1.5)
        ax.grid(alpha=0.3)
    handles = [*left.get_legend_handles_labels()[0], *right.get_legend_handles_labels()[0]]
    labels = [*left.get_legend_handles_labels()[1], *right.get_legend_handles_labels()[1]]
    legend_below(fig, handles, labels)
    return fig


@styled
def reward_scatter(reward: Tensor, utility: Tensor, title: str | None = None) -> Figure:
    """A learned reward against the hidden utility, one point per item, with the least-squares line and the
    line of slope 1 through the means (a reward with the utility's own scale, as Bradley–Terry at β = 1 has).

    Args:
        reward, utility: (M,) the reward of each item and its hidden utility.
        title: above the panel (default: Pearson's r and Spearman's ρ).
    """
    from clkit.evaluate.preferences import pearson, spearman

    r, u = _as_numpy(reward).astype(float), _as_numpy(utility).astype(float)
    fig = figure(6.0, 5.0)
    ax = fig.subplots()
    ax.scatter(u, r, s=14, color=SERIES_COLOURS[0], alpha=0.5, lw=0, label="one image")
    slope, intercept = np.polyfit(u, r, 1)
    ends = np.array([u.min(), u.max()])
    ax.plot(ends, slope * ends + intercept, color=SERIES_COLOURS[1], label=f"least squares: slope {slope:.2f}")
    ax.plot(ends, ends - u.mean() + r.mean(), color=REFERENCE, ls="--", lw=1.5, label="slope 1")
    ax.set(xlabel="hidden utility u(x)", ylabel="learned reward r(x)")
    ax.set_title(title or f"Pearson r = {pearson(reward, utility):.3f}, Spearman ρ = {spearman(reward, utility):.3f}")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@styled
def jepa_masks_figure(images: Tensor, targets: Tensor, grid: tuple[int, int], size: float = 1.9) -> Figure:
    """What I-JEPA hides: the top row shows each image with its target cells outlined and hatched in orange, the
    bottom row the context a CNN reads, the target cells blanked with the image's mean colour.

    Args:
        images: (N, C, H, W) uint8 or float images (a handful).
        targets: (N, rows · columns) bool, True at the target cells (:func:`clkit.augment.masks.block_masks`).
        grid: (rows, columns) of cells.
    """
    x = to_float(images.detach().cpu())
    targets = targets.detach().cpu()
    context = blank_cells(x, targets, grid)
    n = len(x)
    side = cell_size(n, size, reserved=1.4)
    fig = figure(side * n + 1.4, 2 * side + 1.0)
    axes = fig.subplots(2, n, squeeze=False)
    rows, cols = grid
    ch, cw = x.shape[-2] / rows, x.shape[-1] / cols
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(to_numpy_image(x[i]), interpolation="nearest")
        bottom.imshow(to_numpy_image(context[i]), interpolation="nearest")
        for k in targets[i].nonzero().flatten().tolist():
            r, c = divmod(k, cols)
            top.add_patch(Rectangle((c * cw - 0.5, r * ch - 0.5), cw, ch, fill=False, ec=POSITIVE, lw=2.5,
                                    hatch="//"))
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("targets")
    axes[1, 0].set_ylabel("context")
    legend_below(fig, [Patch(fc="none", ec=POSITIVE, hatch="//", lw=2.5)],
                 [f"target cells (of a {rows} × {cols} grid): hidden from the context"])
    return fig


@styled
def prediction_curves(histories: Mapping[str, object], keys: Sequence[str] = ("knn", "rankme_h", "std_h·√D"),
                      references: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Numbers of the backbone features h against epochs, one panel per key and one line per run: the collapse
    lesson's :func:`~clkit.viz.collapse.collapse_curves`, read on h rather than z.

    Args:
        histories: run name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold ``keys``.
        keys: the numbers to draw (:data:`clkit.viz.collapse.LABELS` names them; accuracies are drawn in %).
        references: key → {label: value}, drawn as grey horizontal lines (dashed, dotted, …) on that key's
            panel, in the key's own units, e.g. ``{"knn": {"raw pixels": 0.24}}``.
    """
    return collapse_curves(histories, keys, references)

