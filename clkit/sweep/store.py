"""A sweep's results on disk and as a table: the JSON, the CSV beside it, where the notebooks keep them."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from clkit.train import DamagedFile, atomic_write_text

FORMAT = "clkit.sweep/1"

#: Final metrics, in the order of the CSV table.
FINAL_KEYS = ("knn", "linear", "alignment", "uniformity", "contrastive_acc_heldout", "contrastive_acc", "loss",
              "temperature_end")


def save(results: dict[str, Any], path: str | Path) -> None:
    """Write ``results`` as JSON at ``path`` and the :func:`table` as CSV beside it, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=1))
    rows = table(results)
    if rows:
        # Not atomic_write_text: the csv module needs the file opened with newline="" (its own "\r\n" rows).
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path.with_suffix(".csv"))


def load(path: str | Path) -> dict[str, Any]:
    """Read results written by :func:`clkit.sweep.sweep` (or :func:`save`).

    Raises:
        DamagedFile: (a ValueError) the file is not valid JSON, naming it; ValueError: it is JSON of something else.
    """
    try:
        results = json.loads(Path(path).read_text())
    except ValueError as error:  # not JSON (cut short, overwritten), or not even text
        raise DamagedFile(path, f"not valid JSON: {error}",
                          "delete it, or start the sweep over with resume=False (clkit sweep --restart)") from None
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        found = results.get("format") if isinstance(results, dict) else type(results).__name__
        raise ValueError(f"{path} is not a clkit sweep result (format {found!r}, expected {FORMAT!r})")
    return results


def results_dir() -> Path:
    """Where the notebooks keep stored results: the kit's ``notebooks/results`` (``./results`` if not found)."""
    kit = Path(__file__).resolve().parents[2] / "notebooks"  # clkit/sweep/store.py -> the kit
    return kit / "results" if kit.is_dir() else Path("results")


def table(results: dict[str, Any]) -> list[dict[str, float]]:
    """One row per finished value: the value, the final metrics and the wall time."""
    param = results["param"]
    return [{param: run["value"], **run["final"], "wall_s": round(run["wall_s"], 1)} for run in results["runs"]]


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table: value → kNN, linear, alignment, uniformity, held-out contrastive accuracy, wall time."""
    param = results["param"]
    header = f"{param:>12} {'kNN':>7} {'linear':>7} {'align':>7} {'uniform':>8} {'c-acc':>7} {'loss':>7} {'time':>7}"
    lines = [header]
    for row in table(results):
        lines.append(
            f"{row[param]:>12g} {100 * row['knn']:>6.1f}% {100 * row['linear']:>6.1f}% {row['alignment']:>7.3f} "
            f"{row['uniformity']:>8.3f} {100 * row['contrastive_acc_heldout']:>6.1f}% {row['loss']:>7.3f} "
            f"{row['wall_s']:>6.0f}s"
        )
    return "\n".join(lines)
