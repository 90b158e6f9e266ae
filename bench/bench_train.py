"""Training throughput and accuracy of the laptop setting: SimCLR on `shapes` against raw pixels and random init.

    python bench/bench_train.py                 # the laptop default of notebook 03 (20 epochs, ~3 min on 2 cores)
    python bench/bench_train.py --epochs 2      # a quick look

Prints images/s of the training loop (each image gives two augmented views, so views/s is twice that),
the wall time, and kNN accuracy (k = 20, cosine, weighted votes) on the 2,000 test images for the trained
encoder, the same encoder at random init, and raw pixels.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from clkit import augment, cli, data, methods, models, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--encoder", default="small_cnn")
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    device = train.resolve_device(args.device)
    train_set, test_set = data.load("shapes", "train"), data.load("shapes", "test")
    views = augment.simclr(32, scale=(0.2, 1.0))
    train.seed_everything(0)
    simclr = methods.SimCLR(models.encoder(args.encoder), views, temperature=args.temperature)
    train.seed_everything(1)
    random_init = models.encoder(args.encoder).to(device)

    print(f"device {device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), "
          f"torch {torch.__version__}")
    print(f"SimCLR on shapes: {len(train_set)} images, {args.encoder}, batch {args.batch_size}, "
          f"τ {args.temperature}, lr {args.lr}, {args.epochs} epochs")
    started = time.perf_counter()
    history = train.fit(simclr, train_set, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        device=device, monitor=(train_set, test_set), monitor_every=max(1, args.epochs // 4))
    wall = time.perf_counter() - started
    train_seconds = sum(history["seconds"])
    images = args.epochs * (len(train_set) // args.batch_size) * args.batch_size
    summary = cli.knn_summary(simclr, random_init, train_set, test_set, k=20, device=device)

    print(f"training: {images / train_seconds:,.0f} images/s ({2 * images / train_seconds:,.0f} views/s), "
          f"{train_seconds:.0f} s in the loop, {wall:.0f} s wall with the kNN monitor")
    print("kNN accuracy over epochs:", ", ".join(f"{r['epoch']}: {r['knn']:.3f}" for r in history.epochs if "knn" in r))
    print(f"kNN accuracy (test): SimCLR {summary['trained']:.3f} | random init {summary['random_init']:.3f} | "
          f"raw pixels {summary['raw_pixels']:.3f}")


if __name__ == "__main__":
    main()
