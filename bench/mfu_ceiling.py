"""How high the MFU of the kit's GPU step can go, from the network's arithmetic, its memory traffic and a measured run.

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
2 passes. So the step takes at least ``FLOP / R + bytes / B``, and MFU is at most ``FLOP / step / peak``.

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


def elementwise_elements(network: nn.Module, shape: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Per view: (BatchNorm layers, their output elements, residual adds, the added elements) of one forward pass.

    A residual add is counted at the output of each torchvision ``BasicBlock`` or ``Bottleneck``."""
    counts = {"bn": [], "add": []}
    hooks = []
    for module in network.modules():
        kind = ("bn" if isinstance(module, nn.modules.batchnorm._BatchNorm)
                else "add" if type(module).__name__ in ("BasicBlock", "Bottleneck") else None)
        if kind:
            hooks.append(module.register_forward_hook(
                lambda m, args, out, kind=kind: counts[kind].append(out[0].numel())))
    was_training = network.training
    network.train()
    try:
        with torch.no_grad():
            network(torch.rand(2, *shape))  # two views: BatchNorm in training mode needs more than one
    finally:
        network.train(was_training)
        for hook in hooks:
            hook.remove()
    return len(counts["bn"]), sum(counts["bn"]), len(counts["add"]), sum(counts["add"])


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
    n_bn, bn_elements, n_add, add_elements = elementwise_elements(nn.Sequential(method.backbone, method.head),
                                                                  (3, 32, 32))
    traffic = 2 * batch * BYTES_PER_ELEMENT * (BN_PASSES * bn_elements + ADD_PASSES * add_elements)
    memory_ms = traffic / (args.bandwidth * 1e12) * 1e3
    conv_ms, busy_ms = trace_times(args.trace)
    step_ms = batch / kit["images_per_s"] * 1e3
    rows = {}
    for name, rate in (("convolutions as measured", flop / conv_ms * 1e3),
                       ("at the measured matmul rate", breakdown["matmul_tflops"] * 1e12),
                       ("at the datasheet peak", peak)):
        ms = flop / rate * 1e3 + memory_ms
        rows[name] = {"conv_tflops": rate / 1e12, "step_ms": ms, "mfu": flop / (ms * 1e-3) / peak}
    needed_step = flop / (args.target * peak) * 1e3
    needed_rate = flop / ((needed_step - memory_ms) * 1e-3)
    result = {
        "device": breakdown["device"], "batch": batch, "flop_per_step": flop, "bn_layers": n_bn,
        "bn_elements_per_view": bn_elements, "adds": n_add, "add_elements_per_view": add_elements,
        "least_traffic_gb": traffic / 1e9, "bandwidth_tbps": args.bandwidth, "memory_floor_ms": memory_ms,
        "trace_conv_ms": conv_ms, "trace_busy_ms": busy_ms, "measured_step_ms": step_ms,
        "measured_mfu": flop / (step_ms * 1e-3) / peak, "ceilings": rows, "target": args.target,
        "target_step_ms": needed_step, "target_conv_tflops": needed_rate / 1e12,
    }
    print(f"{r.encoder} + SimCLR head, batch {batch} ({2 * batch} views), {breakdown['device']}: "
          f"{flop / 1e12:.2f} TFLOP a step (MFU's count), datasheet {peak / 1e12:.0f} TFLOP/s")
    print(f"element-wise work: {n_bn} BatchNorms over {bn_elements:,} elements a view, {n_add} residual adds over "
          f"{add_elements:,}; at least {traffic / 1e9:.2f} GB a step, {memory_ms:.2f} ms at {args.bandwidth} TB/s")
    print(f"kernel trace ({args.trace.name}): convolutions {conv_ms:.2f} ms a step, GPU busy {busy_ms:.2f} ms, "
          f"so {busy_ms - conv_ms:.2f} ms of other work against the {memory_ms:.2f} ms floor")
    print(f"{'convolutions':<30} {'TFLOP/s':>8} {'step ms':>8} {'MFU':>7}")
    for name, row in rows.items():
        print(f"{name:<30} {row['conv_tflops']:>8.0f} {row['step_ms']:>8.2f} {row['mfu']:>7.1%}")
    print(f"{'measured: fit (' + args.pipelines.name + ')':<30} {'':>8} {step_ms:>8.2f} {result['measured_mfu']:>7.1%}")
    print(f"{args.target:.0%} MFU needs a {needed_step:.2f} ms step: with the element-wise work at its floor, "
          f"convolutions at {needed_rate / 1e12:.0f} TFLOP/s ({needed_rate / peak:.0%} of the datasheet peak; "
          f"measured {rows['convolutions as measured']['conv_tflops']:.0f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
