"""Which default lets SimCLR learn the shapes on a laptop: short measured runs, one change at a time.

    python bench/ablate_default.py                      # every configuration, 20 epochs each
    python bench/ablate_default.py --only base light    # some of them
    python bench/ablate_default.py --epochs 10          # a quicker screen

Each configuration is the laptop SimCLR recipe as it was before this ablation (``BEFORE``) with a few
settings changed, on one variant of the ``shapes`` data (the polarity of the shapes). It trains on the 10,000 training images, then measures
on the 2,000 test images with the kit's one protocol: kNN accuracy (k = 20, cosine, weighted votes)
and the 10-NN same-class fraction of the backbone features h, with the training set as the bank.
Results are appended to bench/results/default_ablation.json (one record per run, with the wall
time of training on this machine) and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from clkit import data, evaluate, recipes, train

RESULTS = Path(__file__).resolve().parent / "results" / "default_ablation.json"

# Every configuration changes the recipe as it was before this ablation (SimCLR's augmentation strengths, the smallest
# crop at 20%), so the table keeps its meaning when the kit's defaults move.
BEFORE = {"crop_min": 0.2, "jitter_strength": 1.0, "grayscale_p": 0.2, "blur_p": 0.5, "temperature": 0.2,
          "batch_size": 256, "lr": 2e-3, "optimizer": "adamw", "weight_decay": 1e-4}

# name -> (changes to BEFORE, make_shapes options). "random" polarity is the shapes set before the change this
# ablation chose; "light" shapes are the default set now.
CONFIGS: dict[str, tuple[dict, dict]] = {
    "base": ({}, {"polarity": "random"}),
    "crop 0.4": ({"crop_min": 0.4}, {"polarity": "random"}),
    "jitter 0.5, gray 0.5": ({"jitter_strength": 0.5, "grayscale_p": 0.5}, {"polarity": "random"}),
    "jitter 0.5, gray 0.5, crop 0.4": ({"jitter_strength": 0.5, "grayscale_p": 0.5, "crop_min": 0.4},
                                       {"polarity": "random"}),
    "light shapes": ({}, {"polarity": "light"}),
    "light shapes, crop 0.4": ({"crop_min": 0.4}, {"polarity": "light"}),
    "light shapes, jitter 0.5, gray 0.5, crop 0.4": (
        {"jitter_strength": 0.5, "grayscale_p": 0.5, "crop_min": 0.4}, {"polarity": "light"}),
    "light shapes, jitter 0.5, gray 0.5": ({"jitter_strength": 0.5, "grayscale_p": 0.5}, {"polarity": "light"}),
    "light shapes, jitter 0.5, crop 0.4": ({"jitter_strength": 0.5, "crop_min": 0.4}, {"polarity": "light"}),
    "light shapes, jitter 0.5, gray 0.5, crop 0.4, no blur": (
        {"jitter_strength": 0.5, "grayscale_p": 0.5, "crop_min": 0.4, "blur_p": 0.0}, {"polarity": "light"}),
    "light shapes, jitter 0.5, gray 0.5, crop 0.4, batch 128": (
        {"jitter_strength": 0.5, "grayscale_p": 0.5, "crop_min": 0.4, "batch_size": 128}, {"polarity": "light"}),
}


def run(name: str, epochs: int, seed: int) -> dict:
    overrides, shapes_options = CONFIGS[name]
    r = recipes.recipe("simclr", "shapes", "laptop", epochs=epochs, **{**BEFORE, **overrides})
    train_set = data.make_shapes(data.SHAPES_SIZES["train"], seed=data.SHAPES_SEEDS["train"], **shapes_options)
    test_set = data.make_shapes(data.SHAPES_SIZES["test"], seed=data.SHAPES_SEEDS["test"], **shapes_options)
    train.seed_everything(seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    started = time.perf_counter()
    train.fit(method, train_set, **r.fit_settings(), seed=seed, device="cpu", progress=False)
    seconds = time.perf_counter() - started
    bank, queries = evaluate.embed(method, train_set), evaluate.embed(method, test_set)
    return {
        "config": name, "overrides": overrides, "shapes": shapes_options, "epochs": epochs, "seed": seed,
        "knn": evaluate.knn_accuracy(bank, train_set.labels, queries, test_set.labels, k=20),
        "same_class_10nn": evaluate.neighbour_agreement(bank, train_set.labels, queries, test_set.labels, k=10),
        "train_s": seconds, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=sorted(CONFIGS), default=list(CONFIGS))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    args = p.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    records = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    print(f"{'configuration':<48} {'epochs':>6} {'seed':>4} {'kNN':>6} {'10-NN':>6} {'train s':>8}")
    for name in args.only:
        for seed in args.seeds:
            record = run(name, args.epochs, seed)
            records.append(record)
            RESULTS.write_text(json.dumps(records, indent=1))
            print(f"{name:<48} {args.epochs:>6} {seed:>4} {record['knn']:>6.3f} {record['same_class_10nn']:>6.3f} "
                  f"{record['train_s']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
