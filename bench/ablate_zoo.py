"""Short ablations behind the zoo's recipes: which settings let each method learn at the laptop budget.

Each row trains one method at the zoo's laptop budget (5,000 ``shapes`` images, 10 epochs, batch 256,
``clkit.sweep.zoo.ZooSettings``) with the recipe's settings changed as the row says, and records the kNN
accuracy on the lessons' protocol (k = 20, training images as the bank, 2,000 test images as queries), the
linear probe, the collapse monitor where the method logs one, and the training time. Rows are appended to
``bench/results/zoo_ablation.json`` as they finish (a rerun skips the rows already there).

    python bench/ablate_zoo.py                       # every row
    python bench/ablate_zoo.py --only simsiam,byol   # the rows of some methods
    python bench/ablate_zoo.py --table               # print the stored table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from clkit import evaluate, recipes, train
from clkit.sweep import zoo

OUT = Path(__file__).parent / "results" / "zoo_ablation.json"

SGD = {"optimizer": "sgd", "lr": 0.06, "weight_decay": 5e-4}  # lightly's and solo-learn's CIFAR-10 setting, batch 256

#: (method, what changes from its recipe). The recipe's own row comes first for every method.
ROWS: list[tuple[str, dict]] = [
    ("simsiam", {}),
    ("simsiam", SGD),
    ("simsiam", {"lr": 5e-4}),
    ("simsiam", {**SGD, "options": {"out_bn": False}}),
    ("byol", {}),
    ("byol", SGD),
    ("byol", {"lr": 5e-4}),
    ("byol", {**SGD, "options": {"base_momentum": 0.9}}),
    ("moco", {}),
    ("moco", {"options": {"hidden_bn": True}}),
    ("moco", {"options": {"queue_size": 1024}}),
    ("moco", {"options": {"momentum": 0.9}}),
    ("moco", SGD),
    # Positives-only methods match the views on whatever survives the augmentations; stronger colour distortion,
    # smaller crops, and three times the steps.
    ("simsiam", {"jitter_strength": 1.0}),
    ("byol", {"jitter_strength": 1.0}),
    ("simsiam", {"crop_min": 0.2}),
    ("byol", {"epochs": 30}),
    ("simsiam", {"epochs": 30}),
    # Steps rather than epochs: a quarter of the batch is four times the updates for the same images seen.
    ("simsiam", {"batch_size": 64}),
    ("byol", {"batch_size": 64}),
    # Every view grey: if colour is the feature the positives-only methods match on, taking it away leaves shape.
    ("byol", {"grayscale_p": 1.0}),
    ("simsiam", {"grayscale_p": 1.0}),
    ("dino", {"grayscale_p": 1.0}),
    ("swav", {"grayscale_p": 1.0}),
    # The clustering methods: their recipes, then one change at a time.
    ("dino", {}),
    ("dino", {"batch_size": 64}),
    ("dino", {"local_crops": 0}),
    ("dino", {"lr": 5e-4}),
    ("dino", {"options": {"teacher_temp": 0.04, "teacher_temp_warmup": 0.0}}),
    ("dino", {"options": {"out_dim": 64}}),
    ("swav", {}),
    ("swav", {"batch_size": 64}),
    ("swav", {"local_crops": 0}),
    ("swav", {"lr": 5e-4}),
    ("swav", {"options": {"epsilon": 0.03}}),
    ("swav", {"options": {"n_prototypes": 30}}),
    # The two levers that moved SimSiam together: four times the steps per epoch and three times the epochs
    # (twelve times the recipe's optimiser steps: 2,340 against 190).
    ("byol", {"batch_size": 64, "epochs": 30}),
    ("swav", {"batch_size": 64, "epochs": 30}),
    ("dino", {"batch_size": 64, "epochs": 30}),
]


def key(method: str, change: dict) -> str:
    return json.dumps([method, change], sort_keys=True)


def run(method: str, change: dict, s: zoo.ZooSettings, device: torch.device) -> dict:
    train_set, test_set = zoo.datasets(s)
    base = recipes.recipe(method, s.dataset, "laptop", n_train=s.n_train, epochs=s.epochs, batch_size=s.batch_size)
    options = {**base.options, **change.get("options", {})}
    r = base.replace(**{**change, "options": options})
    train.seed_everything(s.seed)
    model = recipes.build(r, train_set.shape, len(train_set.classes))
    history = train.fit(model, train_set, **r.fit_settings(), device=device, seed=s.seed, progress=False)
    h_train, h_test = (evaluate.embed(model, x.images, device=device) for x in (train_set, test_set))
    return {
        "method": method, "change": change,
        "knn": evaluate.knn_accuracy(h_train, train_set.labels, h_test, test_set.labels, k=s.knn_k),
        "linear": evaluate.linear_probe(h_train, train_set.labels, h_test, test_set.labels, seed=s.seed),
        "z_std": history.last("z_std"), "loss": history.last("loss"), "train_s": sum(history["seconds"]),
        "threads": torch.get_num_threads(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def table(rows: list[dict]) -> str:
    lines = [f"{'method':<10} {'change':<60} {'kNN %':>6} {'linear %':>8} {'z_std':>6} {'s':>5}"]
    for r in rows:
        z = f"{r['z_std']:.3f}" if r.get("z_std") is not None else "—"
        lines.append(f"{r['method']:<10} {json.dumps(r['change']):<60} {100 * r['knn']:>6.1f} "
                     f"{100 * r['linear']:>8.1f} {z:>6} {r['train_s']:>5.0f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated methods")
    p.add_argument("--table", action="store_true", help="print the stored table and stop")
    args = p.parse_args()
    stored = json.loads(OUT.read_text()) if OUT.exists() else []
    if args.table:
        print(table(stored))
        return
    only = set(filter(None, args.only.split(",")))
    done = {key(r["method"], r["change"]) for r in stored}
    s, device = zoo.ZooSettings(epochs=10), train.resolve_device("auto")  # the rows' base: 10 epochs
    for method, change in ROWS:
        if (only and method not in only) or key(method, change) in done:
            continue
        stored.append(run(method, change, s, device))
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(stored, indent=1))
        print(table([stored[-1]]).splitlines()[1], flush=True)
    print(table(stored))


if __name__ == "__main__":
    main()
