"""How long the first UMAP picture takes, in a fresh kernel and in a warm one.

    python bench/bench_umap.py                 # 2k, 5k and 10k points
    python bench/bench_umap.py 5000 --stock    # also umap-learn's own path (pynndescent, 500 epochs)

Each size runs in new Python processes, as a fresh notebook kernel would, after torch and clkit
are imported (earlier cells have done that). What is timed is one notebook cell: import umap,
:func:`clkit.viz.umap_embed` of N clustered 128-d features (cosine, seeded), and a
:func:`clkit.viz.umap_panels` figure rendered to PNG.

- **first run**: numba's cache is empty (``NUMBA_CACHE_DIR`` points at a new folder), as after a
  fresh install: every kernel umap and pynndescent use is compiled;
- **fresh kernel**: a second process, the cache now filled: the everyday case;
- **warm**: the same cell again in that process.

``--stock`` adds ``umap.UMAP(metric="cosine", random_state=0).fit_transform`` in a fresh kernel
(the cache filled by its own first run, pynndescent's neighbour search, 500 epochs below 10k points).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import io, json, sys, time
import numpy as np, torch
from clkit import viz

n, stock = int(sys.argv[1]), sys.argv[2] == "stock"
g = torch.Generator().manual_seed(0)
labels = torch.arange(n) % 10
features = torch.randn(10, 128, generator=g)[labels] * 1.5 + torch.randn(n, 128, generator=g)
classes = [str(c) for c in range(10)]


def cell():
    start = time.perf_counter()
    if stock:
        import umap

        coords = umap.UMAP(metric="cosine", random_state=0).fit_transform(features.numpy())
    else:
        coords = viz.umap_embed(features, seed=0, progress=False)
    viz.umap_panels({"features": coords}, labels, classes).savefig(io.BytesIO(), format="png")
    return time.perf_counter() - start


first = cell()
print(json.dumps({"first": first, "again": cell()}))
"""


def run_child(n: int, cache_dir: str, stock: bool = False) -> dict[str, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), "stock" if stock else "clkit"],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark process for n={n} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2000, 5000, 10000])
    parser.add_argument("--stock", action="store_true", help="also time umap-learn's default path")
    args = parser.parse_args()
    print(f"UMAP timings, seconds for one notebook cell (import umap, embed, draw); {os.cpu_count()} CPU cores")
    print(f"{'points':>8} {'first run':>10} {'fresh kernel':>13} {'warm':>7}" + (f" {'stock, fresh':>13}" if args.stock else ""))
    started = time.perf_counter()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as cache:
            first = run_child(n, cache)["first"]
            fresh = run_child(n, cache)
            line = f"{n:>8} {first:>10.1f} {fresh['first']:>13.1f} {fresh['again']:>7.1f}"
            if args.stock:
                run_child(n, cache, stock=True)  # fill the cache for the stock path
                line += f" {run_child(n, cache, stock=True)['first']:>13.1f}"
        print(line, flush=True)
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
