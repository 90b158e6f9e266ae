"""A sweep's results in words: what the numbers say, over one seed or several."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from clkit.sweep.seeds import aggregate, bars_overlap, format_mean_std, ranking


def describe(results: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """What the numbers say, in words: per accuracy the best value (mean ± standard deviation over seeds),
    the shape of the curve, and whether the runner-up's error bar overlaps the best one's; how alignment,
    uniformity and the pretext task's accuracy move with the value; and whether the pretext task's accuracy
    ranks the values the way the linear probe does.

    Args:
        results: one sweep's results, or several of the same sweep with different seeds (see
            :func:`clkit.sweep.aggregate`); every sentence is about the means over the seeds.
    """
    summary = aggregate(results)
    param, values, mean, std = summary["param"], summary["values"], summary["mean"], summary["std"]
    if len(values) < 2:
        return "Fewer than two finished values: nothing to compare yet."
    seeds = len(summary["seeds"])
    lines = []
    for key, name in (("knn", "kNN accuracy"), ("linear", "linear-probe accuracy")):
        column = mean[key]
        best, second = ranking(summary, key)[:2]
        spread = 100 * (max(column) - min(column))
        line = (f"- {name}: best at {param} = {values[best]:g} ({_percent(column[best], std[key][best])}), "
                f"{_shape(column)} over {param} from {values[0]:g} to {values[-1]:g}; best − worst = {spread:.1f} points.")
        if seeds > 1:
            overlap = "overlap" if bars_overlap(summary, key, best, second) else "do not overlap"
            line += (f" The runner-up, {param} = {values[second]:g} ({_percent(column[second], std[key][second])}), "
                     f"is {100 * (column[best] - column[second]):.1f} points lower; their mean ± sd bars {overlap}.")
        lines.append(line)
    for key, name in (("alignment", "alignment (lower: positives closer)"),
                      ("uniformity", "uniformity (lower: more uniform)"),
                      ("contrastive_acc_heldout", "held-out contrastive accuracy")):
        column = mean[key]
        lines.append(f"- {name}: {_shape(column)} as {param} grows ({column[0]:.3f} → {column[-1]:.3f}).")
    best_pretext = values[ranking(summary, "contrastive_acc_heldout")[0]]
    best_quality = values[ranking(summary, "linear")[0]]
    rho = _spearman(mean["contrastive_acc_heldout"], mean["linear"])
    where = (f"are both at {param} = {best_pretext:g}" if math.isclose(best_pretext, best_quality) else
             f"are at {param} = {best_pretext:g} and {param} = {best_quality:g}")
    lines.append(f"- the best pretext accuracy and the best linear probe {where}; "
                 f"rank correlation between the two over the sweep: {rho:+.2f}.")
    if seeds > 1:
        lines.append(f"(means over {seeds} seeds, {summary['seeds']}; ± one standard deviation)")
    return "\n".join(lines)


def _percent(mean: float, std: float) -> str:
    return format_mean_std(mean, std, percent=True) + "%"


def _shape(column: Sequence[float], tol: float = 0.0) -> str:
    steps = [b - a for a, b in itertools.pairwise(column)]
    if all(d >= -tol for d in steps):
        return "rising"
    if all(d <= tol for d in steps):
        return "falling"
    peak = max(range(len(column)), key=column.__getitem__)
    trough = min(range(len(column)), key=column.__getitem__)
    if 0 < peak < len(column) - 1 and all(d >= -tol for d in steps[:peak]) and all(d <= tol for d in steps[peak:]):
        return "an inverted U"
    if 0 < trough < len(column) - 1 and all(d <= tol for d in steps[:trough]) and all(d >= -tol for d in steps[trough:]):
        return "a U"
    return "not monotonic"


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    def ranks(x: Sequence[float]) -> list[float]:
        order = sorted(range(len(x)), key=x.__getitem__)
        r = [0.0] * len(x)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else 0.0
