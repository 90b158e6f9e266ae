"""The method zoo's figures: learning curves by family of methods, and every member at two budgets.

Both read the results of :func:`clkit.sweep.zoo.zoo` (one per seed) and show means over seeds with
± one standard deviation; raw pixels and the random-init encoder are the grey floors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from clkit.sweep.seeds import mean_std
from clkit.viz.style import REFERENCE, SERIES_COLOURS, figure, legend_below, series_style, styled

#: The zoo's members by the idea that keeps them from collapsing, one panel each in :func:`zoo_curves`.
GROUPS: dict[str, tuple[str, ...]] = {
    "negatives": ("simclr", "moco"),
    "a predictor and a stop-gradient": ("byol", "simsiam", "byol_batch64", "simsiam_batch64"),
    "batch statistics": ("barlow_twins", "vicreg"),
    "clusters": ("swav", "dino", "dino_vit"),
    "margins": ("margin", "triplet"),
    "labels": ("supcon", "supervised"),
}

_REFERENCES = (("raw_pixels", "raw pixels", ":"), ("random_init", "random-init encoder", "--"))


def _curve(runs: Sequence[dict[str, Any]], name: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean and std over seeds of one member's per-epoch ``key`` (epochs every seed recorded)."""
    per_seed = [{e["epoch"]: e[key] for e in r["members"][name]["epochs"] if key in e} for r in runs]
    epochs = sorted(set.intersection(*(set(p) for p in per_seed)))
    stats = [mean_std([p[e] for p in per_seed]) for e in epochs]
    return np.asarray(epochs), np.asarray([m for m, _ in stats]), np.nan_to_num(np.asarray([sd for _, sd in stats]))


def _floors(ax, runs: Sequence[dict[str, Any]], scale_by: float = 100) -> None:
    for name, label, style in _REFERENCES:
        ax.axhline(scale_by * mean_std([r["references"][name]["knn"] for r in runs])[0], color=REFERENCE, ls=style,
                   lw=1.5, label=label)


@styled
def zoo_curves(runs: Sequence[dict[str, Any]], groups: Mapping[str, Sequence[str]] = GROUPS,
               key: str = "knn") -> Figure:
    """kNN accuracy (or another per-epoch ``key``) against epochs: one panel per group of methods, a line per
    member with a band of ± one std over seeds, the floors as grey lines.

    Args:
        runs: one zoo result per seed (the same budget and settings).
        groups: panel title → member names; members the results lack are left out.
    """
    present = {title: [m for m in members if all(m in r["members"] for r in runs)] for title, members in groups.items()}
    present = {title: members for title, members in present.items() if members}
    columns = min(3, len(present))
    rows = -(-len(present) // columns)
    fig = figure(3.3 * columns, 3.1 * rows + 0.9)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True).ravel()
    labels = {name: r["members"][name]["label"] for r in runs[:1] for name in r["members"]}
    for ax, (title, members) in zip(axes, present.items()):
        _floors(ax, runs)
        lines = []
        for i, name in enumerate(members):
            epochs, mean, std = _curve(runs, name, key)
            style = series_style(i)
            lines += ax.plot(epochs, 100 * mean, label=labels[name], **style)
            ax.fill_between(epochs, 100 * (mean - std), 100 * (mean + std), color=style["color"], alpha=0.2, lw=0)
        ax.set_title(title)
        ax.legend(handles=lines, loc="best", fontsize=11, frameon=False)  # the members; the floors below
        ax.grid(alpha=0.3)
    for ax in axes[len(present):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("kNN on h (%)" if key == "knn" else key)
    for ax in axes[-columns:]:
        ax.set_xlabel("epoch")
    handles, names = axes[0].get_legend_handles_labels()
    floors = [(h, n) for h, n in zip(handles, names) if n in {label for _, label, _ in _REFERENCES}]
    legend_below(fig, [h for h, _ in floors], [n for _, n in floors],
                 title=f"mean ± std over {len(runs)} seed{'s' * (len(runs) > 1)}")
    return fig


@styled
def zoo_bars(tables: Mapping[str, Mapping[str, dict[str, Any]]], key: str = "knn") -> Figure:
    """Every member's final ``key`` under each budget, as horizontal bars (mean ± std over seeds), with the floors.

    Args:
        tables: budget name → :func:`clkit.sweep.zoo.summary` of its runs, e.g.
            ``{"10 epochs each": ..., "SimCLR's time each": ...}``.
    """
    first = next(iter(tables.values()))
    members = [name for name in first if name not in ("raw_pixels", "random_init")
               and all(name in t for t in tables.values())]
    height = 0.8 / len(tables)
    fig = figure(8.0, 0.42 * len(members) * max(1, len(tables) * 0.8) + 1.8)
    ax = fig.subplots()
    y = np.arange(len(members))[::-1]
    for i, (budget, table) in enumerate(tables.items()):
        mean = np.asarray([100 * table[m][key][0] for m in members])
        std = np.nan_to_num(np.asarray([100 * table[m][key][1] for m in members]))
        at = y + ((len(tables) - 1) / 2 - i) * height
        # The error bars black, caps included (without "color" the caps take the default cycle's first colour).
        ax.barh(at, mean, height, xerr=std, error_kw={"ecolor": "black", "color": "black", "capsize": 3},
                color=SERIES_COLOURS[i], label=budget, hatch=("", "//", "..")[i % 3], edgecolor="white")
        for yi, m, sd in zip(at, mean, std):
            ax.text(m + sd + 1, yi, f"{m:.0f}", va="center", fontsize=11)  # past the error bar
    for name, label, style in _REFERENCES:
        if key in first[name]:
            ax.axvline(100 * first[name][key][0], color=REFERENCE, ls=style, lw=1.5, label=label)
    ax.set_yticks(y, [first[m]["label"] for m in members])
    ax.set_xlim(0, 105)
    ax.set_xlabel({"knn": "kNN on h (%)", "linear": "linear probe on h (%)"}.get(key, key))
    ax.grid(axis="x", alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig
