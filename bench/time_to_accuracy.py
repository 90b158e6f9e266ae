"""Time to accuracy: SimCLR ResNet-18 on CIFAR-10 (the kit's cifar10 recipe), kNN accuracy against wall time.

    python bench/time_to_accuracy.py                    # the recipe's 200 epochs (a GPU)
    python bench/time_to_accuracy.py --epochs 15        # a short run: the cosine schedule fits 15 epochs
    python bench/time_to_accuracy.py --root /data       # where CIFAR-10 lives in torchvision's layout
    python bench/time_to_accuracy.py --monitor-every 10 # the race's clock counts the monitor's time too

Every setting comes from ``clkit.recipes.recipe("simclr", "cifar10", "full")`` (any option given overrides it).
After each epoch it prints the epoch, the wall time since the start (training, monitoring and all), the training
images/s and the kNN accuracy of the test images against the training images (the kit's kNN monitor, k = 20 on
backbone features); at the end, when each of ``--targets`` (the race's 85% and 90%) was first reached, and the
race at this run's pace: how many epochs fit in 4 and 10 minutes, beside the epochs the published recipe needed.
When the CIFAR-10 files are absent it trains on a stand-in of the same size (50,000 + 10,000 procedural ``shapes``
images of 32 × 32, 10 classes) and says so in its first line: the timing is then CIFAR-10's, the accuracy is not.

    python bench/time_to_accuracy.py --pace bench/results/gpu_h100/run4_time_to_accuracy.json   # a stored run's pace
    python bench/time_to_accuracy.py --root /data --minutes 4 --pace RUN.json   # the schedule that fits 4 minutes
    python bench/time_to_accuracy.py --root /data --epochs 5 --json pace.json   # on another GPU: its own pace first
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from clkit import cli, data, recipes, train

CIFAR_SIZES = {"train": 50_000, "test": 10_000}
TARGETS = (0.85, 0.90)  # the race's marks: 85% kNN in 4 minutes, 90% in 10 (a tenth of the published wall times)
BUDGETS_S = (240.0, 600.0)
# The published ResNet-18 SimCLR on CIFAR-10 with SGD at batch 512 ([Kobak], its README's tables, 3 runs each):
# kNN (k = 10, cosine, unweighted; the kit's monitor weighs k = 20) after a run of so many epochs, and its wall time
# on an A100 with 16 DataLoader workers. The 100-epoch run took base learning rate 0.06 (as the kit's recipe does).
PUBLISHED = ((100, 0.832, "20 min"), (500, 0.903, "1 h 39 min"))


def pace(records: list[dict]) -> dict | None:
    """A run's pace, from its per-epoch records: the first epoch's wall time (compiling, and its kNN if measured),
    the median training seconds of a later epoch, and the median time of a later kNN measurement (0.0 when none was
    taken after the first epoch). None for a run of one epoch."""
    if len(records) < 2:
        return None
    monitors = [b["wall_s"] - a["wall_s"] - b["seconds"] for a, b in zip(records, records[1:]) if "knn" in b]
    return {"first_epoch_s": records[0]["wall_s"], "epoch_s": statistics.median(r["seconds"] for r in records[1:]),
            "monitor_s": statistics.median(monitors) if monitors else 0.0,
            "images": round(records[-1]["images_per_s"] * records[-1]["seconds"])}


def wall_s_for(run_pace: dict, epochs: int) -> float:
    """The wall time of ``epochs`` at ``run_pace`` with one kNN measurement, at the end."""
    return run_pace["first_epoch_s"] + (epochs - 1) * run_pace["epoch_s"] + run_pace["monitor_s"]


def epochs_within(run_pace: dict, budget_s: float) -> int:
    """How many epochs fit in ``budget_s`` at ``run_pace``: the largest E with ``wall_s_for(E) ≤ budget`` (0 when not
    even the first fits)."""
    spare = budget_s - wall_s_for(run_pace, 1)
    return 0 if spare < 0 else 1 + int(spare // run_pace["epoch_s"])


def epoch_s_needed(run_pace: dict, epochs: int, budget_s: float) -> float:
    """The training seconds an epoch may take for ``epochs`` to fit in ``budget_s`` (same first epoch and
    measurement as ``run_pace``); not positive when the first epoch and the measurement alone overrun it."""
    return (budget_s - wall_s_for(run_pace, 1)) / max(1, epochs - 1)


def print_race(run_pace: dict | None) -> None:
    """The race at a run's pace: epochs within each budget; the published recipe's runs at this pace, and the epoch
    time the longer one would need to fit in the last budget."""
    if run_pace is None:
        print("the race at this pace: needs a run of at least 2 epochs")
        return
    print(f"pace: first epoch {run_pace['first_epoch_s']:.1f} s (compiling and all), then {run_pace['epoch_s']:.2f} s "
          f"of training an epoch ({run_pace['images'] / run_pace['epoch_s']:,.0f} images/s) and "
          f"{run_pace['monitor_s']:.2f} s a kNN measurement")
    print("at this pace, with one kNN measurement at the end: "
          + ", ".join(f"{epochs_within(run_pace, b):,} epochs in {b / 60:g} min" for b in BUDGETS_S))
    budget = BUDGETS_S[-1]
    for epochs, knn, wall in PUBLISHED:
        line = (f"published (SGD, batch 512, kNN k = 10): {knn:.1%} after {epochs} epochs, {wall} on an A100; "
                f"at this pace {wall_s_for(run_pace, epochs) / 60:.1f} min")
        if wall_s_for(run_pace, epochs) > budget:
            needed = epoch_s_needed(run_pace, epochs, budget)
            line += (f"; in {budget / 60:g} min only at ≤ {needed:.2f} s an epoch "
                     f"({run_pace['images'] / needed:,.0f} images/s)" if needed > 0 else
                     f"; the first epoch and the measurement alone overrun {budget / 60:g} min")
        print(line)


def time_to_targets(records: list[dict], targets: tuple[float, ...] = TARGETS) -> dict[str, dict | None]:
    """For each kNN target, the first measured epoch that reached it and its wall time (None: not reached)."""
    reached: dict[str, dict | None] = {}
    for target in targets:
        first = next((r for r in records if r.get("knn", -1.0) >= target), None)
        reached[f"{target:.2f}"] = None if first is None else {"epoch": first["epoch"], "wall_s": first["wall_s"]}
    return reached


def cifar10_or_stand_in(root: str | None, n_train: int = 0) -> tuple[data.ImageSet, data.ImageSet, str]:
    """CIFAR-10's train and test splits, or a procedural stand-in of the same size, and a line saying which."""
    if data.available("cifar10", root):
        train_set, test_set = data.load("cifar10", "train", root), data.load("cifar10", "test", root)
        line = f"data: CIFAR-10 from {root or data.default_root()} ({len(train_set)} + {len(test_set)} images)"
    else:
        n = {"train": n_train or CIFAR_SIZES["train"], "test": CIFAR_SIZES["test"] if not n_train else
             max(1, n_train // 5)}
        line = (f"data: STAND-IN - the CIFAR-10 files are not under {root or data.default_root()}, so this run trains "
                f"on {n['train']} + {n['test']} procedural shapes images (32x32, 10 classes)"
                + ("" if n_train else ", CIFAR-10's size: its timing is CIFAR-10's, its accuracy is not"))
        # rendering takes a while on a CPU (about 1.5 ms per image on one core); it is not counted in the wall time
        train_set = data.make_shapes(n["train"], seed=0)
        test_set = data.make_shapes(n["test"], seed=1_000_003)
    if n_train and n_train < len(train_set):
        train_set = train_set.take(n_train, seed=0)
    return train_set, test_set, line


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="folder holding cifar-10-batches-py (default: the kit's data folder)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-train", type=int, default=0, help="train on this many images (0: all); for a quick look")
    p.add_argument("--encoder", help="override the recipe's resnet18 (e.g. small_cnn for a CPU smoke run)")
    p.add_argument("--monitor-every", type=int,
                   help="measure kNN every this many epochs (and after the last); its time counts in the wall time "
                        "(default: every epoch; with --minutes, after the last only)")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="cuDNN's benchmark mode on (a GPU: each convolution shape picks its fastest algorithm)")
    p.add_argument("--compile", default="auto", choices=tuple(cli.COMPILE_CHOICES),
                   help="as clkit train's: auto (compiled on a GPU), on, off, graphs (compiled, run as CUDA graphs)")
    p.add_argument("--targets", type=float, nargs="+", default=list(TARGETS),
                   help="kNN accuracies whose first wall time to report (default: 0.85 0.90)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the per-epoch records to this JSON file (after every epoch)")
    p.add_argument("--pace", metavar="JSON", help="print the race at the pace of a run this script stored with "
                                                  "--json, and train nothing (unless --minutes is given)")
    p.add_argument("--minutes", type=float, help="with --pace: train the schedule (number of epochs) that fits this "
                   "many minutes at that pace, its kNN measured only after the last epoch (unless --monitor-every)")
    args = p.parse_args(argv)
    if args.minutes is not None and not args.pace:
        p.error("--minutes sizes the schedule from a stored run's pace: give that run's JSON with --pace")
    if args.minutes is not None and args.epochs is not None:
        p.error("--minutes sets the number of epochs (what fits at the pace): give --minutes or --epochs, not both")
    if args.pace:
        with open(args.pace) as f:
            stored = pace(json.load(f)["epochs"])
        print_race(stored)
        if args.minutes is None:
            return []
        args.epochs = epochs_within(stored, args.minutes * 60) if stored else 0
        if args.epochs < 1:
            p.error(f"not one epoch fits in {args.minutes:g} min at the pace of {args.pace}")
        args.monitor_every = args.monitor_every or args.epochs
        print(f"the race for {args.minutes:g} min: {args.epochs} epochs, what fits at the pace of {args.pace}")

    args.monitor_every = args.monitor_every or 1
    train_set, test_set, line = cifar10_or_stand_in(args.root, args.n_train)
    print(line, flush=True)
    given = {k: v for k, v in vars(args).items() if k in cli.RECIPE_OPTIONS and v is not None}
    r = recipes.recipe("simclr", "cifar10", "full", **given)
    device = train.resolve_device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark or torch.backends.cudnn.benchmark
    train.seed_everything(0)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    print(f"SimCLR {r.encoder}, batch {r.batch_size}, {r.optimizer} lr {r.lr}, τ {r.temperature}, {r.epochs} epochs, "
          f"crop {r.crop_min}-1, compile {args.compile}, cuDNN benchmark {torch.backends.cudnn.benchmark}, "
          f"device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""), flush=True)
    print(f"{'epoch':>5} {'wall s':>8} {'images/s':>9} {'loss':>7} {'kNN':>6}", flush=True)
    started = time.perf_counter()
    records: list[dict] = []

    def save() -> None:  # after every epoch too: a run cut short keeps what it measured
        if args.json:
            train.atomic_write_text(args.json, json.dumps(
                {"data": line, "recipe": r.fit_settings(), "epochs": records,
                 "reached": time_to_targets(records, tuple(args.targets)), "pace": pace(records)}, indent=1))

    def report(record: dict) -> None:
        record = {**record, "wall_s": time.perf_counter() - started}
        records.append(record)
        print(f"{record['epoch']:>5} {record['wall_s']:>8.1f} {record['images_per_s']:>9,.0f} {record['loss']:>7.3f} "
              f"{record.get('knn', float('nan')):>6.3f}", flush=True)
        save()

    history = train.fit(method, train_set, **r.fit_settings(), device=device, monitor=(train_set, test_set),
                        monitor_every=args.monitor_every, progress=False, callbacks=[report],
                        compile=cli.COMPILE_CHOICES[args.compile])
    if history.epochs and "knn" in history.epochs[0]:
        print(f"kNN at initialisation: {history.epochs[0]['knn']:.3f}")
    measured = [r["knn"] for r in records if "knn" in r]
    reached = time_to_targets(records, tuple(args.targets))
    for target, first in reached.items():
        print(f"kNN ≥ {float(target):.0%}: " + (f"epoch {first['epoch']}, {first['wall_s']:.1f} s "
                                                f"({first['wall_s'] / 60:.1f} min)" if first else
                                                f"not reached (best {max(measured, default=float('nan')):.3f})"))
    print_race(pace(records))
    return records


if __name__ == "__main__":
    main()
