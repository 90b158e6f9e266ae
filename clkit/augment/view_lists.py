"""Several views of every image, one recipe per view, and the recipe lists of the method zoo.

:func:`views` draws one view of each image per recipe, in order; the recipes may differ
in anything, their output size included. :func:`two_views` is the SimCLR case, the same
recipe twice. :func:`byol` and :func:`multi_crop` return recipe lists to pass to
:func:`views`: BYOL's asymmetric pair, and SwAV's multi-crop of large and small crops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from clkit.augment.ops import unit_float
from clkit.augment.recipe import SimCLRAugment, _check_int, simclr

__all__ = ["byol", "multi_crop", "two_views", "views"]


Recipe = Callable[..., Tensor]  # a SimCLRAugment, or any callable (images, generator) -> one view


def views(images: Tensor, recipes: Sequence[Recipe], generator: torch.Generator | None = None) -> list[Tensor]:
    """One random view of every image per recipe, in the recipes' order.

    images: (N, C, H, W) uint8 or float in [0, 1]. recipes: e.g. ``[aug, aug]``, :func:`byol` or
    :func:`multi_crop` (any callable ``recipe(images, generator)`` works, e.g. an identity for a
    test). Each view is drawn one after the other from the same generator. Returns one
    (N, C, size, size) float32 tensor per recipe, each with that recipe's ``size``.

    The images become floats once for all the views (:func:`~clkit.augment.ops.unit_float`): uint8 is
    divided by 255 without a check, float is checked once to lie in [0, 1].
    """
    recipes = list(recipes)
    for i, recipe in enumerate(recipes):
        if not callable(recipe):
            raise TypeError(f"recipes[{i}] must be a SimCLRAugment or a callable, got {type(recipe).__name__}")
    x = unit_float(images)
    return [recipe(x, generator, checked=True) if isinstance(recipe, SimCLRAugment) else recipe(x, generator)
            for recipe in recipes]


def two_views(
    images: Tensor, aug: SimCLRAugment, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Two independent random views of every image: ``views(images, [aug, aug], generator)``.

    images: (N, C, H, W) uint8 or float. Returns two (N, C, size, size) float32 tensors.
    """
    first, second = views(images, [aug, aug], generator)
    return first, second


def byol(size: int) -> list[SimCLRAugment]:
    """BYOL's asymmetric pair of recipes (Grill et al. 2020, appendix B, table 6).

    Both views: random resized crop with scale (0.08, 1) and ratio (3/4, 4/3), horizontal
    flip p = 0.5, colour jitter p = 0.8 with brightness 0.4, contrast 0.4, saturation 0.2,
    hue 0.1 in a random order, grayscale p = 0.2, Gaussian blur with sigma in (0.1, 2) and a
    kernel of about 10% of the side. They differ in blur and solarization (threshold 0.5):

    - view 1: blur p = 1.0, solarize p = 0.0;
    - view 2: blur p = 0.1, solarize p = 0.2.

    Checked against ``augment_config`` in ``byol/utils/augmentations.py`` and
    ``_decode_and_random_crop`` in ``byol/utils/dataset.py`` of the authors' code
    (github.com/deepmind/deepmind-research); the paper's table itself was not at hand.
    Their code defines brightness as an added offset in [-0.4, 0.4] and computes saturation
    and hue in HSV, as TensorFlow does; here every op keeps torchvision's definition with
    the same numbers, as the PyTorch reimplementations of BYOL do.

    >>> first, second = byol(32)
    >>> (first.blur_p, first.solarize_p), (second.blur_p, second.solarize_p)
    ((1.0, 0.0), (0.1, 0.2))
    """
    shared: dict[str, Any] = dict(
        scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5,
        brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, jitter_p=0.8, grayscale_p=0.2,
        blur_sigma=(0.1, 2.0), solarize_threshold=0.5,
    )  # fmt: skip
    return [
        SimCLRAugment(size, blur_p=1.0, solarize_p=0.0, **shared),
        SimCLRAugment(size, blur_p=0.1, solarize_p=0.2, **shared),
    ]


def multi_crop(
    size: int,
    local_size: int,
    n_global: int = 2,
    n_local: int = 6,
    global_scale: tuple[float, float] = (0.14, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.14),
    **jitter: Any,
) -> list[SimCLRAugment]:
    """Multi-crop (Caron et al. 2020, SwAV): a few large global crops and many small local ones.

    Returns ``n_global`` recipes cropping ``global_scale`` of the image to ``size`` ×
    ``size``, then ``n_local`` recipes cropping ``local_scale`` to ``local_size`` ×
    ``local_size``: global crops first. Every other setting is :func:`simclr`'s, as in
    SwAV: colour jitter p = 0.8 with brightness, contrast and saturation 0.8 and hue 0.2,
    grayscale p = 0.2, blur p = 0.5 with sigma in (0.1, 2); any :func:`simclr` keyword
    (``jitter_strength``, ``blur_p``, ``solarize_p``, ...) in ``jitter`` overrides it for all
    crops alike.

    The defaults are SwAV's 2 × 224 + 6 × 96 setting scaled to any ``size``: checked against
    ``scripts/swav_800ep_pretrain.sh`` (``--nmb_crops 2 6 --size_crops 224 96
    --min_scale_crops 0.14 0.05 --max_scale_crops 1. 0.14``) and ``src/multicropdataset.py``
    (colour and blur) of the authors' code (github.com/facebookresearch/swav). One
    difference: SwAV blurs every crop with a 23-pixel kernel, the 10% of 224; here each
    recipe's kernel is about 10% of its own side (9 for 96) unless ``blur_kernel`` is given.

    DINO (Caron et al. 2021) crops the same way with other numbers (``main_dino.py`` of
    github.com/facebookresearch/dino): ``global_scale=(0.4, 1.0)``, ``local_scale=(0.05,
    0.4)``, ``n_local=8``, BYOL's colour jitter (see :func:`byol`), and blur p = 1.0 on the
    first global crop, 0.1 plus solarize p = 0.2 on the second, 0.5 on the local crops.
    One set of keywords cannot say that; build that list from :func:`byol` and
    ``dataclasses.replace``.

    >>> [aug.size for aug in multi_crop(32, 16, n_local=2)]
    [32, 32, 16, 16]
    """
    _check_int("n_global", n_global, low=1)
    _check_int("n_local", n_local, low=0)
    large = simclr(size, scale=global_scale, **jitter)
    small = simclr(local_size, scale=local_scale, **jitter)
    return [large] * n_global + [small] * n_local
