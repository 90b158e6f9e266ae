"""The recipe applied with fixed shapes: every op on the whole batch, kept where it was drawn. The GPU's path.

:meth:`SimCLRAugment.apply <clkit.augment.recipe.SimCLRAugment.apply>` on a CPU gathers, for each op, the images
it was drawn for and runs it on those alone: the arithmetic skipped is the time saved. On a GPU the arithmetic of
these small images costs next to nothing and the host's work does not: every op there is a few kernel launches
plus, for the subset, a mask, an index and a copy to the device, and the host, not the device, bounds the step.
So on a GPU the recipe takes this path:

- the parameter record travels once, packed into one ``(N, 18)`` tensor (:func:`pack`), copied from pinned
  memory without making the host wait (:func:`~clkit.augment.ops.to_device`);
- each op runs on every image, and ``torch.where`` keeps its result only for the images it was drawn for
  (:func:`apply_packed`), so every shape is fixed, no value is read back by the host, and nothing breaks a
  ``torch.compile`` graph: compiled (:func:`compiled`), the whole recipe is one graph for inductor to fuse.

An image an op was not drawn for comes out bit for bit as it went in; an image it was drawn for gets the op of
:mod:`clkit.augment.ops`, as on the CPU path (equal up to float rounding: ``tests/test_augment.py``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import Tensor

from clkit.augment.ops import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    crop_grid,
    crop_grid_axes,
    gaussian_blur,
    solarize,
    to_grayscale,
)
from clkit.data import to_float

__all__ = ["COLUMNS", "apply_packed", "compiled", "pack"]

#: The columns of a packed parameter record, in order (see :class:`~clkit.augment.recipe.Params`).
COLUMNS = ("top", "left", "height", "width", "flip", "jitter", "brightness", "contrast", "saturation", "hue",
           "order0", "order1", "order2", "order3", "grayscale", "blur", "sigma", "solarize")
_COLUMN = {name: i for i, name in enumerate(COLUMNS)}
_JITTER = ((adjust_brightness, "brightness", 1.0), (adjust_contrast, "contrast", 1.0),
           (adjust_saturation, "saturation", 1.0), (adjust_hue, "hue", 0.0))  # in JITTER_OPS' order, identity

_compile = False  # set by compiled()


def pack(params) -> Tensor:
    """A :class:`~clkit.augment.recipe.Params` record as one (N, 18) float64 CPU tensor, columns :data:`COLUMNS`.

    float64 holds every crop coordinate, flag and op index exactly, and the float32 factors unchanged.
    """
    return torch.stack(
        [params.top, params.left, params.height, params.width, params.flip, params.jitter, params.brightness,
         params.contrast, params.saturation, params.hue, *params.order.unbind(1), params.grayscale, params.blur,
         params.sigma, params.solarize],
        dim=1,
    ).to(torch.float64)


def apply_packed(images: Tensor, packed: Tensor, size: int, kernel_size: int, solarize_threshold: float,
                 blur: bool, solarize_on: bool) -> Tensor:
    """The recipe on every image at once, with fixed shapes: (N, C, H, W) uint8 or float in [0, 1] → (N, C, size,
    size) float32.

    packed: (N, 18) from :func:`pack`, on the images' device. ``blur`` and ``solarize_on`` say whether the recipe
    has those ops at all (p > 0): an op with p = 0 is not run. When :func:`compiled` is on, the compiled version
    of this function runs (one compiled graph per shape and setting).
    """
    function = _compiled_apply() if _compile else _apply
    return function(images, packed, size, kernel_size, solarize_threshold, blur, solarize_on)


def _apply(images: Tensor, packed: Tensor, size: int, kernel_size: int, solarize_threshold: float, blur: bool,
           solarize_on: bool) -> Tensor:
    column = packed.unbind(1)

    def flag(name: str) -> Tensor:  # (N, 1, 1, 1) bool, to broadcast over an image
        return (column[_COLUMN[name]] != 0).view(-1, 1, 1, 1)

    x = to_float(images).to(torch.float32)
    grid = crop_grid(*crop_grid_axes(*(column[_COLUMN[name]] for name in ("top", "left", "height", "width")),
                                     column[_COLUMN["flip"]] != 0, size, images.shape[-2], images.shape[-1]))
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    jitter = column[_COLUMN["jitter"]] != 0
    for slot in range(4):
        op_in_slot = column[_COLUMN[f"order{slot}"]]
        for op, (function, name, identity) in enumerate(_JITTER):
            factor = column[_COLUMN[name]].to(torch.float32)
            chosen = (jitter & (op_in_slot == op) & (factor != identity)).view(-1, 1, 1, 1)
            x = torch.where(chosen, function(x, factor), x)
    x = torch.where(flag("grayscale"), to_grayscale(x), x)
    if blur:
        x = torch.where(flag("blur"), gaussian_blur(x, column[_COLUMN["sigma"]].to(torch.float32), kernel_size), x)
    if solarize_on:
        x = torch.where(flag("solarize"), solarize(x, solarize_threshold), x)
    return x


@functools.cache
def _compiled_apply():
    """:func:`_apply` compiled, made once (the first call of each shape and setting compiles its graph)."""
    return torch.compile(_apply, dynamic=False)


@contextlib.contextmanager
def compiled(enabled: bool = True) -> Iterator[None]:
    """Within this block the GPU path runs compiled (``torch.compile``: the first batch of each shape compiles,
    which takes seconds; every later one runs as a few fused kernels). ``fit`` turns it on when it compiles."""
    global _compile
    before, _compile = _compile, enabled
    try:
        yield
    finally:
        _compile = before
