"""``clkit …`` commands, for runs outside the notebooks.

    clkit train --method simclr --dataset shapes --epochs 15 --out runs/simclr

builds the method from its recipe (:mod:`clkit.recipes`; any option given overrides the
recipe's setting), trains it with :func:`clkit.train.fit` (progress bar, a checkpoint and
``history.json`` in ``--out``, resumed when the folder already holds a run, started over with
``--restart``), then prints the kNN accuracy of the trained encoder beside two baselines: raw
pixels and the same encoder at random init.

    clkit train --method simclr --devices 2 --out runs/simclr2         # or, the same:
    torchrun --standalone --nproc-per-node 2 -m clkit train --method simclr --out runs/simclr2

trains on several processes (one per GPU, or CPU processes): ``--batch-size`` is the global batch,
split between them, and the losses gather their negatives from every process
(:mod:`clkit.train.distributed`). A run resumes with another number of processes.

    clkit sweep --param temperature --values 0.05,0.1,0.2,0.5,1.0 --out runs/temperature.json

trains one SimCLR model per value with :func:`clkit.sweep.sweep`, everything else fixed (the
sizes of ``--scale``, default ``$CLKIT_SCALE``, overridden by any option given), writes the
results as JSON and CSV after every value, and prints the table.

Bad input ends in one ``clkit: error: …`` line that says what was wrong and what to do, with exit
status 2 (1 when training itself failed, 130 when interrupted), never a traceback; warnings
print as ``clkit: warning: …``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from clkit import data, evaluate, methods, models, recipes, scale, train
from clkit.train import distributed
from clkit import sweep as sweep_lib


def knn_summary(
    trained: torch.nn.Module,
    random_init: torch.nn.Module,
    bank: data.ImageSet,
    queries: data.ImageSet,
    k: int = 20,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """kNN accuracy of a trained model's features against raw pixels and a random-init model.

    The random-init model's BatchNorm statistics are first estimated on ``bank`` (its weights
    stay random), so it is not judged through BatchNorm's arbitrary initial statistics.
    """
    evaluate.calibrate_batchnorm(random_init, bank.images)

    def knn(z_bank: torch.Tensor, z_queries: torch.Tensor) -> float:
        return evaluate.knn_accuracy(z_bank, bank.labels, z_queries, queries.labels, k=k)

    return {
        "trained": knn(evaluate.embed(trained, bank.images, device=device),
                       evaluate.embed(trained, queries.images, device=device)),
        "random_init": knn(evaluate.embed(random_init, bank.images, device=device),
                           evaluate.embed(random_init, queries.images, device=device)),
        "raw_pixels": knn(evaluate.raw_pixels(bank.images), evaluate.raw_pixels(queries.images)),
    }


#: How a run of ``clkit train`` is resumed and restarted, for the messages of :func:`clkit.train.fit`.
ADVICE = train.Advice(resume="run the same command again to resume", restart="pass --restart")


def _train(args: argparse.Namespace) -> int:
    if args.devices < 1:
        raise ValueError(f"--devices is the number of processes to train on, at least 1; got {args.devices}")
    if args.devices > 1 and not distributed.launched_by_torchrun():
        return _launch(args)
    device = train.resolve_device(args.device)  # bad input is refused before any data is loaded
    device = distributed.init_from_torchrun(device)  # under torchrun: this process's GPU, or the CPU
    try:
        return _train_here(args, device)
    finally:
        if distributed.launched_by_torchrun() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


class ProcessFailed(RuntimeError):
    """One of the processes ``--devices`` started ended in an error (each prints its own)."""


def _launch(args: argparse.Namespace) -> int:
    """``--devices N`` without torchrun: start N processes of this same command through torchrun."""
    from torch.distributed.run import main as torchrun

    if args.device != "cpu" and torch.cuda.is_available() and args.devices > torch.cuda.device_count():
        raise ValueError(f"--devices {args.devices} asks for one GPU per process, and this machine has "
                         f"{torch.cuda.device_count()}; use --devices {torch.cuda.device_count()} or --device cpu")
    _per_process_batch(_recipe(args).batch_size, args.devices)  # refused here, before any process starts
    try:
        torchrun(["--standalone", f"--nproc-per-node={args.devices}", "-m", "clkit", *args.argv])
    except Exception as error:  # torchrun's ChildFailedError: the processes printed their own errors above
        raise ProcessFailed(f"a training process failed ({type(error).__name__}); its error is printed above") from None
    return 0


def _recipe(args: argparse.Namespace) -> recipes.Recipe:
    given = {k: v for k, v in vars(args).items() if k in RECIPE_OPTIONS and v is not None}
    if args.limit:
        given["n_train"] = args.limit
    return recipes.recipe(args.method, args.dataset, args.scale, **given)


def _per_process_batch(batch_size: int, world: int) -> int:
    if batch_size % world:
        raise ValueError(f"the batch of {batch_size} images cannot be split evenly between {world} processes; "
                         f"give --batch-size a multiple of {world}")
    return batch_size // world


def _train_here(args: argparse.Namespace, device: torch.device) -> int:
    world = distributed.world_size()
    if args.devices > 1 and args.devices != world:
        raise ValueError(f"--devices {args.devices} disagrees with the {world} process(es) torchrun started; "
                         "leave --devices out under torchrun")
    r = _recipe(args)
    train.writable_folder(args.out)
    train_set = data.load(r.dataset, "train", root=args.root, download=args.download)
    test_set = data.load(r.dataset, "test", root=args.root, download=args.download)
    if r.n_train and r.n_train < len(train_set):
        train_set = train_set.take(r.n_train, seed=args.seed)

    train.seed_everything(args.seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    train.seed_everything(args.seed + 1)
    random_init = recipes.build(r, train_set.shape, len(train_set.classes))
    settings = r.fit_settings()
    settings["batch_size"] = _per_process_batch(settings["batch_size"], world)  # fit's batch is per process
    history = train.fit(
        method, train_set, **settings, device=device, seed=args.seed, monitor=(train_set, test_set),
        monitor_every=args.monitor_every, knn_k=args.knn_k, out=args.out, resume=not args.restart, advice=ADVICE,
        gather=not args.no_gather, local_logits=args.local_logits, amp=_switch(args.precision, "bf16"),
        compile=COMPILE_CHOICES[args.compile],
    )
    if history.interrupted:
        return 130
    if not distributed.is_main():
        return 0  # rank 0 measures and reports
    summary = knn_summary(method, random_init.to(device), train_set, test_set, k=args.knn_k, device=device)
    summary["images_per_s"] = sum(history["images_per_s"]) / max(1, len(history["images_per_s"]))
    Path(args.out, "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"kNN accuracy (k={args.knn_k}) on {r.dataset} test, {len(test_set)} images:")
    rows = {f"{r.method} encoder": summary["trained"], "random-init encoder": summary["random_init"],
            "raw pixels": summary["raw_pixels"]}
    for name, accuracy in rows.items():
        print(f"  {name:<20} {accuracy:.3f}")
    print(f"training throughput: {summary['images_per_s']:.0f} images/s; checkpoint and history in {args.out} "
          f"(clkit.load({str(args.out)!r}) returns the trained model)")
    return 0


#: ``clkit train --compile``'s choices, as ``fit(compile=...)`` takes them.
COMPILE_CHOICES = {"auto": None, "on": True, "off": False, "graphs": "reduce-overhead"}


def _switch(choice: str, on: str) -> bool | None:
    """``auto`` leaves the setting to ``fit`` (None); otherwise whether ``choice`` is ``on``."""
    return None if choice == "auto" else choice == on


def _values(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--values must be numbers separated by commas, e.g. 0.1,0.5; got {text!r}")


def _sweep(args: argparse.Namespace) -> int:
    settings = sweep_lib.preset(args.scale)
    names = {f.name for f in dataclasses.fields(sweep_lib.SweepSettings)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.param in given:
        raise ValueError(f"--{args.param.replace('_', '-')} is the swept setting: give its values with --values")
    settings.update(given)
    settings.pop(args.param, None)
    results = sweep_lib.sweep(
        args.param, args.values, out=args.out, resume=not args.restart, device=args.device,
        checkpoints=args.checkpoints, command="clkit " + shlex.join(args.argv),
        scale_name=args.scale or scale.current(), **settings,
    )
    print(sweep_lib.format_table(results))
    print(f"{len(results['runs'])} of {len(results['values'])} values done in {results['wall_s'] / 60:.1f} min of "
          f"training on {results['environment']['device_name']}; results in {args.out} and "
          f"{Path(args.out).with_suffix('.csv')}")
    return 0 if results["complete"] else 130


#: ``clkit train`` options that override a recipe setting of the same name.
RECIPE_OPTIONS = ("encoder", "epochs", "batch_size", "lr", "optimizer", "temperature", "learn_temperature")


def _method_name(text: str) -> str:
    if text not in methods.METHODS:
        raise argparse.ArgumentTypeError(f"unknown method {text!r}; valid methods are {', '.join(methods.METHODS)}")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clkit", description="The contrastive learning kit.")
    commands = p.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a method and compare it with raw pixels and random init",
                            description="Settings not given come from the method's recipe for the dataset and "
                                        "scale (clkit.recipes).")
    t.add_argument("--method", default="simclr", type=_method_name, metavar="NAME",
                   help=f"one of {', '.join(methods.METHODS)}")
    t.add_argument("--dataset", default="shapes", choices=data.DATASETS)
    t.add_argument("--scale", default=None, choices=scale.SCALES,
                   help="recipe sizes (default: $CLKIT_SCALE, else laptop on a CPU, full on a GPU)")
    t.add_argument("--encoder", choices=sorted(models.ENCODERS))
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--optimizer", choices=train.OPTIMIZERS)
    t.add_argument("--temperature", type=float)
    t.add_argument("--learn-temperature", action="store_true", default=None, help="learn τ as a logit scale, as CLIP does")
    t.add_argument("--limit", type=int, default=0, help="train on a class-balanced subset of this many images")
    t.add_argument("--monitor-every", type=int, default=1)
    t.add_argument("--knn-k", type=int, default=20)
    t.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:N or mps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--devices", type=int, default=1,
                   help="processes to train on, one per GPU (or CPU processes with --device cpu), through torchrun")
    t.add_argument("--no-gather", action="store_true",
                   help="with several processes, each contrasts against its own batch only (no gathered negatives)")
    t.add_argument("--local-logits", action="store_true",
                   help="with several processes, each computes its own anchors' logits only (same gradients)")
    t.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 autocast on a GPU, float32 on a CPU; bf16 on a CPU with bf16 instructions "
                        "(AVX512-BF16, AMX) trains about twice as fast (bench/bf16_cpu_accuracy.py)")
    t.add_argument("--compile", default="auto", choices=tuple(COMPILE_CHOICES),
                   help="compile the networks with torch.compile (auto: on a GPU only; graphs: compiled and, on a "
                        "GPU, run as CUDA graphs)")
    t.add_argument("--root", default=None, help="where real datasets live (default: the kit's data/ folder or $CLKIT_DATA)")
    t.add_argument("--download", action="store_true", help="download a real dataset if it is missing")
    t.add_argument("--out", required=True, help="folder for checkpoint.pt, history.json and summary.json")
    t.add_argument("--restart", action="store_true",
                   help="start over in --out, ignoring (and then replacing) a run already there")
    t.set_defaults(run=_train)

    s = commands.add_parser("sweep", help="train one model per value of a setting and record what each learned")
    s.add_argument("--param", required=True, choices=sweep_lib.SWEEPABLE, help="the setting to vary")
    s.add_argument("--values", required=True, type=_values, help="comma-separated values, e.g. 0.05,0.1,0.2")
    s.add_argument("--scale", default=None, choices=scale.SCALES,
                   help="sizes to start from (default: $CLKIT_SCALE, else laptop on a CPU, full on a GPU)")
    s.add_argument("--dataset", choices=data.DATASETS)
    s.add_argument("--encoder", choices=sorted(models.ENCODERS))
    s.add_argument("--n-train", type=int, help="training images (class-balanced subset; 0: all)")
    s.add_argument("--n-test", type=int, help="test images (0: all)")
    s.add_argument("--epochs", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--optimizer", choices=train.OPTIMIZERS)
    s.add_argument("--weight-decay", type=float)
    s.add_argument("--crop-min", type=float, help="smallest random crop, a fraction of the image (SimCLR: 0.08)")
    s.add_argument("--temperature", type=float, help="τ, when another setting is swept")
    s.add_argument("--learn-temperature", action="store_true", default=None,
                   help="learn τ as a logit scale (CLIP), starting from the swept or given τ")
    s.add_argument("--projection-dim", type=int)
    s.add_argument("--knn-k", type=int)
    s.add_argument("--monitor-every", type=int)
    s.add_argument("--heldout-images", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:N or mps")
    s.add_argument("--checkpoints", default=None, help="folder for each value's checkpoint (resume mid-run)")
    s.add_argument("--restart", action="store_true", help="start over instead of skipping values already in --out")
    s.add_argument("--out", required=True, help="JSON file for the results (a CSV table is written beside it)")
    s.set_defaults(run=_sweep)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except (ValueError, FileNotFoundError) as error:
            return _fail(error, 2)
        except (FloatingPointError, ProcessFailed) as error:  # the loss turned NaN/Inf; a training process failed
            return _fail(error, 1)
        except KeyboardInterrupt:  # outside training (fit handles its own, and says how to resume)
            return _fail("interrupted", 130)


def _fail(error: Exception | str, status: int) -> int:
    print(f"clkit: error: {error}", file=sys.stderr)
    return status


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``clkit: warning: …`` line, without the source location a Python user would want."""
    print(f"clkit: warning: {message}", file=sys.stderr if file is None else file)


if __name__ == "__main__":
    sys.exit(main())
