"""Training throughput of four data pipelines, one process, one device, the same model and images.

    python bench/bench_pipelines.py                                   # CPU: width-16 small_cnn, batch 256
    python bench/bench_pipelines.py --model resnet18 --batch 512      # GPU: ResNet-18 (CIFAR stem)
    python bench/bench_pipelines.py --pipelines kit lightly --json out.json

Every pipeline trains the same network (the recipe's encoder + SimCLR projection head, copied from one
initialisation) with the same optimiser settings on the same uint8 images, for ``--warmup`` untimed steps then
``--steps`` timed ones, and draws its two views with the same augmentation settings (the recipe's crop scale,
colour-jitter strength, grayscale and blur probabilities):

- ``torchvision``: torchvision v2 transforms per image in a DataLoader with ``--workers`` workers (the
  standard pipeline, as lightly's and dkobak's CIFAR scripts run it), the kit's NT-Xent loss;
- ``kornia``: kornia.augmentation per sample on a device-resident float batch, the kit's NT-Xent loss
  (kornia is a bench-only dependency: the row is skipped, with a message, when it is not installed);
- ``lightly``: lightly's SimCLRTransform per PIL image in a DataLoader with ``--workers`` workers and lightly's
  NTXentLoss (the peer of the CPU target);
- ``kit``: :func:`clkit.train.fit` itself (resident uint8 images, clkit.augment, the method's loss): two
  epochs of ``--steps`` steps, the first a warm-up, the second timed (fit's own per-epoch timer);
- ``kit_compiled``, ``kit_bf16``, ``kit_compiled_bf16`` (a CPU), ``kit_cudnn_benchmark``, ``kit_cudagraphs`` (a
  GPU): the kit's row with one setting changed.

Printed per pipeline: images/s (each image gives two views), peak memory (:class:`clkit.train.PeakMemory`: the
CUDA allocator's peak, or on a CPU the main process's peak resident set: DataLoader workers are not counted),
MFU on CUDA (FLOP per image counted once with FlopCounterMode, × 3 for forward + backward, over the GPU's bf16
dense peak), and the kit's images/s over each pipeline's. Images are the procedural ``shapes`` (a rendered pool
repeated to the size needed) or CIFAR-10 when its files are present (``--data cifar10``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit import data, recipes, train
from clkit.losses import nt_xent_logits

PIPELINES = ("torchvision", "kornia", "lightly", "kit", "kit_compiled", "kit_bf16", "kit_compiled_bf16",
             "kit_cudnn_benchmark", "kit_cudagraphs")

#: bf16 dense tensor-core peaks in FLOP/s (no sparsity), by a substring of torch.cuda.get_device_name().
#: Checked in order: the more specific names first.
BF16_PEAKS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("A6000", 155e12),  # RTX A6000 (the Ada "RTX 6000" is listed under its own name below)
    ("RTX 6000 Ada", 364e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("L4", 121e12),
    ("4090", 165e12),
    ("3090", 71e12),
    ("V100", 0.0),  # no bf16 tensor cores: MFU is not defined
    ("T4", 0.0),
)


def bf16_peak(device: torch.device) -> tuple[str, float | None]:
    """The device's name and its bf16 dense peak FLOP/s, or None when it is a CPU or not in :data:`BF16_PEAKS`."""
    if device.type != "cuda":
        return platform.processor() or platform.machine(), None
    name = torch.cuda.get_device_name(device)
    for key, peak in BF16_PEAKS:
        if key in name:
            return name, peak or None
    return name, None


# --------------------------------------------------------------------------- settings shared by every pipeline


def bench_recipe(model: str, dataset: str) -> recipes.Recipe:
    """The SimCLR recipe whose model, augmentation and optimiser every pipeline uses."""
    if model == "resnet18":
        return recipes.recipe("simclr", "cifar10", "full")
    return recipes.recipe("simclr", "shapes", "laptop", encoder=model)


def bench_images(dataset: str, n: int, pool: int = 1024) -> data.ImageSet:
    """``n`` uint8 images: CIFAR-10's first ``n`` training images, or a rendered pool of ``shapes`` repeated."""
    if dataset == "cifar10":
        train_set = data.load("cifar10", "train")
        return train_set[torch.arange(n) % len(train_set)]
    rendered = data.make_shapes(min(n, pool), seed=0)
    return rendered[torch.arange(n) % len(rendered)]


def flop_per_image(network: nn.Module, shape: tuple[int, int, int], device: torch.device, amp: bool) -> float:
    """FLOP of one training step per image: forward on its two views, counted, × 3 (backward ≈ 2 × forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    views = torch.rand(4, *shape, device=device)  # two images × two views
    counter = FlopCounterMode(display=False)
    was_training = network.training
    network.train()
    with counter, torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        network(views)
    network.train(was_training)
    return 3 * counter.get_total_flops() / 2


def make_optimizer(r: recipes.Recipe, network: nn.Module) -> torch.optim.Optimizer:
    """The recipe's optimiser, as fit builds it (without fit's no-decay group for biases and norms)."""
    if r.optimizer == "sgd":
        return torch.optim.SGD(network.parameters(), lr=r.lr, momentum=0.9, nesterov=True, weight_decay=r.weight_decay)
    return torch.optim.AdamW(network.parameters(), lr=r.lr, weight_decay=r.weight_decay)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- the peers' steps


def peer_train(
    network: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batches: Iterator[tuple[Tensor, Tensor]],
    warmup: int,
    steps: int,
    device: torch.device,
    amp: bool,
) -> float:
    """``warmup`` then ``steps`` optimiser steps on view pairs from ``batches``; returns the timed seconds.

    The step is the kit's: both views through the network in one pass, bf16 autocast on CUDA, loss read never
    (no host sync inside the timed stretch but the one at its end)."""
    network.train()

    def step() -> None:
        v1, v2 = next(batches)
        v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            z1, z2 = network(torch.cat([v1, v2])).chunk(2)  # (2N, D) → two (N, D)
            loss = loss_fn(z1, z2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - started


class _TorchvisionPairs(torch.utils.data.Dataset):
    """Two torchvision v2 views of each uint8 (C, H, W) image, drawn independently."""

    def __init__(self, images: Tensor, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image = self.images[i]
        return self.transform(image), self.transform(image)


class _PILPairs(torch.utils.data.Dataset):
    """Each uint8 (C, H, W) image as a PIL image through lightly's SimCLRTransform (a list of two views)."""

    def __init__(self, images: Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C), as torchvision's CIFAR10 holds
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        image = Image.fromarray(self.images[i].squeeze(-1) if self.images.shape[-1] == 1 else self.images[i])
        return self.transform(image)


def torchvision_transform(r: recipes.Recipe, size: int):
    """The recipe's augmentation as torchvision v2 transforms on a uint8 tensor image."""
    from torchvision.transforms import v2

    aug = r.views(size)
    ops = [
        v2.RandomResizedCrop(size, scale=aug.scale, ratio=aug.ratio, antialias=True),
        v2.RandomHorizontalFlip(aug.flip_p),
        v2.RandomApply([v2.ColorJitter(aug.brightness, aug.contrast, aug.saturation, aug.hue)], p=aug.jitter_p),
        v2.RandomGrayscale(aug.grayscale_p),
    ]
    if aug.blur_p > 0:
        ops.append(v2.RandomApply([v2.GaussianBlur(aug.kernel_size, sigma=aug.blur_sigma)], p=aug.blur_p))
    ops.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(ops)


def _loader(dataset, batch: int, workers: int, device: torch.device, seed: int):
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),
    )


def kit_loss(temperature: float) -> Callable[[Tensor, Tensor], Tensor]:
    """The kit's NT-Xent, as :class:`clkit.methods.SimCLR` computes it."""
    return lambda z1, z2: F.cross_entropy(*nt_xent_logits(z1, z2, temperature))


# --------------------------------------------------------------------------- the four pipelines


def run_torchvision(ctx: dict) -> float:
    loader = _loader(_TorchvisionPairs(ctx["images"].images, torchvision_transform(ctx["recipe"], ctx["size"])),
                     ctx["batch"], ctx["workers"], ctx["device"], ctx["seed"])
    net = ctx["network"]()
    return peer_train(net, make_optimizer(ctx["recipe"], net), kit_loss(ctx["recipe"].temperature), iter(loader),
                      ctx["warmup"], ctx["steps"], ctx["device"], ctx["amp"])


def run_kornia(ctx: dict) -> float:
    try:
        import kornia.augmentation as K
    except ImportError:
        raise _Skip("kornia is not installed (pip install kornia: a bench-only dependency)") from None
    r, size, device = ctx["recipe"], ctx["size"], ctx["device"]
    aug = r.views(size)
    ops = [
        K.RandomResizedCrop((size, size), scale=aug.scale, ratio=aug.ratio),
        K.RandomHorizontalFlip(p=aug.flip_p),
        K.ColorJitter(aug.brightness, aug.contrast, aug.saturation, aug.hue, p=aug.jitter_p),
        K.RandomGrayscale(p=aug.grayscale_p),
    ]
    if aug.blur_p > 0:
        ops.append(K.RandomGaussianBlur((aug.kernel_size, aug.kernel_size), aug.blur_sigma, p=aug.blur_p))
    augment = nn.Sequential(*ops).to(device)  # per-sample parameters: kornia's default same_on_batch=False
    images = ctx["resident"]  # uint8 (N, C, H, W) on the device

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        g = torch.Generator().manual_seed(ctx["seed"])
        while True:
            order = torch.randperm(len(images), generator=g).to(device)
            for i in range(len(images) // ctx["batch"]):
                x = images[order[i * ctx["batch"] : (i + 1) * ctx["batch"]]].float().div_(255)  # (N, C, H, W)
                yield augment(x), augment(x)

    net = ctx["network"]()
    return peer_train(net, make_optimizer(r, net), kit_loss(r.temperature), batches(), ctx["warmup"], ctx["steps"],
                      device, ctx["amp"])


def run_lightly(ctx: dict) -> float:
    try:
        from lightly.loss import NTXentLoss
        from lightly.transforms import SimCLRTransform
    except ImportError:
        raise _Skip("lightly is not installed") from None
    r, size = ctx["recipe"], ctx["size"]
    aug = r.views(size)
    transform = SimCLRTransform(
        input_size=size, cj_prob=aug.jitter_p, cj_strength=r.jitter_strength, min_scale=aug.scale[0],
        random_gray_scale=aug.grayscale_p, gaussian_blur=aug.blur_p, sigmas=aug.blur_sigma, hf_prob=aug.flip_p,
        normalize=None,  # the other pipelines feed [0, 1] pixels
    )
    loader = _loader(_PILPairs(ctx["images"].images, transform), ctx["batch"], ctx["workers"], ctx["device"],
                     ctx["seed"])
    net = ctx["network"]()
    loss = NTXentLoss(temperature=r.temperature)
    return peer_train(net, make_optimizer(r, net), loss, (tuple(views) for views in loader), ctx["warmup"],
                      ctx["steps"], ctx["device"], ctx["amp"])


def run_kit(ctx: dict, compile: bool | str | None = None, amp: bool | None = None) -> float:
    """clkit.train.fit on ``steps`` batches of resident images: epoch 1 warms up (and compiles), epoch 2 is timed
    by fit. ``compile`` and ``amp``: fit's defaults (on a GPU compiled and bf16; on a CPU eager, float32) unless
    given."""
    r = ctx["recipe"]
    images = ctx["resident_set"][: ctx["batch"] * ctx["steps"]]
    history = train.fit(ctx["method"](), images, epochs=2, batch_size=ctx["batch"], lr=r.lr, optimizer=r.optimizer,
                        weight_decay=r.weight_decay, warmup_epochs=r.warmup_epochs, device=ctx["device"],
                        seed=ctx["seed"], progress=False, log_every=ctx["steps"], compile=compile, amp=amp)
    return history.epochs[-1]["seconds"]


#: The kit's path with parts of its GPU settings switched on for a CPU (on a GPU, fit's defaults are all of them):
#: compiled networks; bf16 autocast (what it does to accuracy is measured apart, over paired seeds, by
#: ``bench/bf16_cpu_accuracy.py``); both.
CPU_KIT_VARIANTS = {"kit_compiled": dict(compile=True), "kit_bf16": dict(amp=True),
                    "kit_compiled_bf16": dict(compile=True, amp=True)}


def run_kit_variant(name: str) -> Callable[[dict], float]:
    """The runner of :data:`CPU_KIT_VARIANTS`' row ``name``: the ``kit`` row with those settings, on a CPU only."""
    def run(ctx: dict) -> float:
        if ctx["device"].type == "cuda":
            raise _Skip("on a GPU the kit's row is compiled and bf16 already")
        return run_kit(ctx, **CPU_KIT_VARIANTS[name])
    return run


def run_kit_cudnn_benchmark(ctx: dict) -> float:
    """The ``kit`` row with cuDNN's benchmark mode on (``torch.backends.cudnn.benchmark``: each convolution shape
    times cuDNN's algorithms at its first call and keeps the fastest); a GPU only."""
    if ctx["device"].type != "cuda":
        raise _Skip("cuDNN's benchmark mode is a GPU setting")
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        return run_kit(ctx)
    finally:
        torch.backends.cudnn.benchmark = before


def run_kit_cudagraphs(ctx: dict) -> float:
    """The ``kit`` row with its networks run as CUDA graphs (``fit(compile="reduce-overhead")``); a GPU only."""
    if ctx["device"].type != "cuda":
        raise _Skip("CUDA graphs are a GPU setting")
    return run_kit(ctx, compile="reduce-overhead")


class _Skip(Exception):
    """A pipeline that cannot run here, with the reason."""


RUNNERS = {"torchvision": run_torchvision, "kornia": run_kornia, "lightly": run_lightly, "kit": run_kit,
           **{name: run_kit_variant(name) for name in CPU_KIT_VARIANTS},
           "kit_cudnn_benchmark": run_kit_cudnn_benchmark, "kit_cudagraphs": run_kit_cudagraphs}


def measure(args: argparse.Namespace, save: Callable[[dict], None] | None = None) -> dict:
    """Run the chosen pipelines and return the settings and one row per pipeline; ``save`` gets the result so far
    after each row (a run stopped by a time limit keeps the rows it finished)."""
    device = train.resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    r = bench_recipe(args.model, args.data)
    n = args.batch * max(args.steps + args.warmup, args.steps) + args.batch
    images = bench_images(args.data, n)
    shape = images.shape
    amp = device.type == "cuda"
    train.seed_everything(args.seed)
    template = recipes.build(r, shape, len(images.classes))  # one initialisation, copied for every pipeline
    network = nn.Sequential(template.backbone, template.head)
    ctx = {
        "recipe": r, "size": shape[-1], "device": device, "amp": amp, "batch": args.batch, "steps": args.steps,
        "warmup": args.warmup, "workers": args.workers, "seed": args.seed, "images": images,
        "resident_set": images.to(device), "network": lambda: copy.deepcopy(network).to(device),
        "method": lambda: copy.deepcopy(template),
    }
    ctx["resident"] = ctx["resident_set"].images
    flop = flop_per_image(copy.deepcopy(network).to(device), shape, device, amp)
    device_name, peak = bf16_peak(device)
    settings = {
        "device": str(device), "device_name": device_name, "bf16_peak_flops": peak, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpus": len(os.sched_getaffinity(0)), "workers": args.workers,
        "model": f"{r.encoder} + SimCLR head ({r.head_layers} layers, {r.projection_dim})", "batch": args.batch,
        "steps": args.steps, "warmup": args.warmup, "images": f"{args.data} {tuple(shape)}", "amp_bf16": amp,
        "flop_per_image_train": flop, "optimizer": r.optimizer, "augment": {
            "crop_scale": [r.crop_min, 1.0], "jitter_strength": r.jitter_strength, "grayscale_p": r.grayscale_p,
            "blur_p": r.blur_p},
        "load_average": os.getloadavg(),
    }
    rows = []
    for name in args.pipelines:
        row: dict = {"pipeline": name}
        try:
            with train.PeakMemory(device) as memory:
                seconds = RUNNERS[name](ctx)
            row.update(images_per_s=args.batch * args.steps / seconds, seconds=seconds, peak_mib=memory.mib,
                       memory_kind=memory.kind)
            row["mfu"] = row["images_per_s"] * flop / peak if peak else None
        except _Skip as reason:
            row["skipped"] = str(reason)
        except Exception as error:  # a row that breaks on this device or torch: said, and the others still run
            row["skipped"] = f"failed: {type(error).__name__}: {error}"[:400]
        rows.append(row)
        print(f"  {name}: " + (f"{row['images_per_s']:,.0f} images/s" if "images_per_s" in row
                              else f"skipped ({row['skipped']})"), flush=True)
        if save is not None:
            save({"settings": settings, "rows": rows, "finished": False})
    kit = next((row.get("images_per_s") for row in rows if row["pipeline"] == "kit"), None)
    for row in rows:
        if kit and row.get("images_per_s"):
            row["kit_over_this"] = kit / row["images_per_s"]
    settings["load_average"] = os.getloadavg()  # over the run
    return {"settings": settings, "rows": rows, "finished": True}


def table(result: dict) -> str:
    """The result as a printable table with a header of its settings."""
    s = result["settings"]
    lines = [
        f"device {s['device']} ({s['device_name']}), torch {s['torch']}, {s['threads']} threads on {s['cpus']} CPUs, "
        f"DataLoader workers {s['workers']}, load average {s['load_average'][0]:.2f}",
        f"model {s['model']}, batch {s['batch']}, {s['steps']} timed steps after {s['warmup']} warm-up, "
        f"images {s['images']}, bf16 {s['amp_bf16']}, {s['flop_per_image_train'] / 1e9:.3f} GFLOP per image per step",
        f"augmentation (every pipeline): {s['augment']}",
        f"{'pipeline':<18} {'images/s':>10} {'views/s':>10} {'peak MiB':>9} {'MFU':>7} {'kit ×':>7}",
    ]
    for row in result["rows"]:
        if "skipped" in row:
            lines.append(f"{row['pipeline']:<18} skipped: {row['skipped']}")
            continue
        mib = "-" if row["peak_mib"] is None else f"{row['peak_mib']:,.0f}"
        mfu = "-" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%"
        ratio = f"{row['kit_over_this']:.2f}" if "kit_over_this" in row else "-"
        lines.append(f"{row['pipeline']:<18} {row['images_per_s']:>10,.0f} {2 * row['images_per_s']:>10,.0f} "
                     f"{mib:>9} {mfu:>7} {ratio:>7}")
    speed = {row["pipeline"]: row["images_per_s"] for row in result["rows"] if "images_per_s" in row}
    if "lightly" in speed and any(name.startswith("kit") for name in speed):
        lines.append("over lightly (the CPU target's ratio): " + ", ".join(
            f"{name} {v / speed['lightly']:.2f}×" for name, v in speed.items() if name.startswith("kit")))
    kind = next((row["memory_kind"] for row in result["rows"] if "memory_kind" in row), "")
    lines.append(f"peak memory: {kind}" + (" of the main process (DataLoader workers not counted)"
                                           if kind == "cpu resident" else "") +
                 ("; MFU: achieved FLOP/s over the bf16 dense peak" if s["bf16_peak_flops"] else
                  "; MFU: - (no known bf16 peak for this device)"))
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="small_cnn", help="small_cnn (width 16, the CPU default) or resnet18")
    p.add_argument("--data", default="shapes", choices=("shapes", "cifar10"))
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20, help="timed steps per pipeline")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (the kit: a whole first epoch)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the torchvision and lightly rows")
    p.add_argument("--threads", type=int, default=0, help="torch threads in this process (0: torch's default)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=PIPELINES)
    p.add_argument("--json", help="also write the settings and rows to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    threads = torch.get_num_threads()
    # atomic: a run stopped while writing keeps the last whole file
    save = (lambda result: train.atomic_write_text(args.json, json.dumps(result, indent=1))) if args.json else None
    try:
        result = measure(args, save)
    finally:
        torch.set_num_threads(threads)  # --threads holds for this run only (main is called from tests too)
    print(table(result))
    if save is not None:
        save(result)
    return result


if __name__ == "__main__":
    main()
