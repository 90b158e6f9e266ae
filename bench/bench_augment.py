"""Throughput of clkit.augment.simclr(32) against torchvision v2, image by image.

Batches of 256 uint8 images of 32 × 32, the SimCLR recipe (crop, flip, colour jitter,
grayscale, blur). Prints images per second for:

- ``clkit`` on the CPU, and on the GPU if there is one;
- ``clkit`` with BYOL's second view (blur p = 0.1, solarize p = 0.2) on the CPU;
- torchvision v2 ``Compose`` applied to each image in a Python loop (independent parameters,
  what a DataLoader worker does);
- torchvision v2 ``Compose`` applied to the whole batch tensor at once: fast, but one
  parameter set shared by all 256 images, which is why clkit.augment exists.

CPU rows are repeated with torch's thread count and with one thread: on a small machine
shared with other work, intra-op threads can make these small tensors slower, not faster.

Run: ``python bench/bench_augment.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from clkit.augment import byol, simclr

BATCH, SIDE = 256, 32


def images_per_second(
    run: Callable[[], object], repeats: int = 7, sync: Callable[[], None] = lambda: None
) -> float:
    """Best of ``repeats`` timings of one call of ``run`` on a batch of BATCH images."""
    run()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return BATCH / best


def torchvision_simclr(size: int) -> v2.Compose:
    """The same recipe with torchvision v2 transforms (antialiased crop, as its default)."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


def main() -> None:
    images = torch.randint(0, 256, (BATCH, 3, SIDE, SIDE), dtype=torch.uint8)
    aug, reference = simclr(SIDE), torchvision_simclr(SIDE)
    byol_second = byol(SIDE)[1]
    generator = torch.Generator().manual_seed(0)
    rows = []
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        cpu = f"CPU, {threads} thread{'s' if threads > 1 else ''}"
        rows.append((f"clkit simclr(32), {cpu}", images_per_second(lambda: aug(images, generator))))
        second = images_per_second(lambda: byol_second(images, generator))
        rows.append((f"clkit byol(32) view 2, {cpu}", second))
        loop = images_per_second(lambda: [reference(image) for image in images], repeats=3)
        rows.append((f"torchvision v2, per image in a loop, {cpu}", loop))
        rows.append(
            (
                f"torchvision v2, whole batch (shared params!), {cpu}",
                images_per_second(lambda: reference(images)),
            )
        )
    torch.set_num_threads(default_threads)
    if torch.cuda.is_available():
        on_gpu = images.cuda()
        name = f"clkit simclr(32), GPU ({torch.cuda.get_device_name()})"
        rows.append((name, images_per_second(lambda: aug(on_gpu, generator), sync=torch.cuda.synchronize)))
        loop = images_per_second(
            lambda: [reference(image) for image in on_gpu], repeats=3, sync=torch.cuda.synchronize
        )
        rows.append(("torchvision v2, per image in a loop, GPU", loop))

    print(f"batches of {BATCH} uint8 images {SIDE}x{SIDE}, torch {torch.__version__}")
    width = max(len(name) for name, _ in rows)
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>10,.0f} images/s")


if __name__ == "__main__":
    main()
