"""Training throughput and accuracy of a recipe: SimCLR on `shapes` against raw pixels and random init.

    python bench/bench_train.py                 # the laptop recipe of notebook 03 (20 epochs, ~3 min on 2 cores)
    python bench/bench_train.py --epochs 2      # a quick look
    python bench/bench_train.py --scale full    # the full recipe (a GPU)

Every setting comes from clkit.recipes (any option given overrides the recipe's). Prints images/s of the
training loop (each image gives two augmented views, so views/s is twice that), the wall time, and kNN
accuracy (k = 20, cosine, weighted votes) on the 2,000 test images for the trained encoder, the same
encoder at random init, and raw pixels.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from clkit import cli, data, recipes, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="laptop")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--temperature", type=float)
    p.add_argument("--encoder")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    given = {k: v for k, v in vars(args).items() if k in cli.RECIPE_OPTIONS and v is not None}
    r = recipes.recipe("simclr", "shapes", args.scale, **given)

    device = train.resolve_device(args.device)
    train_set, test_set = data.load("shapes", "train"), data.load("shapes", "test")
    if r.n_train and r.n_train < len(train_set):
        train_set = train_set.take(r.n_train, seed=0)
    train.seed_everything(0)
    simclr = recipes.build(r, train_set.shape, len(train_set.classes))
    train.seed_everything(1)
    random_init = recipes.build(r, train_set.shape, len(train_set.classes)).to(device)

    print(f"device {device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), "
          f"torch {torch.__version__}")
    print(f"SimCLR on shapes: {len(train_set)} images, {r.encoder}, batch {r.batch_size}, "
          f"τ {r.temperature}, lr {r.lr}, {r.epochs} epochs (recipe at scale {args.scale})")
    started = time.perf_counter()
    history = train.fit(simclr, train_set, **r.fit_settings(), device=device, monitor=(train_set, test_set),
                        monitor_every=max(1, r.epochs // 4))
    wall = time.perf_counter() - started
    train_seconds = sum(history["seconds"])
    images = r.epochs * (len(train_set) // r.batch_size) * r.batch_size
    summary = cli.knn_summary(simclr, random_init, train_set, test_set, k=20, device=device)

    print(f"training: {images / train_seconds:,.0f} images/s ({2 * images / train_seconds:,.0f} views/s), "
          f"{train_seconds:.0f} s in the loop, {wall:.0f} s wall with the kNN monitor")
    print("kNN accuracy over epochs:", ", ".join(f"{r['epoch']}: {r['knn']:.3f}" for r in history.epochs if "knn" in r))
    print(f"kNN accuracy (test): SimCLR {summary['trained']:.3f} | random init {summary['random_init']:.3f} | "
          f"raw pixels {summary['raw_pixels']:.3f}")


if __name__ == "__main__":
    main()
