"""One sweep run with several seeds: per value, the mean and the standard deviation over the seeds.

A seed fixes a sweep's initial weights, the order of its batches, its augmentations and which training
and test images it draws (:func:`clkit.sweep.datasets`), so the spread over seeds is how much a result
would move if the sweep were run again. A single run says nothing about that spread: a difference
between two values smaller than it is not a finding.

    runs = [sweep.sweep("temperature", [0.1, 0.5], seed=s) for s in (0, 1, 2)]
    summary = sweep.aggregate(runs)        # summary["mean"]["linear"][i], summary["std"]["linear"][i]
    print(sweep.format_summary(summary))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from clkit.sweep.store import FINAL_KEYS


def as_seeds(results: dict[str, Any] | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``results`` as a list of a sweep's results, one per seed (a single result is a list of one)."""
    return [results] if isinstance(results, dict) else list(results)


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (divisor n − 1) of ``xs``; the deviation is NaN for one number."""
    n = len(xs)
    if n == 0:
        raise ValueError("no numbers to average")
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return mean, std


def _check_same_sweep(seeds: list[dict[str, Any]]) -> None:
    if not seeds:
        raise ValueError("no results to aggregate")
    first = seeds[0]
    other_settings = {k: v for k, v in first["settings"].items() if k != "seed"}
    for result in seeds[1:]:
        if result["param"] != first["param"]:
            raise ValueError(f"a sweep of {result['param']!r} cannot be aggregated with one of {first['param']!r}")
        changed = sorted(k for k in set(other_settings) | set(result["settings"])
                         if k != "seed" and result["settings"].get(k) != other_settings.get(k))
        if changed:
            raise ValueError(f"these sweeps differ in more than the seed ({', '.join(changed)}): "
                             "only runs of the same settings can be averaged")
    seed_list = [r["settings"].get("seed") for r in seeds]
    if len(set(seed_list)) < len(seed_list):
        raise ValueError(f"the same seed appears twice ({seed_list}): a repeated run is not another sample")


def _values(seeds: list[dict[str, Any]]) -> list[float]:
    values: list[float] = []
    for result in seeds:
        for run in result["runs"]:
            if not any(math.isclose(run["value"], v) for v in values):
                values.append(run["value"])
    return sorted(values)


def _runs_at(seeds: list[dict[str, Any]], value: float) -> list[dict[str, Any]]:
    return [run for result in seeds for run in result["runs"] if math.isclose(run["value"], value)]


def aggregate(results: dict[str, Any] | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per swept value, the mean and the sample standard deviation over seeds of every final metric.

    Args:
        results: results of the same sweep (same setting swept, same settings) run with different
            ``seed`` values, as :func:`clkit.sweep.sweep` returns them; one result is one seed.
    Returns:
        ``param``, ``seeds`` (in the order given), ``values`` (every finished value, ascending),
        ``n`` (per value, how many seeds finished it), ``mean`` and ``std``: metric → one number per
        value, for every key of :data:`FINAL_KEYS` (``std`` divides by n − 1; NaN where n = 1),
        the shared ``settings`` (without the seed) and ``wall_s``, the training time of all runs.
    Raises:
        ValueError: when the results are of different sweeps or repeat a seed.
    """
    seeds = as_seeds(results)
    _check_same_sweep(seeds)
    values = _values(seeds)
    summary: dict[str, Any] = {
        "param": seeds[0]["param"],
        "seeds": [r["settings"].get("seed") for r in seeds],
        "values": values,
        "n": [],
        "mean": {key: [] for key in FINAL_KEYS},
        "std": {key: [] for key in FINAL_KEYS},
        "settings": {k: v for k, v in seeds[0]["settings"].items() if k != "seed"},
        "wall_s": sum(r["wall_s"] for r in seeds),
    }
    for value in values:
        runs = _runs_at(seeds, value)
        summary["n"].append(len(runs))
        for key in FINAL_KEYS:
            mean, std = mean_std([run["final"][key] for run in runs])
            summary["mean"][key].append(mean)
            summary["std"][key].append(std)
    return summary


def epoch_curves(results: dict[str, Any] | Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per swept value, the per-epoch mean and standard deviation over seeds of one recorded metric.

    Returns:
        one dict per value, ascending: ``value``, ``epoch`` (the epochs every seed recorded ``key`` at),
        ``mean``, ``std`` (one number per epoch; std NaN with one seed) and ``n``, the seeds.
    """
    seeds = as_seeds(results)
    _check_same_sweep(seeds)
    curves = []
    for value in _values(seeds):
        runs = _runs_at(seeds, value)
        per_run = [{e["epoch"]: e[key] for e in run["epochs"] if key in e} for run in runs]
        epochs = sorted(set.intersection(*(set(p) for p in per_run)))
        stats = [mean_std([p[epoch] for p in per_run]) for epoch in epochs]
        curves.append({"value": value, "epoch": epochs, "mean": [m for m, _ in stats], "std": [s for _, s in stats],
                       "n": len(runs)})
    return curves


def format_mean_std(mean: float, std: float, percent: bool = False) -> str:
    """``"48.4 ± 1.2"`` (``percent``: a fraction shown in %, 1 decimal; else 3 decimals); the mean alone when
    the deviation is NaN (one seed)."""
    scale, digits = (100, 1) if percent else (1, 3)
    text = f"{scale * mean:.{digits}f}"
    return text + (f" ± {scale * std:.{digits}f}" if not math.isnan(std) else "")


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text table of :func:`aggregate`: per value, mean ± standard deviation over the seeds of kNN,
    linear-probe and held-out contrastive accuracy (%), alignment, uniformity and the training loss."""
    param = summary["param"]
    columns = (("knn", "kNN %", True), ("linear", "linear %", True), ("contrastive_acc_heldout", "c-acc %", True),
               ("alignment", "align", False), ("uniformity", "uniform", False), ("loss", "loss", False))
    seeds = len(summary["seeds"])
    rows = [[f"{v:g}", str(n)] + [format_mean_std(summary["mean"][k][i], summary["std"][k][i], pct)
                                  for k, _, pct in columns]
            for i, (v, n) in enumerate(zip(summary["values"], summary["n"]))]
    header = [param, "seeds"] + [name for _, name, _ in columns]
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    note = ("mean ± standard deviation over " + (f"{seeds} seeds" if seeds > 1 else "1 seed (no spread: one run)")
            + f" {summary['seeds']}")
    return "\n".join(lines + [note])


def ranking(summary: dict[str, Any], key: str) -> list[int]:
    """Indices of ``summary["values"]`` by decreasing mean of ``key`` (the best accuracy first)."""
    mean = summary["mean"][key]
    return sorted(range(len(mean)), key=lambda i: -mean[i])


def bars_overlap(summary: dict[str, Any], key: str, i: int, j: int) -> bool:
    """Whether the mean ± standard deviation intervals of ``key`` at values i and j overlap (as their error
    bars do in a figure); with one seed there are no bars, and only equal means overlap."""
    mean, std = summary["mean"][key], summary["std"][key]
    spread = 0.0 if math.isnan(std[i]) or math.isnan(std[j]) else std[i] + std[j]
    return abs(mean[i] - mean[j]) <= spread
