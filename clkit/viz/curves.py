"""Numbers over training and across runs: training curves, result bars, a live plot and the sweep figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from clkit.viz.style import _value_colors


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
