"""Batched image ops with one parameter per image, each as torchvision defines it on floats.

Every function takes a batch ``(N, C, H, W)`` of float images in [0, 1] and per-image
parameters as ``(N,)`` tensors, and does the whole batch at once: no Python loop runs over
images. The tests check each against ``torchvision.transforms.v2.functional`` applied
image by image with the same parameters. :func:`unit_float` is where images enter: it
turns uint8 into such floats and refuses floats outside [0, 1].

Colour: :func:`adjust_brightness`, :func:`adjust_contrast`, :func:`adjust_saturation`,
:func:`adjust_hue`, :func:`color_jitter` (the four in a per-image order),
:func:`grayscale`, :func:`to_grayscale`, :func:`solarize`.
Geometry and filtering: :func:`crop_resize_flip`, :func:`gaussian_kernels`,
:func:`gaussian_blur`. Applying an op to some images only: :func:`apply_to_subset`.
The crop boxes themselves are drawn by :func:`sample_crop_boxes`, as ``RandomResizedCrop``
draws them, for a whole batch at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.data import to_float

__all__ = [
    "GRAY_WEIGHTS",
    "JITTER_OPS",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_to_subset",
    "color_jitter",
    "crop_resize_flip",
    "gaussian_blur",
    "gaussian_kernels",
    "grayscale",
    "sample_crop_boxes",
    "solarize",
    "to_device",
    "to_grayscale",
    "unit_float",
]

#: Luma weights of ITU-R 601-2, as in torchvision's ``rgb_to_grayscale``.
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)

#: Colour-jitter ops, numbered as in ``Params.order``.
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")

_CROP_ATTEMPTS = 10  # as in torchvision's RandomResizedCrop.get_params


# --------------------------------------------------------------------------- input


def unit_float(images: Tensor) -> Tensor:
    """Images as floats in [0, 1], what every op here expects: uint8 divided by 255, floats as they are.

    Floats outside [0, 1] are refused: images in 0..255 stored as floats would otherwise come out
    with values far above 1 and many pixels clipped. The check is one min/max reduction, run only for
    images on the CPU: on a GPU, reading its result would make the host wait for the device at
    every batch, so there the caller's contract stands unchecked. uint8 images need no check.
    """
    if images.is_floating_point() and images.device.type == "cpu" and images.numel() > 0:
        low, high = torch.aminmax(images)
        if not (0 <= low and high <= 1):  # NaN fails too
            raise ValueError(
                f"float images must hold values in [0, 1], got values from {float(low):g} to {float(high):g}: "
                "pass uint8 images (0..255) as they are, or divide float images in 0..255 by 255 first "
                "(images / 255)"
            )
    return to_float(images)


def to_device(values: Tensor, device: torch.device) -> Tensor:
    """``values``, sampled on the CPU, on ``device`` without making the host wait.

    A plain ``.to("cuda")`` of a CPU tensor copies from pageable memory and then waits for the stream, that is
    for every kernel queued before it: the host could no longer run ahead of the GPU. Copied from pinned memory
    with ``non_blocking=True`` the copy is queued like a kernel (the pinned block is held until it is done).
    On the CPU, and for a tensor already on ``device``, this is ``values.to(device)``.
    """
    if torch.device(device).type == "cuda" and values.device.type == "cpu":
        return values.pin_memory().to(device, non_blocking=True)
    return values.to(device)


# --------------------------------------------------------------------------- crop, resize, flip


def crop_resize_flip(
    images: Tensor, top: Tensor, left: Tensor, height: Tensor, width: Tensor, flip: Tensor, size: int
) -> Tensor:
    """Crop each image to its box, resize to size × size (bilinear, no antialiasing), flip.

    One ``grid_sample`` does all three. Output pixel j of a crop starting at ``left`` with
    width ``w`` reads source column ``left + (j + 0.5) * w / size - 0.5`` (half-pixel centres,
    as ``interpolate(align_corners=False)``), clamped to [left, left + w - 1] so that pixels
    outside the crop never leak in; a flipped image reads column ``size - 1 - j`` instead.
    This reproduces torchvision's ``resized_crop(..., antialias=False)`` then ``hflip``.

    images: (N, C, H, W) float32; top, left, height, width: (N,) int64 crop boxes and
    flip: (N,) bool, all on the CPU. Returns (N, C, size, size) float32.
    """
    _, _, image_height, image_width = images.shape
    gx, gy = crop_grid_axes(top, left, height, width, flip, size, image_height, image_width)
    grid = crop_grid(to_device(gx, images.device), to_device(gy, images.device))
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def crop_grid_axes(top: Tensor, left: Tensor, height: Tensor, width: Tensor, flip: Tensor, size: int,
                   image_height: int, image_width: int) -> tuple[Tensor, Tensor]:
    """The sampling positions of :func:`crop_resize_flip` along each axis, in ``grid_sample``'s [-1, 1] units.

    top, left, height, width: (N,) crop boxes (any number type), flip: (N,) bool, on one device (the CPU, or the
    images' device on the GPU path). Returns gx, gy: (N, size) float32 each, computed in float64.
    """
    n = len(top)
    j = torch.arange(size, dtype=torch.float64, device=top.device)
    j_flipped = torch.where(flip[:, None], size - 1 - j, j)  # (N, size)
    xs = _source_coordinates(left, width, j_flipped, size)  # (N, size)
    ys = _source_coordinates(top, height, j.expand(n, size), size)
    # grid_sample(align_corners=False) maps pixel coordinate p to (2p + 1) / extent - 1.
    return ((2 * xs + 1) / image_width - 1).to(torch.float32), ((2 * ys + 1) / image_height - 1).to(torch.float32)


def crop_grid(gx: Tensor, gy: Tensor) -> Tensor:
    """The (N, size, size, 2) ``grid_sample`` grid of per-axis positions gx (columns) and gy (rows), (N, size)."""
    return torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)


def _source_coordinates(start: Tensor, extent: Tensor, j: Tensor, size: int) -> Tensor:
    """Source pixel coordinates read by output pixels j: (N,), (N,), (N, size) -> (N, size) float64."""
    start = start[:, None].to(torch.float64)
    extent = extent[:, None].to(torch.float64)
    coords = start + (j + 0.5) * extent / size - 0.5
    return torch.minimum(torch.maximum(coords, start), start + extent - 1)


def sample_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Crop boxes drawn on the CPU as ``RandomResizedCrop.get_params`` draws them, n at once.

    Each image gets 10 attempts: area fraction uniform in ``scale``, log aspect ratio
    uniform in log ``ratio``; the first attempt whose box fits is kept and placed uniformly
    at random. Images with no fitting attempt get the centre crop with the aspect ratio
    clamped into ``ratio``.
    Returns: top, left, crop_height, crop_width, each (n,) int64.
    """
    shape = (n, _CROP_ATTEMPTS)
    area = height * width * torch.empty(shape, dtype=torch.float64).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(shape, dtype=torch.float64).uniform_(
        math.log(ratio[0]), math.log(ratio[1]), generator=generator
    )
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(area * aspect)).long()  # round half to even, like Python's round()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)

    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first fitting attempt
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)
    found = fits.any(dim=1)
    top = torch.floor(torch.rand(n, dtype=torch.float64, generator=generator) * (height - h + 1)).long()
    left = torch.floor(torch.rand(n, dtype=torch.float64, generator=generator) * (width - w + 1)).long()

    fb_top, fb_left, fb_h, fb_w = _centre_crop_box(height, width, ratio)
    return (
        torch.where(found, top, fb_top),
        torch.where(found, left, fb_left),
        torch.where(found, h, fb_h),
        torch.where(found, w, fb_w),
    )


def _centre_crop_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """The fallback of ``RandomResizedCrop``: the largest centred box with aspect ratio in ``ratio``."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        w, h = round(height * max(ratio)), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w



# --------------------------------------------------------------------------- colour


def grayscale(images: Tensor) -> Tensor:
    """Luma of RGB images: (N, 3, H, W) -> (N, 1, H, W); a 1-channel image is returned as is."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(dim=1)
    wr, wg, wb = GRAY_WEIGHTS
    return (r * wr).add_(g, alpha=wg).add_(b, alpha=wb).unsqueeze(1)


def to_grayscale(images: Tensor) -> Tensor:
    """Grayscale replicated over the channels: (N, C, H, W) -> (N, C, H, W)."""
    return grayscale(images).expand_as(images)


def _blend(images: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """clamp(factor * images + (1 - factor) * other, 0, 1) with factor: (N,) per image."""
    return torch.lerp(other, images, factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """clamp(factor * x): images (N, C, H, W) float in [0, 1], factor (N,) >= 0."""
    return (images * factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with the mean of its grayscale: images (N, C, H, W), factor (N,) >= 0."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(images, mean, factor)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with its grayscale: images (N, C, H, W), factor (N,) >= 0."""
    return _blend(images, grayscale(images), factor)


def adjust_hue(images: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of RGB images by ``shift`` turns, keeping HSV saturation and value.

    images: (N, 3, H, W) float in [0, 1]; shift: (N,) in [-0.5, 0.5]. 1-channel images are
    returned unchanged. Hue h is measured in sixths of a turn (red 0, green 2, blue 4). A
    pixel with largest channel v and chroma c = v - min has h = (g - b) / c, 2 + (b - r) / c
    or 4 + (r - g) / c, depending on which channel is the largest. After the shift, each
    channel is rebuilt from d, the distance around the circle from h to the channel's own
    hue: v - c * clamp(d - 1, 0, 1) (full within one sixth of its hue, v - c from two on).
    """
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(dim=1)
    value = images.amax(dim=1)  # (N, H, W)
    chroma = value - images.amin(dim=1)
    red_max = value == r  # ties go to red, then green, as in torchvision and Pillow
    green_max = (value == g) & ~red_max
    blue_max = ~(red_max | green_max)
    hue = (g - b).mul_(red_max)  # hue times chroma, sector by sector
    hue += (b - r).add_(chroma, alpha=2).mul_(green_max)
    hue += (r - g).add_(chroma, alpha=4).mul_(blue_max)
    hue.div_(chroma + (chroma == 0)).add_(6 * shift.view(-1, 1, 1))  # gray pixels (c = 0): any hue
    hue.sub_(torch.floor(hue / 6).mul_(6))  # into [0, 6)
    own_hue = torch.arange(0, 6, 2, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)  # made there: no copy
    distance = (hue.unsqueeze(1) - own_hue).abs_()  # (N, 3, H, W), in [0, 6)
    distance = torch.minimum(distance, 6 - distance, out=distance)  # around the circle: [0, 3]
    ramp = distance.sub_(1).clamp_(0, 1)
    return ramp.mul_(-chroma.unsqueeze(1)).add_(value.unsqueeze(1))


_JITTER_FUNCTIONS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
_JITTER_IDENTITY = (1.0, 1.0, 1.0, 0.0)


def color_jitter(images: Tensor, jitter: Tensor, order: Tensor, factors: Tensor) -> Tensor:
    """Colour jitter with a per-image op order, in place on ``images`` (N, C, H, W).

    jitter: (N,) bool, which images are jittered at all; order: (N, 4) int64, per image a
    permutation of 0..3 (indices into :data:`JITTER_OPS`); factors: (N, 4) float32, the
    brightness, contrast and saturation factors and the hue shift. All on the CPU.

    In each of the 4 slots, every op runs once on the subset of images whose order puts it
    in that slot, so the whole batch costs about 4 ops. Images without the jitter flag,
    and factors that change nothing, are skipped.
    """
    for slot in range(4):
        for op, (function, identity) in enumerate(zip(_JITTER_FUNCTIONS, _JITTER_IDENTITY)):
            chosen = jitter & (order[:, slot] == op) & (factors[:, op] != identity)
            apply_to_subset(images, chosen, function, factors[:, op])
    return images


def solarize(images: Tensor, threshold: float) -> Tensor:
    """Invert the pixels at or above ``threshold``: x >= threshold becomes 1 - x.

    images: (..., C, H, W) float in [0, 1]; threshold: a number, 0.5 in BYOL. The same as
    ``torchvision.transforms.v2.functional.solarize`` on float images.
    """
    return torch.where(images >= threshold, 1.0 - images, images)


# --------------------------------------------------------------------------- blur


def gaussian_kernels(sigma: Tensor, kernel_size: int) -> Tensor:
    """1-D Gaussian kernels, one per sigma: (N,) -> (N, kernel_size), each summing to 1.

    kernel = exp(-0.5 * (x / sigma)^2) normalised, x = -(k-1)/2 .. (k-1)/2, as torchvision.
    """
    x = torch.arange(kernel_size, dtype=sigma.dtype, device=sigma.device) - (kernel_size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma[:, None]) ** 2)
    return kernel / kernel.sum(dim=1, keepdim=True)


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Separable Gaussian blur with a sigma per image and reflect padding, as torchvision.

    images: (N, C, H, W) float; sigma: (N,) > 0 on the images' device; kernel_size odd,
    at most 2 * min(H, W) - 1. All N * C planes go through one grouped convolution per axis.
    """
    n, c, height, width = images.shape
    pad = kernel_size // 2
    kernels = gaussian_kernels(sigma.to(images.dtype), kernel_size)[:, None].expand(n, c, kernel_size)
    kernels = kernels.reshape(n * c, kernel_size)  # each image's kernel once per channel
    planes = F.pad(images, (pad, pad, pad, pad), mode="reflect").reshape(1, n * c, height + 2 * pad, -1)
    planes = F.conv2d(planes, kernels.view(n * c, 1, 1, kernel_size), groups=n * c)  # along rows
    planes = F.conv2d(planes, kernels.view(n * c, 1, kernel_size, 1), groups=n * c)  # along columns
    return planes.view(n, c, height, width)


# --------------------------------------------------------------------------- some images only


def apply_to_subset(
    images: Tensor, chosen: Tensor, function: Callable[..., Tensor], *per_image: Tensor
) -> None:
    """images[chosen] = function(images[chosen], *(p[chosen] for p in per_image)), in place.

    chosen: (N,) bool on the CPU; per_image: (N,) CPU tensors, moved to the images' device (:func:`to_device`:
    the host never waits for a GPU here).
    Nothing runs when no image is chosen.
    """
    index = chosen.nonzero().squeeze(1)
    if len(index) == 0:
        return
    args = [to_device(p[index], images.device) for p in per_image]
    if len(index) == len(images):  # everyone: no need to gather and scatter
        images.copy_(function(images, *args))
        return
    index = to_device(index, images.device)
    images[index] = function(images[index], *args)
