"""``clkit …`` commands, for runs outside the notebooks.

    clkit train --method simclr --dataset shapes --epochs 15 --out runs/simclr

trains with :func:`clkit.train.fit` (progress bar, a checkpoint and ``history.json`` in
``--out``, resumed when the folder already holds a run), then prints the kNN accuracy of
the trained encoder beside two baselines: raw pixels and the same encoder at random init.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from clkit import augment, data, evaluate, methods, models, train


def build_method(
    name: str,
    encoder: str,
    image_size: int,
    in_channels: int,
    num_classes: int,
    temperature: float = 0.5,
    learn_temperature: bool = False,
) -> methods.Method:
    """A method by name, with the SimCLR augmentation at ``image_size`` and a fresh encoder."""
    backbone = models.encoder(encoder, in_channels=in_channels)
    views = augment.simclr(image_size)
    if name == "simclr":
        return methods.SimCLR(backbone, views, temperature=temperature, learn_temperature=learn_temperature)
    if name == "supervised":
        return methods.Supervised(backbone, views, num_classes)
    raise ValueError(f"unknown method {name!r}; valid methods are {', '.join(methods.METHODS)}")


def knn_summary(
    trained: torch.nn.Module,
    random_init: torch.nn.Module,
    bank: data.ImageSet,
    queries: data.ImageSet,
    k: int = 20,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """kNN accuracy of a trained model's features against raw pixels and a random-init model."""

    def knn(z_bank: torch.Tensor, z_queries: torch.Tensor) -> float:
        return evaluate.knn_accuracy(z_bank, bank.labels, z_queries, queries.labels, k=k)

    return {
        "trained": knn(evaluate.embed(trained, bank.images, device=device),
                       evaluate.embed(trained, queries.images, device=device)),
        "random_init": knn(evaluate.embed(random_init, bank.images, device=device),
                           evaluate.embed(random_init, queries.images, device=device)),
        "raw_pixels": knn(evaluate.raw_pixels(bank.images), evaluate.raw_pixels(queries.images)),
    }


def _train(args: argparse.Namespace) -> int:
    train_set = data.load(args.dataset, "train", root=args.root, download=args.download)
    test_set = data.load(args.dataset, "test", root=args.root, download=args.download)
    if args.limit:
        train_set = train_set.take(min(args.limit, len(train_set)), seed=args.seed)
    _, channels, height, _ = train_set.images.shape

    def fresh() -> methods.Method:
        return build_method(args.method, args.encoder, height, channels, len(train_set.classes),
                            args.temperature, args.learn_temperature)

    train.seed_everything(args.seed)
    method = fresh()
    train.seed_everything(args.seed + 1)
    random_init = fresh()
    history = train.fit(
        method, train_set, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        device=args.device, seed=args.seed, monitor=(train_set, test_set), monitor_every=args.monitor_every,
        knn_k=args.knn_k, out=args.out,
    )
    if history.interrupted:
        return 130
    device = train.resolve_device(args.device)
    summary = knn_summary(method, random_init.to(device), train_set, test_set, k=args.knn_k, device=device)
    summary["images_per_s"] = sum(history["images_per_s"]) / max(1, len(history["images_per_s"]))
    Path(args.out, "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"kNN accuracy (k={args.knn_k}) on {args.dataset} test, {len(test_set)} images:")
    print(f"  {args.method} encoder   {summary['trained']:.3f}")
    print(f"  random-init encoder {summary['random_init']:.3f}")
    print(f"  raw pixels          {summary['raw_pixels']:.3f}")
    print(f"training throughput: {summary['images_per_s']:.0f} images/s; checkpoint and history in {args.out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clkit", description="The contrastive learning kit.")
    commands = p.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a method and compare it with raw pixels and random init")
    t.add_argument("--method", default="simclr", choices=sorted(methods.METHODS))
    t.add_argument("--dataset", default="shapes", choices=data.DATASETS)
    t.add_argument("--encoder", default="small_cnn", choices=sorted(models.ENCODERS))
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--optimizer", default="adamw", choices=train.OPTIMIZERS)
    t.add_argument("--temperature", type=float, default=0.5)
    t.add_argument("--learn-temperature", action="store_true", help="learn τ as a logit scale, as CLIP does")
    t.add_argument("--limit", type=int, default=0, help="train on a class-balanced subset of this many images")
    t.add_argument("--monitor-every", type=int, default=1)
    t.add_argument("--knn-k", type=int, default=20)
    t.add_argument("--device", default="auto")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--root", default=None, help="where real datasets live (default: the kit's data/ folder or $CLKIT_DATA)")
    t.add_argument("--download", action="store_true", help="download a real dataset if it is missing")
    t.add_argument("--out", required=True, help="folder for checkpoint.pt, history.json and summary.json")
    t.set_defaults(run=_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"clkit: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
