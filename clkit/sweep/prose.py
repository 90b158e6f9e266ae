"""A sweep's results in words: what the numbers say, and a temperature sweep against the published trends."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from clkit.sweep.store import table


def describe(results: dict[str, Any]) -> str:
    """What the numbers say, in words: the best value per metric, how each metric moves with the value,
    and whether the pretext task's accuracy ranks the values the way representation quality does."""
    rows = table(results)
    param = results["param"]
    if len(rows) < 2:
        return "Fewer than two finished values: nothing to compare yet."
    rows = sorted(rows, key=lambda r: r[param])
    values = [r[param] for r in rows]
    lines = []
    for key, name in (("knn", "kNN accuracy"), ("linear", "linear-probe accuracy")):
        column = [r[key] for r in rows]
        best = max(range(len(rows)), key=column.__getitem__)
        spread = 100 * (max(column) - min(column))
        lines.append(f"- {name}: best at {param} = {values[best]:g} ({100 * column[best]:.1f}%), "
                     f"{_shape(column)} over {param} from {values[0]:g} to {values[-1]:g}; "
                     f"best − worst = {spread:.1f} points.")
    for key, name in (("alignment", "alignment (lower: positives closer)"),
                      ("uniformity", "uniformity (lower: more uniform)"),
                      ("contrastive_acc_heldout", "held-out contrastive accuracy")):
        column = [r[key] for r in rows]
        lines.append(f"- {name}: {_shape(column)} as {param} grows ({column[0]:.3f} → {column[-1]:.3f}).")
    pretext = [r["contrastive_acc_heldout"] for r in rows]
    quality = [r["linear"] for r in rows]
    best_pretext = values[max(range(len(rows)), key=pretext.__getitem__)]
    best_quality = values[max(range(len(rows)), key=quality.__getitem__)]
    rho = _spearman(pretext, quality)
    lines.append(f"- the best pretext accuracy is at {param} = {best_pretext:g}, the best linear probe at "
                 f"{param} = {best_quality:g}; rank correlation between the two over the sweep: {rho:+.2f}.")
    return "\n".join(lines)


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


def temperature_trends(results: dict[str, Any], key: str = "linear") -> str:
    """A temperature sweep checked against the published trends, in words (``key``: the accuracy to compare).

    - SimCLR, CIFAR-10 (appendix B.9): τ = 0.5 is the best of {0.1, 0.5, 1.0} at convergence;
    - Wang & Liu 2021, CIFAR-10: an inverted U, best near τ = 0.3 (of 0.07, 0.3, 1.0);
    - SimCLR Table 5, ImageNet: the pretext task's accuracy keeps rising as τ falls, the linear
      probe does not.
    """
    if results["param"] != "temperature":
        raise ValueError(f"this is a sweep of {results['param']!r}, not of the temperature")
    rows = sorted(table(results), key=lambda r: r["temperature"])
    accuracy = {r["temperature"]: r[key] for r in rows}
    name = {"linear": "linear probe", "knn": "kNN"}.get(key, key)
    lines = []

    def at(tau: float) -> float | None:
        return next((a for t, a in accuracy.items() if math.isclose(t, tau)), None)

    three = {tau: at(tau) for tau in (0.1, 0.5, 1.0)}
    if all(a is not None for a in three.values()):
        best = max(three, key=three.get)
        listed = ", ".join(f"τ = {t:g}: {100 * a:.1f}%" for t, a in three.items())
        verdict = "as SimCLR found on CIFAR-10" if best == 0.5 else "where SimCLR found 0.5 best on CIFAR-10"
        lines.append(f"- Of τ ∈ {{0.1, 0.5, 1.0}} the best {name} is at τ = {best:g} ({listed}), {verdict}.")
    if len(rows) >= 3:
        taus = [r["temperature"] for r in rows]
        column = [r[key] for r in rows]
        shape = _shape(column)
        peak = taus[max(range(len(rows)), key=column.__getitem__)]
        same = "the same shape as" if shape == "an inverted U" else "not the inverted U of"
        lines.append(f"- The {name} accuracy over τ is {shape}, best at τ = {peak:g}: {same} Wang & Liu's CIFAR-10 "
                     "curve (best near τ = 0.3).")
        pretext = [r["contrastive_acc_heldout"] for r in rows]
        rho = _spearman(pretext, column)
        lines.append(f"- Held-out contrastive accuracy is {_shape(pretext)} as τ grows "
                     f"({100 * pretext[0]:.1f}% at τ = {taus[0]:g}, {100 * pretext[-1]:.1f}% at τ = {taus[-1]:g}); "
                     f"its rank correlation with the {name} accuracy is {rho:+.2f} (SimCLR Table 5: the pretext "
                     "accuracy falls steadily with τ while the linear probe peaks in between).")
    return "\n".join(lines) if lines else "Too few temperatures to compare with the published trends."
