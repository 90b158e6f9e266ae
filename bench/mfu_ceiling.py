"""How high the MFU of the kit's GPU step can go: the network's arithmetic and memory traffic, and a measured run.

    python bench/mfu_ceiling.py                    # ResNet-18 (CIFAR stem) + SimCLR head, the H100 runs' files
    python bench/mfu_ceiling.py --trace kernels.txt --breakdown gpu_breakdown.json --pipelines pipelines.json
                                                   # a new run's files (bench/gpu_check.sh runs it so)

A training step of a convolutional network is two kinds of work. The convolutions (and the head's linear layers)
carry nearly every FLOP that MFU counts and run at some rate R. Around them, BatchNorm in training mode, ReLU and
the residual adds do almost no arithmetic but move every activation through memory, at best at the bandwidth B.
With the convolutions as separate kernels (cuDNN's), a BatchNorm'd activation of E bf16 elements must at least be

- forward: read once for the batch statistics, read again and written once normalised (ReLU fused): 3 passes;
- backward: the output gradient and the input read for the statistics' gradients, both read again and the input
  gradient written (ReLU's mask fused): 5 passes;

and a residual add reads its shortcut once forward and once backward (the gradients of the two paths meet):
2 passes. So the step takes at least ``FLOP / R + bytes / B``, and MFU is at most ``FLOP / step / peak``. An
activation smaller than the L2 cache could in principle make its repeat passes there: a second, lower floor counts
only the activations larger than the cache. Neither holds for kernels that fold the normalisation into the
convolutions (cuDNN's fused graphs, which PyTorch's training path does not use): the bound is for the network as
PyTorch trains it.

The script counts the network's BatchNorm'd and added elements (forward hooks on the CPU), takes R from a kernel
trace of ``bench/gpu_breakdown.py --trace`` (cuDNN's convolution time over the trace's steps), the measured bf16
matrix-product rate and the datasheet peak from its JSON, and the kit's measured images/s from
``bench/bench_pipelines.py``'s JSON, and prints the ceiling beside the measured step; then what the convolutions
would need for a given MFU target with the element-wise work at its floor. Both sides are optimistic: the floor
leaves out the augmentation, the loss and the optimiser, and no kernel streams at the datasheet bandwidth.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from torch import nn

from clkit import recipes

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_h100"
#: Datasheet memory bandwidths in TB/s by a substring of the device's name, the more specific names first.
BANDWIDTH_TBPS: tuple[tuple[str, float], ...] = (("H100 PCIe", 2.0), ("H100 NVL", 3.9), ("H100", 3.35), ("H200", 4.8))
BN_PASSES, ADD_PASSES, BYTES_PER_ELEMENT = 8, 2, 2  # see the module's docstring; bf16 activations


def elementwise_sizes(network: nn.Module, shape: tuple[int, int, int]) -> dict[str, list[int]]:
    """Per view, the elements of each BatchNorm's output (``"bn"``) and of each residual add (``"add"``, counted at
    the output of a torchvision ``BasicBlock`` or ``Bottleneck``) in one forward pass, in the order they run."""
    sizes: dict[str, list[int]] = {"bn": [], "add": []}
    hooks = []
    for module in network.modules():
        kind = ("bn" if isinstance(module, nn.modules.batchnorm._BatchNorm)
                else "add" if type(module).__name__ in ("BasicBlock", "Bottleneck") else None)
        if kind:
            hooks.append(module.register_forward_hook(
                lambda m, args, out, kind=kind: sizes[kind].append(out[0].numel())))
    was_training = network.training
    network.train()
    try:
        with torch.no_grad():
            network(torch.rand(2, *shape))  # two views: BatchNorm in training mode needs more than one
    finally:
        network.train(was_training)
        for hook in hooks:
            hook.remove()
    return sizes


def least_traffic(sizes: dict[str, list[int]], views: int, above_bytes: float = 0.0) -> float:
    """Bytes the element-wise work must move through device memory in one step of ``views`` views (see the
    module's docstring), counting only the activations larger than ``above_bytes`` (an L2 cache's size: a smaller
    one could in principle stay in the cache between its passes)."""
    total = 0.0
    for kind, passes in (("bn", BN_PASSES), ("add", ADD_PASSES)):
        for elements in sizes[kind]:
            size = views * elements * BYTES_PER_ELEMENT
            if size > above_bytes:
                total += passes * size
    return total


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def trace_times(path: Path) -> tuple[float, float]:
    """(convolution ms, GPU-busy ms) per step from a ``gpu_breakdown.py --trace`` table: the self CUDA time of
    ``aten::cudnn_convolution`` and ``aten::convolution_backward``, and the table's total, over its steps.
    A convolution's kernels are listed under their own names too; the operator's row holds all of their time."""
    text = path.read_text().split(" whole steps, by ")
    steps, text = int(text[0]), text[1]  # the first table (by self CUDA time); a CPU-time table may follow
    conv = 0.0
    for line in text.splitlines():
        name = line.strip().split("  ")[0]
        if name in ("aten::cudnn_convolution", "aten::convolution_backward"):
            conv += _ms(line.split()[6])  # the Self CUDA column
    busy = _ms(re.search(r"Self CUDA time total: (\S+)", text).group(1))
    return conv / steps, busy / steps


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trace", type=Path, default=RESULTS / "run3_kernels.txt")
    p.add_argument("--breakdown", type=Path, default=RESULTS / "run3_gpu_breakdown.json")
    p.add_argument("--pipelines", type=Path, default=RESULTS / "run4_pipelines_resnet18_b512.json")
    p.add_argument("--bandwidth", type=float, help="memory bandwidth, TB/s (default: the datasheet's for the "
                   "breakdown's device, where known)")
    p.add_argument("--l2-mb", type=float, default=50.0, help="the L2 cache, MiB (an H100's and H200's: 50)")
    p.add_argument("--target", type=float, default=0.35, help="the MFU to say the convolutions' need for")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)

    breakdown = json.loads(args.breakdown.read_text())
    if not breakdown.get("datasheet_tflops"):
        p.error(f"{args.breakdown} has no bf16 peak for its device ({breakdown.get('device')!r}): MFU needs a GPU run")
    if args.bandwidth is None:
        known = [tbps for key, tbps in BANDWIDTH_TBPS if key in breakdown["device"]]
        if not known:
            p.error(f"no datasheet bandwidth for {breakdown['device']!r} (known: "
                    f"{', '.join(key for key, _ in BANDWIDTH_TBPS)}); give --bandwidth in TB/s")
        args.bandwidth = known[0]
    measured = json.loads(args.pipelines.read_text())
    kit = next(row for row in measured["rows"] if row["pipeline"] == "kit")
    batch, peak = breakdown["batch"], breakdown["datasheet_tflops"] * 1e12
    flop = breakdown["flop_per_image"] * batch  # MFU's count: both views, forward × 3
    r = recipes.recipe("simclr", "cifar10", "full")
    method = recipes.build(r, (3, 32, 32), 10)
    sizes = elementwise_sizes(nn.Sequential(method.backbone, method.head), (3, 32, 32))
    floors = {"every activation": least_traffic(sizes, 2 * batch),
              f"those over {args.l2_mb:g} MB": least_traffic(sizes, 2 * batch, args.l2_mb * 2**20)}
    floor_ms = {name: traffic / (args.bandwidth * 1e12) * 1e3 for name, traffic in floors.items()}
    conv_ms, busy_ms = trace_times(args.trace)
    step_ms = batch / kit["images_per_s"] * 1e3
    rows = {}
    rates = {"as measured": flop / conv_ms * 1e3, "at the measured matmul rate": breakdown["matmul_tflops"] * 1e12,
             "at the datasheet peak": peak}
    for name, rate in rates.items():
        steps = {floor: flop / rate * 1e3 + ms for floor, ms in floor_ms.items()}
        rows[name] = {"conv_tflops": rate / 1e12, "step_ms": steps,
                      "mfu": {floor: flop / (ms * 1e-3) / peak for floor, ms in steps.items()}}
    needed_step = flop / (args.target * peak) * 1e3
    needed_rate = {floor: flop / ((needed_step - ms) * 1e-3) for floor, ms in floor_ms.items()}
    result = {
        "device": breakdown["device"], "batch": batch, "flop_per_step": flop, "sizes_per_view": sizes,
        "least_traffic_gb": {name: traffic / 1e9 for name, traffic in floors.items()},
        "bandwidth_tbps": args.bandwidth, "l2_mb": args.l2_mb, "memory_floor_ms": floor_ms,
        "trace_conv_ms": conv_ms, "trace_busy_ms": busy_ms, "measured_step_ms": step_ms,
        "measured_mfu": flop / (step_ms * 1e-3) / peak, "ceilings": rows, "target": args.target,
        "target_step_ms": needed_step, "target_conv_tflops": {k: v / 1e12 for k, v in needed_rate.items()},
    }
    print(f"{r.encoder} + SimCLR head, batch {batch} ({2 * batch} views), {breakdown['device']}: "
          f"{flop / 1e12:.2f} TFLOP a step (MFU's count), datasheet {peak / 1e12:.0f} TFLOP/s")
    print(f"element-wise work: {len(sizes['bn'])} BatchNorms over {sum(sizes['bn']):,} elements a view, "
          f"{len(sizes['add'])} residual adds over {sum(sizes['add']):,}; through memory at least")
    for name, traffic in floors.items():
        print(f"  {name + ':':<20} {traffic / 1e9:6.2f} GB a step, {floor_ms[name]:.2f} ms at {args.bandwidth} TB/s")
    print(f"kernel trace ({args.trace.name}): convolutions {conv_ms:.2f} ms a step, GPU busy {busy_ms:.2f} ms, "
          f"so {busy_ms - conv_ms:.2f} ms of other work")
    names = list(floors)
    print(f"{'convolutions':<28} {'TFLOP/s':>8}" + "".join(f" {'step ms':>8} {'MFU':>6}" for _ in names)
          + "   (element-wise floor: " + " | ".join(names) + ")")
    for name, row in rows.items():
        print(f"{name:<28} {row['conv_tflops']:>8.0f}"
              + "".join(f" {row['step_ms'][n]:>8.2f} {row['mfu'][n]:>6.1%}" for n in names))
    print(f"{'measured: fit, ' + args.pipelines.name:<37} {step_ms:>8.2f} {result['measured_mfu']:>6.1%}")
    print(f"{args.target:.0%} MFU needs a {needed_step:.2f} ms step: with the element-wise work at its floor, "
          f"convolutions at " + " | ".join(f"{needed_rate[n] / 1e12:.0f}" for n in names)
          + " TFLOP/s (" + " | ".join(f"{needed_rate[n] / peak:.0%}" for n in names)
          + f" of the datasheet peak; measured {rows['as measured']['conv_tflops']:.0f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
