"""What bf16 autocast costs SimCLR on a CPU: the laptop recipe for 10 epochs, float32 against bf16, paired seeds.

The pipelines benchmark times the kit's path in bf16 on a CPU too (the precision of its GPU path, compiled or
eager); this script measures what that precision does to the result. Each seed trains the same initialisation on
the same batches once per variant:

- ``fp32``: ``fit``'s CPU default (eager, float32);
- ``bf16``: ``fit(amp=True)``, bf16 autocast (convolutions and matrix products in bf16, the loss in float32);
- ``compiled_bf16``: ``fit(amp=True, compile=True)``, the GPU path's settings on a CPU.

Per run: kNN accuracy (k = 20, on h, 5,000 training images as the bank, 2,000 test images as queries), the
training time and the final loss. Printed: each variant's mean ± standard deviation over the seeds and its paired
difference from float32 (mean ± standard error over the seeds). Written to ``bench/results/bf16_cpu_accuracy.json``.

    python bench/bf16_cpu_accuracy.py                       # seeds 0-7, every variant (about 15 minutes on 2 cores)
    python bench/bf16_cpu_accuracy.py --seeds 0 1 --variants fp32 bf16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clkit import data, evaluate, recipes, train  # noqa: E402

OUT = Path(__file__).parent / "results" / "bf16_cpu_accuracy.json"
VARIANTS = {"fp32": dict(amp=False, compile=False), "bf16": dict(amp=True, compile=False),
            "compiled_bf16": dict(amp=True, compile=True)}


def run(seed: int, variant: str, train_set, test_set) -> dict:
    r = recipes.recipe("simclr", "shapes", "laptop", epochs=10)
    train.seed_everything(seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    history = train.fit(method, train_set, **r.fit_settings(), device="cpu", seed=seed, progress=False,
                        **VARIANTS[variant])
    knn = evaluate.knn_monitor(train_set, test_set, k=20)(method)["knn"]  # on h, the training set as the bank
    # the first epoch of a compiled run includes compiling: the time of the other nine, scaled to ten
    seconds = history["seconds"]
    return {"seed": seed, "variant": variant, "knn": knn, "final_loss": history["loss"][-1],
            "train_s": sum(seconds), "train_s_epochs_2_10_per_epoch": sum(seconds[1:]) / (len(seconds) - 1)}


def summary(rows: list[dict]) -> list[str]:
    """Mean ± sd per variant, and the paired difference from float32 (mean ± standard error)."""
    by = {v: {row["seed"]: row for row in rows if row["variant"] == v} for v in VARIANTS}
    lines = []
    for v, runs in by.items():
        if not runs:
            continue
        knn = [100 * row["knn"] for row in runs.values()]
        line = (f"{v:<14} kNN {statistics.mean(knn):5.1f} ± {statistics.stdev(knn) if len(knn) > 1 else 0:.1f}% "
                f"over {len(knn)} seeds, {statistics.mean(r['train_s_epochs_2_10_per_epoch'] for r in runs.values()):.2f} s per epoch")
        seeds = sorted(set(runs) & set(by["fp32"]))
        if v != "fp32" and len(seeds) > 1:
            diff = [100 * (runs[s]["knn"] - by["fp32"][s]["knn"]) for s in seeds]
            se = statistics.stdev(diff) / len(diff) ** 0.5
            line += f"; minus float32, paired: {statistics.mean(diff):+.1f} ± {se:.1f} points (s.e., {len(diff)} seeds)"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_set = data.load("shapes", "train").take(5000, seed=0)
    test_set = data.load("shapes", "test").take(2000, seed=0)
    rows = []
    for seed in args.seeds:
        for variant in args.variants:
            rows.append(run(seed, variant, train_set, test_set))
            print(json.dumps(rows[-1]), flush=True)
            Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary(rows)}, indent=1))
    print("\n".join(summary(rows)))
    return rows


if __name__ == "__main__":
    main()
