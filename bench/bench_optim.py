"""The optimiser's step alone: the kit's LARS (one group's tensors at once) beside lightly's LARS (tensor by tensor)
and the kit's SGD, on the parameters of the cifar10 recipe's ResNet-18 + SimCLR head.

    python bench/bench_optim.py                 # the device fit would pick (a GPU where there is one)
    python bench/bench_optim.py --device cpu --steps 50

Each optimiser gets the same parameters (copies, groups as ``make_optimizer`` forms them: weight matrices adapted
and decayed, biases and norms plain) with fixed random gradients, takes ``--warmup`` steps, then ``--steps`` timed
ones with one wait for the device at the end; printed: ms per step and each over the kit's LARS. On a GPU a step
of LARS tensor by tensor is a dozen small kernels per tensor, each launched from Python (lightly's also reads two
norms back to the host per tensor); lightly is installed for the tests (``pip install lightly``): its row is
skipped, with a message, without it.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

from clkit import recipes, train
from clkit.train.optim import make_optimizer


def timed_steps(opt: torch.optim.Optimizer, steps: int, warmup: int, device: torch.device) -> float:
    """ms per ``opt.step()``, over ``steps`` after ``warmup``, one wait for the device at each end."""
    for _ in range(warmup):
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / steps * 1e3


def with_gradients(opt: torch.optim.Optimizer, seed: int) -> None:
    """Give every parameter ``opt`` steps the same fixed random gradient, whichever optimiser it is."""
    generator = torch.Generator().manual_seed(seed)
    for group in opt.param_groups:
        for param in group["params"]:
            param.grad = (torch.randn(param.shape, generator=generator) * 1e-2).to(param.device)


def optimizers(method: nn.Module, lr: float, decay: float, fused: bool) -> dict:
    """Name → a function building that optimiser over a fresh copy of ``method`` with its gradients."""
    def kit(name: str):
        return lambda: make_optimizer(copy.deepcopy(method), name, lr, decay, fused=fused)

    def lightly():
        from lightly.utils.lars import LARS as LightlyLARS

        twin = copy.deepcopy(method)
        decayed = [p for p in twin.parameters() if p.ndim > 1]
        plain = [p for p in twin.parameters() if p.ndim <= 1]  # no decay: lightly then does not adapt them
        return LightlyLARS([{"params": decayed, "weight_decay": decay}, {"params": plain, "weight_decay": 0.0}],
                           lr=lr, momentum=0.9, trust_coefficient=1e-3)

    return {"kit LARS": kit("lars"), "lightly LARS": lightly, "kit SGD" + (" (fused)" if fused else ""): kit("sgd")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20,
                   help="untimed steps first (on a 2-core CPU, fewer than about 20 leave the first row slow)")
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)

    device = train.resolve_device(args.device)
    r = recipes.recipe("simclr", "cifar10", "full", encoder=args.encoder)
    train.seed_everything(0)
    method = recipes.build(r, (3, 32, 32), 10).to(device)
    n = sum(1 for _ in method.parameters())
    rows: dict[str, float | str] = {}
    for name, build in optimizers(method, r.lr, r.weight_decay, fused=device.type == "cuda").items():
        try:
            opt = build()
            with_gradients(opt, seed=1)
            rows[name] = timed_steps(opt, args.steps, args.warmup, device)
        except ImportError as missing:
            rows[name] = f"skipped ({missing.name} is not installed)"
    print(f"{args.encoder} + SimCLR head: {n} parameter tensors on {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", {args.steps} timed steps")
    ours = rows["kit LARS"]
    for name, ms in rows.items():
        print(f"  {name:<18} " + (f"{ms:8.3f} ms a step   kit LARS × {ms / ours:5.2f}" if isinstance(ms, float)
                                  else ms))
    result = {"device": str(device), "encoder": args.encoder, "tensors": n, "steps": args.steps, "ms": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
