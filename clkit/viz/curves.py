"""Numbers over training and across runs: training curves, result bars, a live plot and the sweep figures.

The sweep figures take one sweep's results or, better, a list of them run with different seeds, and draw
the mean over the seeds with ± one standard deviation (error bars or bands; :func:`clkit.sweep.aggregate`).
Like every figure of the kit they are drawn in the shared style of :mod:`clkit.viz.style`: text of 11 pt or
more at the size a notebook shows them, and the Okabe–Ito colours, each series also with a marker of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from clkit.sweep import aggregate, as_seeds, epoch_curves
from clkit.viz.style import REFERENCE, figure, legend_below, series_style, styled


@styled
def history_figure(history, keys: Sequence[str] = ("loss", "knn"), baselines: dict[str, float] | None = None) -> Figure:
    """Training curves, one panel per key of a :class:`clkit.train.History` (or its ``epochs`` list).

    ``baselines`` draws horizontal reference lines on the ``knn`` panel, e.g. raw pixels.
    """
    records = history.epochs if hasattr(history, "epochs") else history
    keys = [k for k in keys if any(k in r for r in records)]
    fig = figure(3.3 * max(1, len(keys)), 3.4)
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        points = [(r["epoch"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points), marker="o", ms=5)
        if key == "knn" and baselines:
            for (name, value), style in zip(baselines.items(), ["--", ":", "-."]):
                ax.axhline(value, color=REFERENCE, ls=style, lw=1.5, label=name)
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_title({"knn": "kNN accuracy (test)", "loss": "training loss"}.get(key, key))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@styled
def results_bars(results: dict[str, dict[str, float]], title: str = "accuracy on the test set") -> Figure:
    """Grouped bars of :func:`clkit.evaluate.report` results: one group per metric, one bar per feature set."""
    names = list(results)
    metrics = list(results[names[0]])
    fig = figure(2.0 + 0.5 * len(metrics) * max(1, len(names)), 3.8)
    ax = fig.subplots()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        x = np.arange(len(metrics)) + (i - (len(names) - 1) / 2) * width
        values = [100 * results[name][m] for m in metrics]
        bars = ax.bar(x, values, width, label=name, color=series_style(i)["color"], edgecolor="white")
        ax.bar_label(bars, fmt="%.0f")
    ax.set_xticks(np.arange(len(metrics)), metrics)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title(title, wrap=True)
    legend_below(fig, *ax.get_legend_handles_labels())
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


def _param_label(param: str) -> str:
    return {"temperature": "τ"}.get(param, param)


def _value_axis(ax, param: str, values: Sequence[float]) -> None:
    # Temperatures on a log axis, ticks at the values themselves.
    if param == "temperature":
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.set_xlabel(_param_label(param))


def _spread(std: Sequence[float], factor: float = 1.0) -> np.ndarray | None:
    # Error bar half-lengths; None with one seed (no spread was measured, so no bar is drawn).
    std = np.asarray(std, dtype=float)
    return None if np.isnan(std).all() else factor * np.nan_to_num(std)


def _seeds_note(seeds: Sequence) -> str:
    n = len(seeds)
    return f"mean ± sd over {n} seeds" if n > 1 else "one seed: no spread measured"


def _band(ax, x, mean, std, color, factor: float = 1.0) -> None:
    half = _spread(std, factor)
    if half is not None:
        mean = factor * np.asarray(mean, dtype=float)
        ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, lw=0)


@styled
def sweep_accuracy_figure(results: dict | Sequence[dict]) -> Figure:
    """Final kNN and linear-probe accuracy against the swept value: the mean over seeds ± one standard deviation.

    Args:
        results: a sweep's results (:func:`clkit.sweep.sweep`), or a list of them, one per seed.
    """
    summary = aggregate(results)
    values = summary["values"]
    fig = figure(6.4, 4.4)
    ax = fig.subplots()
    for i, (key, label) in enumerate((("knn", "kNN on h"), ("linear", "linear probe on h"))):
        ax.errorbar(values, 100 * np.asarray(summary["mean"][key]), yerr=_spread(summary["std"][key], 100),
                    label=label, **series_style(i))
    settings = summary["settings"]
    ax.set_title(f"{settings['dataset']}, {settings['encoder']}, {settings['epochs']} epochs\n"
                 f"{_seeds_note(summary['seeds'])}")
    ax.set_ylabel("test accuracy (%)")
    _value_axis(ax, summary["param"], values)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


_CURVE_TITLES = {"knn": "kNN accuracy (test, %)", "loss": "training loss",
                 "contrastive_acc_heldout": "contrastive accuracy\n(held-out batch, %)"}
_PERCENT = ("knn", "contrastive_acc_heldout", "contrastive_acc")


@styled
def sweep_curves_figure(results: dict | Sequence[dict], keys: Sequence[str] = ("loss", "knn")) -> Figure:
    """Per-epoch curves of a sweep, one panel per key, one line per swept value: the mean over seeds, with a
    band of ± one standard deviation (accuracies in %)."""
    seeds = as_seeds(results)
    param = seeds[0]["param"]
    fig = figure(3.3 * len(keys), 4.0)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        factor = 100.0 if key in _PERCENT else 1.0
        for i, curve in enumerate(epoch_curves(seeds, key)):
            style = series_style(i)
            ax.plot(curve["epoch"], factor * np.asarray(curve["mean"]), ms=5, label=f"{_param_label(param)} = "
                    f"{curve['value']:g}", **style)
            _band(ax, curve["epoch"], curve["mean"], curve["std"], style["color"], factor)
        ax.set_xlabel("epoch")
        ax.set_title(_CURVE_TITLES.get(key, key))
        ax.grid(alpha=0.3)
    legend_below(fig, *axes[0].get_legend_handles_labels(), title=_seeds_note(seeds))
    return fig


@styled
def alignment_uniformity_figure(results: dict | Sequence[dict]) -> Figure:
    """The alignment–uniformity plane (Wang & Isola 2020): one path per swept value, epoch 0 to the end.

    Both are measured on z of a fixed held-out batch of two views; lower is better on both axes. Each
    path is the mean over seeds, epoch by epoch; it starts at a hollow marker and ends at a filled one
    with error bars of ± one standard deviation over the seeds on both axes. The legend gives each
    value's final kNN accuracy (mean over seeds).
    """
    seeds = as_seeds(results)
    param = seeds[0]["param"]
    knn = aggregate(seeds)["mean"]["knn"]
    fig = figure(7.0, 5.0)
    ax = fig.subplots()
    paths = zip(epoch_curves(seeds, "uniformity"), epoch_curves(seeds, "alignment"), knn)
    for i, (u, a, accuracy) in enumerate(paths):
        style = series_style(i)
        ax.plot(u["mean"], a["mean"], "-", color=style["color"], lw=1.5, zorder=1)
        ax.plot(u["mean"][0], a["mean"][0], ls="", mfc="white", ms=10, mew=2, zorder=2, **style)
        ax.errorbar(u["mean"][-1], a["mean"][-1], xerr=_spread(u["std"][-1:]), yerr=_spread(a["std"][-1:]),
                    ms=10, zorder=3, label=f"{_param_label(param)} = {u['value']:g}: kNN {100 * accuracy:.0f}%",
                    **style)
    ax.set_xlabel("uniformity  log E exp(−2‖z_i − z_j‖²)\n(lower: more uniform)")
    ax.set_ylabel("alignment  E‖z − z⁺‖²\n(lower: positives closer)")
    ax.set_title(f"z over training (○ epoch 0, ● end); {_seeds_note(seeds)}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


@styled
def pretext_vs_quality_figure(results: dict | Sequence[dict]) -> Figure:
    """The pretext task's accuracy against representation quality, one point per swept value.

    x: held-out contrastive accuracy of z (is the partner the most similar of 2N − 1 views?);
    y: kNN and linear-probe accuracy of h; each point the mean over seeds with error bars of ± one
    standard deviation on both axes.
    """
    summary = aggregate(results)
    param, mean, std = summary["param"], summary["mean"], summary["std"]
    fig = figure(7.0, 4.8)
    ax = fig.subplots()
    x = 100 * np.asarray(mean["contrastive_acc_heldout"])
    xerr = _spread(std["contrastive_acc_heldout"], 100)
    for i, (key, label) in enumerate((("knn", "kNN"), ("linear", "linear probe"))):
        y = 100 * np.asarray(mean[key])
        ax.errorbar(x, y, xerr=xerr, yerr=_spread(std[key], 100), ls=":", label=label, **series_style(i))
        if key == "linear":
            for xi, yi, value in zip(x, y, summary["values"]):
                ax.annotate(f"{_param_label(param)}={value:g}", (xi, yi), textcoords="offset points",
                            xytext=(6, 6))
    ax.set_xlabel("contrastive accuracy on a held-out batch (%)")
    ax.set_ylabel("test accuracy of h (%)")
    ax.set_title(_seeds_note(summary["seeds"]))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


@styled
def learned_temperature_figure(results: dict | Sequence[dict]) -> Figure:
    """τ over training when it is learned, one line per initial value: the mean over seeds with a band of ± one
    standard deviation.

    Left: τ itself (log scale) with CLIP's clamp, τ ≥ 1/max logit scale; right: τ relative to
    where it started, so a small drift is visible too.
    """
    seeds = as_seeds(results)
    floor = 1 / seeds[0]["settings"]["max_logit_scale"]
    fig = figure(10.0, 4.4)
    ax, rel = fig.subplots(1, 2)
    for i, curve in enumerate(epoch_curves(seeds, "temperature_end")):
        style = series_style(i)
        start = curve["value"]
        ax.plot(curve["epoch"], curve["mean"], ms=5, label=f"starts at τ = {start:g}", **style)
        _band(ax, curve["epoch"], curve["mean"], curve["std"], style["color"])
        relative = [m / start for m in curve["mean"]]
        rel.plot(curve["epoch"], relative, ms=5, **style)
        _band(rel, curve["epoch"], relative, [s / start for s in curve["std"]], style["color"])
    ax.axhline(floor, color=REFERENCE, ls="--", lw=1.5, label=f"clamp: τ ≥ {floor:g}")
    ax.set_yscale("log")
    ax.set_ylabel("learned τ")
    ax.set_title(f"learned τ ({_seeds_note(seeds)})")
    ax.legend()
    rel.axhline(1, color=REFERENCE, lw=1)
    rel.set_ylabel("τ / τ at the start")
    rel.set_title("relative to where it started")
    for a in (ax, rel):
        a.set_xlabel("epoch")
        a.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
