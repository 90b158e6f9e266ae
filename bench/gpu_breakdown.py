"""Where one training step of the kit's SimCLR ResNet-18 spends its time on a GPU, and what the device can do.

    python bench/gpu_breakdown.py --json breakdown.json --trace kernels.txt

The bench of the four pipelines (``bench_pipelines.py``) says how fast the kit trains; this says why, in one
process on one device, with the cifar10 recipe's model, augmentation and optimiser (batch ``--batch``):

- ``matmul``: an 8192 × 8192 × 8192 bf16 matrix product on random data, the device's measured dense peak
  (the datasheet peak of ``bench_pipelines.BF16_PEAKS`` is the MFU's denominator; this is the reachable one);
- ``augment``: the kit's two views of a batch alone (``method.views``, resident uint8 images in; compiled on a
  GPU, as ``fit`` runs them);
- ``network``: the training step on two fixed, already-augmented views (compiled networks, bf16, NT-Xent,
  fused SGD): the ceiling the augmentation leaves;
- ``step``: the whole step as ``fit`` takes it (views drawn every step);
- with ``--variants``: the network's step on fixed views under other settings (:data:`VARIANTS`), each built and
  compiled anew: what a change to ``fit``'s GPU settings would buy before it is made.

Each row: ms per step (the mean over a window of ``--steps`` steps timed with CUDA events, after ``--warmup``),
images/s, and MFU over the datasheet peak and over the measured one. ``--trace`` writes the top kernels of a few whole steps
(torch.profiler, device time) to a file. On a CPU it runs too, at whatever size is given (for testing the script).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from clkit import recipes, train
from clkit.augment import dense as augment_dense
from clkit.train.compiling import compile_networks, eager, uses_cuda_graphs
from clkit.train.loop import _Step
from clkit.train.optim import make_optimizer

from bench_pipelines import bench_images, bf16_peak, flop_per_image


def per_step_ms(fn: Callable[[], object], steps: int, warmup: int, device: torch.device) -> float:
    """The mean ms of one call of ``fn`` over a window of ``steps`` calls after ``warmup``, with one wait for
    the device at the window's end (CUDA events on a GPU), as ``fit`` runs its steps: the host queues the next
    step's work while the device runs the last one. (Runs 1-3 in bench/results/gpu_h100 took the median of calls
    each waited for; their whole-step rows came out several times slower than ``fit``'s step, unexplained.)"""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / steps
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1e3 * (time.perf_counter() - started) / steps


def matmul_tflops(device: torch.device, n: int = 8192, repeats: int = 10) -> float | None:
    """Measured bf16 dense matrix-product rate in TFLOP/s (None on a CPU)."""
    if device.type != "cuda":
        return None
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    ms = per_step_ms(lambda: a @ b, repeats, 3, device)
    return 2 * n**3 / (ms * 1e-3) / 1e12


#: Settings of the network's step to compare (``--variants``), each on fixed views: fit's (``default``), cuDNN
#: trying its algorithms for each convolution shape first, inductor's autotuned kernels, CUDA graphs, inductor
#: tuning the launch settings of its own kernels (the batch norms' reductions and the fused pointwise ops) by
#: coordinate descent, and that with cuDNN's benchmark mode.
VARIANTS = {
    "default": dict(mode=None, cudnn_benchmark=False),
    "cudnn_benchmark": dict(mode=None, cudnn_benchmark=True),
    "max_autotune": dict(mode="max-autotune-no-cudagraphs", cudnn_benchmark=False),
    "cudagraphs": dict(mode="reduce-overhead", cudnn_benchmark=False),
    "coordinate_descent": dict(mode=None, cudnn_benchmark=False, inductor={"coordinate_descent_tuning": True}),
    "cudnn_benchmark_coordinate_descent": dict(mode=None, cudnn_benchmark=True,
                                               inductor={"coordinate_descent_tuning": True}),
}


def build(r: recipes.Recipe, images, device: torch.device, mode: str | None = None):
    """The recipe's method as ``fit`` sets it up (channels_last, compiled on a GPU with ``mode``, the fused
    optimiser) and its training step."""
    cuda = device.type == "cuda"
    train.seed_everything(0)
    method = recipes.build(r, images.shape, len(images.classes)).to(device)
    method.to(memory_format=torch.channels_last)
    if cuda:
        compile_networks(method, mode=mode or "default")
    opt = make_optimizer(method, r.optimizer, r.lr, r.weight_decay, fused=cuda)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return method, _Step(method, method, opt, schedule, cuda, device, total_steps=10**9,
                         graphs=uses_cuda_graphs(mode, device))


def network_variant(name: str, r: recipes.Recipe, images, views: list, args, device: torch.device) -> float:
    """ms of the network's training step on the fixed ``views`` under :data:`VARIANTS` ``name``."""
    from torch._inductor import config as inductor_config

    setting = VARIANTS[name]
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = setting["cudnn_benchmark"]
    try:
        with inductor_config.patch(setting.get("inductor", {})):  # compiling happens at the first calls, inside
            method, step = build(r, images, device, setting["mode"])
            method.views = lambda _batch: views
            return per_step_ms(lambda: step(images[: args.batch]), args.steps, args.warmup, device)
    finally:
        torch.backends.cudnn.benchmark = before


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10, help="untimed calls first (the first compiles)")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--device", default="auto")
    p.add_argument("--json")
    p.add_argument("--trace", help="write the top kernels of 5 whole steps here")
    p.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS),
                   help="also time the network's step (fixed views) under these settings; each compiles anew")
    args = p.parse_args(argv)

    device = train.resolve_device(args.device)
    cuda = device.type == "cuda"
    r = recipes.recipe("simclr", "cifar10", "full", encoder=args.model)
    images = bench_images("shapes", 4 * args.batch).to(device)
    method, step = build(r, images, device)
    with eager():  # counted uncompiled: a compiled call at 4 images would recompile the networks for a symbolic batch
        flop = flop_per_image(torch.nn.Sequential(method.backbone, method.head), images.shape, device, cuda)
    g = torch.Generator(device=device).manual_seed(0)

    def batch():
        return images[torch.randint(len(images), (args.batch,), device=device, generator=g)]

    name, datasheet = bf16_peak(device)
    measured = matmul_tflops(device)
    rows = {}
    started = time.perf_counter()
    with augment_dense.compiled(cuda):  # as fit draws the views on a GPU
        rows["augment"] = per_step_ms(lambda: method.views(batch()), args.steps, args.warmup, device)
        rows["step"] = per_step_ms(lambda: step(batch()), args.steps, args.warmup, device)
    fixed = method.views(batch())
    method.views = lambda _batch: fixed  # the same two views every step: the network's part alone
    rows["network"] = per_step_ms(lambda: step(batch()), args.steps, args.warmup, device)
    del method.views
    seconds = time.perf_counter() - started

    print(f"{name}, torch {torch.__version__}, SimCLR {r.encoder} + head, batch {args.batch}, bf16 {cuda}, "
          f"compiled {cuda}, {flop / 1e9:.3f} GFLOP per image per step; mean over {args.steps} steps")
    print(f"matmul 8192^3 bf16: {measured:.0f} TFLOP/s measured, {datasheet / 1e12:.0f} datasheet" if measured
          else "matmul: - (no GPU)")
    print(f"{'part':<9} {'ms/step':>8} {'images/s':>10} {'MFU sheet':>10} {'MFU meas.':>10}")
    result = {"device": name, "torch": torch.__version__, "batch": args.batch, "flop_per_image": flop,
              "matmul_tflops": measured, "datasheet_tflops": datasheet and datasheet / 1e12, "rows": {},
              "seconds": seconds}
    for part in ("augment", "network", "step"):
        ms = rows[part]
        per_s = args.batch / (ms * 1e-3)
        sheet = per_s * flop / datasheet if datasheet and part != "augment" else None
        meas = per_s * flop / (measured * 1e12) if measured and part != "augment" else None
        result["rows"][part] = {"ms": ms, "images_per_s": per_s, "mfu_datasheet": sheet, "mfu_measured": meas}
        print(f"{part:<9} {ms:>8.2f} {per_s:>10,.0f} "
              f"{'-' if sheet is None else f'{100 * sheet:.1f}%':>10} {'-' if meas is None else f'{100 * meas:.1f}%':>10}")
    print(f"augmentation share of a step: {rows['augment'] / rows['step']:.0%}; "
          f"step minus its parts: {rows['step'] - rows['network'] - rows['augment']:+.2f} ms")

    def save() -> None:  # the parts first, then after each variant: a run stopped by a time limit keeps them
        if args.json:
            train.atomic_write_text(args.json, json.dumps(result, indent=1))

    save()
    if args.trace:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof, augment_dense.compiled(cuda):
            for _ in range(5):
                step(batch())
            if cuda:
                torch.cuda.synchronize(device)
        averages = prof.key_averages()
        with open(args.trace, "w") as f:
            for key in (["self_cuda_time_total"] if cuda else []) + ["self_cpu_time_total"]:
                f.write(f"5 whole steps, by {key}\n")
                f.write(averages.table(sort_by=key, row_limit=30, max_name_column_width=70) + "\n\n")
    if args.variants:
        print(f"the network's step on fixed views, by setting (batch {args.batch}):")
        result["variants"] = {}
    for variant in args.variants:
        try:
            ms = network_variant(variant, r, images, fixed, args, device)
        except Exception as error:  # a setting this torch or device cannot run: say so, go on with the next
            result["variants"][variant] = {"error": f"{type(error).__name__}: {error}"[:300]}
            print(f"  {variant:<16} failed: {result['variants'][variant]['error']}", flush=True)
            save()
            continue
        per_s = args.batch / (ms * 1e-3)
        sheet = per_s * flop / datasheet if datasheet else None
        result["variants"][variant] = {"ms": ms, "images_per_s": per_s, "mfu_datasheet": sheet}
        print(f"  {variant:<16} {ms:>8.2f} ms {per_s:>10,.0f} images/s "
              f"{'' if sheet is None else f'MFU {100 * sheet:.1f}%'}", flush=True)
        save()
    return result


if __name__ == "__main__":
    main()
