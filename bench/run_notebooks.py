"""Execute notebooks in place at the current CLKIT_SCALE and print each one's wall time.

    python bench/run_notebooks.py                    # every numbered notebook
    python bench/run_notebooks.py notebooks/03_simclr.ipynb

This is how the committed outputs are made (``make notebooks``): a real run, at the laptop
setting on a CPU unless CLKIT_SCALE says otherwise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

from clkit import scale

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    ExecutePreprocessor(timeout=3600, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(path.parent)}})
    seconds = time.perf_counter() - started
    nbformat.write(notebook, path)
    return seconds


def main(paths: list[str]) -> None:
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    print(f"CLKIT_SCALE={scale.current()}")
    for path in notebooks:
        print(f"{path.name:<36} {run(path):7.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
