"""Figures that compare measured runs: a two-factor ablation as grouped bars, one setting swept under two
conditions, and label-efficiency curves. Every bar and point is a mean over seeds with ± one standard
deviation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from clkit.sweep import aggregate
from clkit.viz.curves import _param_label, _seeds_note, _spread
from clkit.viz.style import REFERENCE, SERIES_COLOURS, figure, legend_below, series_style, styled

_METRICS = {"knn": "kNN on h (%)", "linear": "linear probe on h (%)"}


@styled
def ablation_bars(groups: Mapping[str, Sequence[dict]], labels: Mapping[float, str],
                  keys: Sequence[str] = ("knn", "linear"), baseline: Mapping[str, float] | None = None) -> Figure:
    """A two-factor ablation: one panel per metric, one group of bars per swept value, one bar per condition.

    Args:
        groups: condition name → one sweep's results per seed (the same swept values in each), e.g.
            ``{"colour off": runs_off, "colour on": runs_on}``.
        labels: swept value → its name on the axis, e.g. ``{1.0: "no crop", 0.4: "crop"}``.
        keys: final metrics to show.
        baseline: metric → the raw pixels' accuracy (0–1) on the same split, drawn as a dashed line.
    """
    summaries = {name: aggregate(runs) for name, runs in groups.items()}
    values = list(labels)
    fig = figure(4.2 * len(keys), 4.4)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    width = 0.8 / len(summaries)
    for ax, key in zip(axes, keys):
        for i, (name, s) in enumerate(summaries.items()):
            at = [s["values"].index(v) for v in values]
            mean = 100 * np.asarray([s["mean"][key][j] for j in at])
            half = _spread([s["std"][key][j] for j in at], 100)
            x = np.arange(len(values)) + (i - (len(summaries) - 1) / 2) * width
            ax.bar(x, mean, width, yerr=half, capsize=4, color=SERIES_COLOURS[i], label=name,
                   hatch=("", "//", "..", "xx")[i % 4], edgecolor="white")
            tops = mean + (half if half is not None else 0)
            for xi, m, top in zip(x, mean, tops):
                ax.text(xi, top + 1.5, f"{m:.0f}", ha="center", va="bottom", fontsize=11)
        if baseline and key in baseline:
            ax.axhline(100 * baseline[key], color=REFERENCE, ls="--", lw=1.5, label="raw pixels")
        ax.set_xticks(range(len(values)), [labels[v] for v in values])
        ax.set_ylim(0, 110)
        ax.set_title(_METRICS.get(key, key))
        ax.grid(axis="y", alpha=0.3)
    first = next(iter(summaries.values()))
    fig.suptitle(_seeds_note(first["seeds"]))
    legend_below(fig, *axes[0].get_legend_handles_labels())
    return fig


@styled
def sweeps_figure(conditions: Mapping[str, Sequence[dict]], keys: Sequence[str] = ("knn", "linear")) -> Figure:
    """The same setting swept under several conditions: one panel per metric, one line per condition, the swept
    value on a log-2 axis when it is a batch size.

    Args:
        conditions: condition name → one sweep's results per seed, e.g. ``{"8 epochs": …, "152 steps": …}``.
    """
    fig = figure(4.4 * len(keys), 4.4)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    param = ""
    for ax, key in zip(axes, keys):
        for i, (name, runs) in enumerate(conditions.items()):
            s = aggregate(runs)
            param = s["param"]
            ax.errorbar(s["values"], 100 * np.asarray(s["mean"][key]), yerr=_spread(s["std"][key], 100),
                        capsize=4, label=name, **series_style(i))
        if param == "batch_size":
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
            ax.set_xticks(s["values"], [f"{v:g}" for v in s["values"]])
        ax.set_xlabel(_param_label(param))
        ax.set_title(_METRICS.get(key, key))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=11)
    fig.suptitle(_seeds_note(aggregate(next(iter(conditions.values())))["seeds"]))
    fig.tight_layout()
    return fig


_CURVES = {"simclr": "SimCLR features + linear probe", "scratch": "the same network from scratch"}


@styled
def label_efficiency_figure(summary: Mapping[str, Any], chance: float | None = None) -> Figure:
    """Test accuracy against labels per class (log axis) for each classifier of
    :func:`clkit.sweep.labels.summary`: the mean over seeds with a band of ± one standard deviation, and
    ``chance`` (0–1) as a dashed line."""
    counts = np.asarray(summary["per_class"], dtype=float)
    fig = figure(7.5, 4.8)
    ax = fig.subplots()
    for i, name in enumerate(_CURVES):
        mean = 100 * np.asarray(summary["mean"][name])
        style = series_style(i)
        ax.plot(counts, mean, label=_CURVES[name], **style)
        half = _spread(summary["std"][name], 100)
        if half is not None:
            ax.fill_between(counts, mean - half, mean + half, color=style["color"], alpha=0.2, lw=0)
    if chance is not None:
        ax.axhline(100 * chance, color=REFERENCE, ls="--", lw=1.5, label="chance")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(counts, [f"{c:g}" for c in counts])
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=11)
    ax.set_title(_seeds_note(summary["seeds"]))
    fig.tight_layout()
    return fig


@styled
def readout_bars(readout: Mapping[str, Mapping[str, float]]) -> Figure:
    """R² of each nuisance (groups) read linearly off each feature set (bars), from
    :func:`clkit.evaluate.readout_report`: how much of each property the features still carry."""
    names = list(readout)
    attributes = list(next(iter(readout.values())))
    fig = figure(9.0, 4.6)
    ax = fig.subplots()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        x = np.arange(len(attributes)) + (i - (len(names) - 1) / 2) * width
        ax.bar(x, [readout[name][a] for a in attributes], width, color=SERIES_COLOURS[i], label=name,
               hatch=("", "//", "..", "xx")[i % 4], edgecolor="white")
    ax.axhline(0, color=REFERENCE, lw=1)
    ax.set_xticks(range(len(attributes)), [a.replace(" ", "\n") for a in attributes])
    ax.set_ylabel("R² of a linear readout")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.05)
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig
