"""The processes lesson (21): one step on several processes against one process, and training three ways."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from clkit.viz.style import REFERENCE, SERIES_COLOURS, figure, legend_below, series_style, styled


@styled
def step_errors(checks: Mapping[str, Mapping[str, float]], tolerance: float = 1e-3) -> Figure:
    """The largest gradient difference from one process, relative to the gradient, per way of computing the loss
    (log scale), with the tolerance of float32 arithmetic drawn as a line.

    Args:
        checks: :func:`clkit.sweep.processes.step_check`'s result (mode → ``gradient_error``, ...).
    """
    modes = list(checks)
    errors = np.asarray([checks[m]["gradient_error"] for m in modes])
    fig = figure(7.5, 3.2)
    ax = fig.subplots()
    y = np.arange(len(modes))[::-1]
    ax.barh(y, errors, color=[SERIES_COLOURS[i] for i in range(len(modes))], edgecolor="white")
    for yi, e in zip(y, errors):
        ax.text(e * 1.3, yi, f"{e:.1e}", va="center", fontsize=11)
    ax.axvline(tolerance, color=REFERENCE, ls="--", lw=1.5, label=f"float32 rounding ({tolerance:g})")
    ax.set_xscale("log")
    ax.set_xlim(min(errors.min(), tolerance) / 10, max(errors.max(), tolerance) * 30)
    ax.set_yticks(y, modes)
    ax.set_xlabel("largest gradient difference / largest gradient")
    ax.grid(axis="x", alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig


@styled
def gathering_runs(runs: Sequence[Mapping[str, Any]]) -> Figure:
    """Training one global batch three ways, over seeds: kNN accuracy at the end (mean ± std, each seed a dot)
    and the training loss per epoch (one line per seed).

    Args:
        runs: :func:`clkit.sweep.processes.stored_or_run`'s results, one per seed.
    """
    modes = list(runs[0]["runs"])
    fig = figure(10.0, 3.8)
    bars, curves = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    for i, mode in enumerate(modes):
        fractions = [r["runs"][mode]["knn"] for r in runs]
        mean = 100 * (sum(fractions) / len(fractions))  # as the lesson's table computes it, so both round alike
        std = 100 * float(np.std(fractions, ddof=1)) if len(fractions) > 1 else 0.0
        knn = 100 * np.asarray(fractions)
        bars.bar(i, mean, yerr=std, color=SERIES_COLOURS[i],
                 error_kw={"ecolor": "black", "color": "black", "capsize": 4}, edgecolor="white")
        bars.plot(np.full(len(knn), i), knn, "o", color="black", ms=5, ls="none")
        bars.text(i, max(knn.max(), mean + std) + 3, f"{mean:.1f}", ha="center", fontsize=11)
        for j, r in enumerate(runs):
            loss = r["runs"][mode]["loss"]
            curves.plot(range(1, len(loss) + 1), loss, **series_style(i), ls=("-", "--", ":")[i % 3],
                        label=mode if j == 0 else None, alpha=0.85)
    bars.set_xticks(range(len(modes)), [m.replace(" ", "\n", 1) for m in modes])
    bars.set_ylabel("kNN on h (%)")
    bars.set_ylim(0, 105)
    bars.grid(axis="y", alpha=0.3)
    curves.set_xlabel("epoch")
    curves.set_ylabel("training loss")
    curves.grid(alpha=0.3)
    legend_below(fig, *curves.get_legend_handles_labels())
    return fig
