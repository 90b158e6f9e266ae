"""Batched image augmentation with independent random parameters for every image.

Contrastive learning learns whatever two views of the same image share and different
images do not. The views must therefore be drawn independently *per image*: if every
image in a batch were cropped at the same place, flipped together and tinted the same
way, the network could match views by the shared transformation rather than by
content. ``torchvision.transforms.v2`` applied to a batch tensor draws one set of
parameters for the whole batch, and applying it image by image in a Python loop is slow.
This package does the SimCLR recipe on a whole batch ``(N, C, H, W)`` at once, on the CPU
or the GPU, with one random parameter set per image.

Modules:

- :mod:`clkit.augment.ops`: the batched ops, each torchvision's definition on float
  images with one parameter per image (brightness, contrast, saturation, hue, grayscale,
  crop-resize-flip, Gaussian blur, solarize).
- :mod:`clkit.augment.recipe`: :class:`SimCLRAugment`, the recipe with every strength and
  probability explicit, which draws a :class:`Params` record and applies it; the presets
  :func:`simclr`, :func:`crop_only`, :func:`weak` and :func:`each_op`.
- :mod:`clkit.augment.dense`: the recipe's GPU path, every op on the whole batch with fixed
  shapes and kept where drawn: no host waits, one parameter copy, compiled when ``fit`` compiles.
- :mod:`clkit.augment.view_lists`: :func:`views` (one view per recipe), :func:`two_views`, and
  the recipe lists of the method zoo (:func:`byol`, :func:`multi_crop`).

Input is ``uint8`` in 0..255 or float in 0..1, with 3 (RGB) or 1 (grayscale) channels;
float images on the CPU with values outside [0, 1] (e.g. 0..255 as floats) are refused with
how to convert them (:func:`~clkit.augment.ops.unit_float`).
A grayscale image stays one channel: saturation, hue and random grayscale leave it
unchanged (they are identities on gray pixels, as in torchvision), while crop, flip,
brightness, contrast, blur and solarize act as usual. Output is ``float32`` in [0, 1],
shape ``(N, C, size, size)``, on the input's device. :func:`to_float` is
:func:`clkit.data.to_float`.

>>> aug = simclr(32)
>>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
>>> view1, view2 = two_views(images, aug, torch.Generator().manual_seed(0))
>>> view1.shape, view1.dtype
(torch.Size([8, 3, 32, 32]), torch.float32)
"""

from __future__ import annotations

import torch  # noqa: F401  (for the example above)

from clkit.augment.ops import (
    GRAY_WEIGHTS,
    JITTER_OPS,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    gaussian_blur,
    gaussian_kernels,
    solarize,
)
from clkit.augment import dense
from clkit.augment.recipe import Params, SimCLRAugment, crop_only, each_op, simclr, weak
from clkit.augment.masks import blank_cells, block_masks
from clkit.augment.view_lists import byol, multi_crop, two_views, views
from clkit.data import to_float

__all__ = [
    "GRAY_WEIGHTS",
    "JITTER_OPS",
    "Params",
    "SimCLRAugment",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "byol",
    "crop_only",
    "dense",
    "each_op",
    "gaussian_blur",
    "gaussian_kernels",
    "multi_crop",
    "simclr",
    "solarize",
    "to_float",
    "two_views",
    "views",
    "weak",
    "blank_cells", "block_masks",
]
