"""Batched image augmentation with independent random parameters for every image.

Contrastive learning learns whatever two views of the same image share and different
images do not. The views must therefore be drawn independently *per image*: if every
image in a batch were cropped at the same place, flipped together and tinted the same
way, the network could match views by the shared transformation rather than by
content. ``torchvision.transforms.v2`` applied to a batch tensor draws one set of
parameters for the whole batch, and applying it image by image in a Python loop is slow.
This module does the SimCLR recipe on a whole batch ``(N, C, H, W)`` at once, on the CPU
or the GPU, with one random parameter set per image.

Two steps, so that each can be inspected and tested on its own:

1. :meth:`SimCLRAugment.sample` draws a small :class:`Params` record on the CPU (crop box,
   flip, jitter factors and order, grayscale, blur sigma: one row per image), from a
   ``torch.Generator`` when given, so a seed gives the same views on any device.
2. :meth:`SimCLRAugment.apply` applies a :class:`Params` deterministically on the images'
   device: crop, resize and flip in one ``grid_sample``; colour jitter as four batched
   ops on index subsets; grayscale; a separable Gaussian blur as one grouped convolution
   per axis. No Python loop runs over images.

Every op follows the definition torchvision uses on float images, and the tests check
each against ``torchvision.transforms.v2.functional`` with the same parameters.

Input is ``uint8`` in 0..255 or float in 0..1, with 3 (RGB) or 1 (grayscale) channels.
A grayscale image stays one channel: saturation, hue and random grayscale leave it
unchanged (they are identities on gray pixels, as in torchvision), while crop, flip,
brightness, contrast and blur act as usual. Output is ``float32`` in [0, 1], shape
``(N, C, size, size)``, on the input's device.

>>> aug = simclr(32)
>>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
>>> view1, view2 = two_views(images, aug, torch.Generator().manual_seed(0))
>>> view1.shape, view1.dtype
(torch.Size([8, 3, 32, 32]), torch.float32)
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Params",
    "SimCLRAugment",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "crop_only",
    "each_op",
    "gaussian_blur",
    "gaussian_kernels",
    "simclr",
    "to_float",
    "two_views",
    "weak",
]

#: Luma weights of ITU-R 601-2, as in torchvision's ``rgb_to_grayscale``.
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)

#: Colour-jitter ops, numbered as in :attr:`Params.order`.
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")

_CROP_ATTEMPTS = 10  # as in torchvision's RandomResizedCrop.get_params


# --------------------------------------------------------------------------- input


def to_float(images: Tensor) -> Tensor:
    """Images as floats in [0, 1].

    images: (..., C, H, W) uint8 in 0..255, or floating point in 0..1.
    Returns: uint8 input divided by 255 as float32; floating input unchanged (same object).
    """
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 (0..255) or floating point (0..1), got dtype {images.dtype}")
    return images


# --------------------------------------------------------------------------- parameters


@dataclass(eq=False)
class Params:
    """Random parameters for a batch of N images, one row per image, all on the CPU.

    top, left, height, width: (N,) int64  crop box in pixels of the input image
    flip: (N,) bool                        mirror left-right after resizing
    jitter: (N,) bool                      apply colour jitter at all
    brightness, contrast, saturation: (N,) float32  factors, 1 = unchanged
    hue: (N,) float32                      hue shift in turns, in [-0.5, 0.5], 0 = unchanged
    order: (N, 4) int64                    per image, a permutation of 0..3 giving the order
                                           of the jitter ops (indices into ``JITTER_OPS``)
    grayscale: (N,) bool                   convert to grayscale (after jitter)
    blur: (N,) bool                        Gaussian blur (last)
    sigma: (N,) float32                    blur standard deviation in pixels
    """

    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor
    flip: Tensor
    jitter: Tensor
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    order: Tensor
    grayscale: Tensor
    blur: Tensor
    sigma: Tensor

    def __len__(self) -> int:
        return len(self.top)


def _sample_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Crop boxes drawn as ``RandomResizedCrop.get_params`` draws them, for n images at once.

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


def _factor_range(strength: float) -> tuple[float, float]:
    """``ColorJitter``'s range for a brightness, contrast or saturation strength s: [max(0, 1 - s), 1 + s]."""
    return max(0.0, 1.0 - strength), 1.0 + strength


# --------------------------------------------------------------------------- ops


def _crop_resize_flip(images: Tensor, params: Params, size: int) -> Tensor:
    """Crop each image to its box, resize to size × size (bilinear, no antialiasing), flip.

    One ``grid_sample`` does all three. Output pixel j of a crop starting at ``left`` with
    width ``w`` reads source column ``left + (j + 0.5) * w / size - 0.5`` (half-pixel centres,
    as ``interpolate(align_corners=False)``), clamped to [left, left + w - 1] so that pixels
    outside the crop never leak in; a flipped image reads column ``size - 1 - j`` instead.
    This reproduces torchvision's ``resized_crop(..., antialias=False)`` then ``hflip``.

    images: (N, C, H, W) float32; returns (N, C, size, size) float32.
    """
    n, _, height, width = images.shape
    j = torch.arange(size, dtype=torch.float64)
    j_flipped = torch.where(params.flip[:, None], size - 1 - j, j)  # (N, size)
    xs = _source_coordinates(params.left, params.width, j_flipped, size)  # (N, size)
    ys = _source_coordinates(params.top, params.height, j.expand(n, size), size)
    # grid_sample(align_corners=False) maps pixel coordinate p to (2p + 1) / extent - 1.
    gx = ((2 * xs + 1) / width - 1).to(torch.float32).to(images.device)
    gy = ((2 * ys + 1) / height - 1).to(torch.float32).to(images.device)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (N, size, size, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _source_coordinates(start: Tensor, extent: Tensor, j: Tensor, size: int) -> Tensor:
    """Source pixel coordinates read by output pixels j: (N,), (N,), (N, size) -> (N, size) float64."""
    start = start[:, None].to(torch.float64)
    extent = extent[:, None].to(torch.float64)
    coords = start + (j + 0.5) * extent / size - 0.5
    return torch.minimum(torch.maximum(coords, start), start + extent - 1)


def _grayscale(images: Tensor) -> Tensor:
    """Luma of RGB images: (N, 3, H, W) -> (N, 1, H, W); a 1-channel image is returned as is."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(dim=1)
    wr, wg, wb = GRAY_WEIGHTS
    return (r * wr).add_(g, alpha=wg).add_(b, alpha=wb).unsqueeze(1)


def _blend(images: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """clamp(factor * images + (1 - factor) * other, 0, 1) with factor: (N,) per image."""
    return torch.lerp(other, images, factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """clamp(factor * x): images (N, C, H, W) float in [0, 1], factor (N,) >= 0."""
    return (images * factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with the mean of its grayscale: images (N, C, H, W), factor (N,) >= 0."""
    mean = _grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(images, mean, factor)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with its grayscale: images (N, C, H, W), factor (N,) >= 0."""
    return _blend(images, _grayscale(images), factor)


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
    own_hue = torch.tensor([0.0, 2.0, 4.0], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    distance = (hue.unsqueeze(1) - own_hue).abs_()  # (N, 3, H, W), in [0, 6)
    distance = torch.minimum(distance, 6 - distance, out=distance)  # around the circle: [0, 3]
    ramp = distance.sub_(1).clamp_(0, 1)
    return ramp.mul_(-chroma.unsqueeze(1)).add_(value.unsqueeze(1))


_JITTER_FUNCTIONS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
_JITTER_IDENTITY = (1.0, 1.0, 1.0, 0.0)


def _color_jitter(images: Tensor, params: Params) -> Tensor:
    """Colour jitter with a per-image op order, in place on ``images`` (N, C, H, W).

    In each of the 4 slots, every op runs once on the subset of images whose order puts it
    in that slot, so the whole batch costs about 4 ops. Images without the jitter flag,
    and factors that change nothing, are skipped.
    """
    factors = torch.stack([params.brightness, params.contrast, params.saturation, params.hue], dim=1)
    for slot in range(4):
        for op, (function, identity) in enumerate(zip(_JITTER_FUNCTIONS, _JITTER_IDENTITY)):
            chosen = params.jitter & (params.order[:, slot] == op) & (factors[:, op] != identity)
            _apply_to_subset(images, chosen, function, factors[:, op])
    return images


def _apply_to_subset(
    images: Tensor, chosen: Tensor, function: Callable[..., Tensor], *per_image: Tensor
) -> None:
    """images[chosen] = function(images[chosen], *(p[chosen] for p in per_image)), in place.

    chosen: (N,) bool on the CPU; per_image: (N,) CPU tensors, moved to the images' device.
    """
    index = chosen.nonzero().squeeze(1)
    if len(index) == 0:
        return
    args = [p[index].to(images.device) for p in per_image]
    if len(index) == len(images):  # everyone: no need to gather and scatter
        images.copy_(function(images, *args))
        return
    index = index.to(images.device)
    images[index] = function(images[index], *args)


def _to_grayscale(images: Tensor) -> Tensor:
    """Grayscale replicated over the channels: (N, C, H, W) -> (N, C, H, W)."""
    return _grayscale(images).expand_as(images)


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
    kernels = gaussian_kernels(sigma.to(images.dtype), kernel_size).repeat_interleave(c, dim=0)  # (N*C, k)
    planes = F.pad(images, (pad, pad, pad, pad), mode="reflect").reshape(1, n * c, height + 2 * pad, -1)
    planes = F.conv2d(planes, kernels.view(n * c, 1, 1, kernel_size), groups=n * c)  # along rows
    planes = F.conv2d(planes, kernels.view(n * c, 1, kernel_size, 1), groups=n * c)  # along columns
    return planes.view(n, c, height, width)


# --------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class SimCLRAugment:
    """The SimCLR augmentation recipe with every op's strength and probability explicit.

    In order: random resized crop to ``size`` × ``size`` and horizontal flip; colour jitter
    (brightness, contrast, saturation, hue in a random order per image) with probability
    ``jitter_p``; grayscale with probability ``grayscale_p``; Gaussian blur with probability
    ``blur_p``. Any op is switched off by a probability (or strength) of 0. Meanings and
    valid ranges are those of torchvision's ``RandomResizedCrop``, ``RandomHorizontalFlip``,
    ``ColorJitter``, ``RandomGrayscale`` and ``GaussianBlur``.

    Images may have 3 (RGB) or 1 (grayscale) channels; on one channel, saturation, hue and
    grayscale change nothing, as in torchvision.

    The crop is resized bilinearly without antialiasing: identical to torchvision when the
    crop is enlarged (the usual case for 32 × 32 data), slightly sharper when it is shrunk.

    Build it with :func:`simclr`, :func:`crop_only` or :func:`weak`; change one field with
    ``dataclasses.replace(aug, blur_p=0.0)``.

    size: output side in pixels.
    scale: range of the crop's area as a fraction of the image, 0 < lo <= hi <= 1.
    ratio: range of the crop's aspect ratio width / height, 0 < lo <= hi.
    flip_p: probability of a horizontal flip.
    brightness, contrast, saturation: factor drawn uniformly in [max(0, 1 - s), 1 + s], s >= 0.
    hue: shift drawn uniformly in [-hue, hue] turns, 0 <= hue <= 0.5.
    jitter_p: probability that an image is colour-jittered at all.
    grayscale_p: probability of converting to grayscale.
    blur_p: probability of a Gaussian blur.
    blur_sigma: range of the blur's sigma in pixels, 0 < lo <= hi.
    blur_kernel: odd kernel side; None for about 10% of ``size`` (odd, at least 3).
    """

    size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    brightness: float = 0.8
    contrast: float = 0.8
    saturation: float = 0.8
    hue: float = 0.2
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel: int | None = None

    def __post_init__(self) -> None:
        _check_int("size", self.size, low=1)
        object.__setattr__(self, "scale", _check_range("scale", self.scale, low=0.0, high=1.0))
        object.__setattr__(self, "ratio", _check_range("ratio", self.ratio, low=0.0))
        object.__setattr__(self, "blur_sigma", _check_range("blur_sigma", self.blur_sigma, low=0.0))
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p"):
            _check_number(name, getattr(self, name), 0.0, 1.0)
        for name in ("brightness", "contrast", "saturation"):
            _check_number(name, getattr(self, name), 0.0, math.inf)
        _check_number("hue", self.hue, 0.0, 0.5)
        if self.blur_kernel is not None:
            _check_int("blur_kernel", self.blur_kernel, low=1)
            if self.blur_kernel % 2 == 0 or self.blur_kernel > 2 * self.size - 1:
                raise ValueError(
                    f"blur_kernel must be an odd integer in [1, {2 * self.size - 1}] for size {self.size} "
                    f"(reflect padding needs kernel // 2 < size), got {self.blur_kernel!r}"
                )

    @property
    def kernel_size(self) -> int:
        """The blur kernel side: ``blur_kernel``, or int(10% of ``size``) made odd, at least 3 (23 for 224)."""
        if self.blur_kernel is not None:
            return self.blur_kernel
        k = int(0.1 * self.size)
        return max(3, k if k % 2 else k + 1)

    def sample(self, n: int, height: int, width: int, generator: torch.Generator | None = None) -> Params:
        """Draw parameters for n images of height × width on the CPU.

        Uses ``generator`` (a CPU generator) if given, else torch's global CPU generator.
        Everything is drawn whether or not an op is switched on, so switching one op off
        does not change the random draws of the others.
        """
        _check_int("n", n, low=0)
        _check_int("height", height, low=1)
        _check_int("width", width, low=1)
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                f"generator must be a CPU torch.Generator (parameters are drawn on the CPU), "
                f"got one on {generator.device}"
            )
        top, left, crop_h, crop_w = _sample_crop_boxes(n, height, width, self.scale, self.ratio, generator)

        def uniform(low: float, high: float) -> Tensor:
            return torch.empty(n).uniform_(low, high, generator=generator)

        def coin(p: float) -> Tensor:
            return torch.rand(n, generator=generator) < p

        flip = coin(self.flip_p)
        jitter = coin(self.jitter_p)
        brightness = uniform(*_factor_range(self.brightness))
        contrast = uniform(*_factor_range(self.contrast))
        saturation = uniform(*_factor_range(self.saturation))
        hue = uniform(-self.hue, self.hue)
        order = torch.rand(n, 4, generator=generator).argsort(dim=1)  # a random permutation per row
        grayscale = coin(self.grayscale_p)
        blur = coin(self.blur_p)
        sigma = uniform(*self.blur_sigma)
        return Params(
            top=top, left=left, height=crop_h, width=crop_w, flip=flip,
            jitter=jitter, brightness=brightness, contrast=contrast, saturation=saturation, hue=hue, order=order,
            grayscale=grayscale, blur=blur, sigma=sigma,
        )  # fmt: skip

    def apply(self, images: Tensor, params: Params) -> Tensor:
        """Apply ``params`` to a batch, deterministically, on the images' device.

        images: (N, C, H, W) uint8 (0..255) or float (0..1), C in {1, 3}.
        params: from :meth:`sample` for N images of height H and width W.
        Returns: (N, C, size, size) float32 in [0, 1], on the images' device.
        """
        _check_images(images)
        _check_params(params, images.shape)
        x = _crop_resize_flip(to_float(images).to(torch.float32), params, self.size)
        _color_jitter(x, params)
        _apply_to_subset(x, params.grayscale, _to_grayscale)
        blur = functools.partial(gaussian_blur, kernel_size=self.kernel_size)
        _apply_to_subset(x, params.blur, blur, params.sigma)
        return x

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One random view of each image: (N, C, H, W) -> (N, C, size, size) float32 in [0, 1]."""
        _check_images(images)
        n, _, height, width = images.shape
        return self.apply(images, self.sample(n, height, width, generator))

    def __repr__(self) -> str:
        def p(value: float) -> str:
            return f"p={value:g}" if value > 0 else "off"

        def pair(values: tuple[float, float]) -> str:
            return f"({round(values[0], 3)}, {round(values[1], 3)})"

        jitter = p(self.jitter_p)
        if self.jitter_p > 0:
            jitter += ", " + ", ".join(f"{name}={getattr(self, name):g}" for name in JITTER_OPS)
        blur = p(self.blur_p)
        if self.blur_p > 0:
            blur += f", kernel={self.kernel_size}, sigma={pair(self.blur_sigma)}"
        lines = [
            f"SimCLRAugment(size={self.size})",
            f"  random resized crop  scale={pair(self.scale)}, ratio={pair(self.ratio)}",
            f"  horizontal flip      {p(self.flip_p)}",
            f"  colour jitter        {jitter}",
            f"  random grayscale     {p(self.grayscale_p)}",
            f"  gaussian blur        {blur}",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------- presets


def simclr(
    size: int,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    jitter_strength: float = 1.0,
    brightness: float | None = None,
    contrast: float | None = None,
    saturation: float | None = None,
    hue: float | None = None,
    jitter_p: float = 0.8,
    grayscale_p: float = 0.2,
    blur_p: float = 0.5,
    blur_sigma: tuple[float, float] = (0.1, 2.0),
    blur_kernel: int | None = None,
) -> SimCLRAugment:
    """The SimCLR recipe (Chen et al. 2020, appendix A).

    Colour distortion of strength s = ``jitter_strength``: brightness, contrast and
    saturation 0.8 s, hue 0.2 s; each can be overridden by name. Pass a probability of 0
    to switch an op off (e.g. ``blur_p=0.0``, common for 32 × 32 data).
    """
    _check_number("jitter_strength", jitter_strength, 0.0, math.inf)
    s = jitter_strength
    return SimCLRAugment(
        size=size,
        scale=scale,
        ratio=ratio,
        flip_p=flip_p,
        brightness=0.8 * s if brightness is None else brightness,
        contrast=0.8 * s if contrast is None else contrast,
        saturation=0.8 * s if saturation is None else saturation,
        hue=0.2 * s if hue is None else hue,
        jitter_p=jitter_p,
        grayscale_p=grayscale_p,
        blur_p=blur_p,
        blur_sigma=blur_sigma,
        blur_kernel=blur_kernel,
    )


def crop_only(
    size: int, *, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
) -> SimCLRAugment:
    """Random resized crop and horizontal flip, no colour ops: SimCLR's "crop alone" ablation."""
    return SimCLRAugment(size=size, scale=scale, ratio=ratio, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)


def weak(size: int) -> SimCLRAugment:
    """A gentle crop (at least half the image) and horizontal flip, no colour ops."""
    return crop_only(size, scale=(0.5, 1.0))


def each_op(size: int) -> dict[str, SimCLRAugment]:
    """The SimCLR recipe taken apart: one recipe per op with every other op switched off.

    Keys: ``"crop"``, ``"flip"``, ``"colour jitter"``, ``"grayscale"``, ``"blur"``, ``"all (SimCLR)"``.
    The single ops are always applied (p = 1; the flip at p = 0.5 so both orientations show;
    the crop with the recipe's scale and ratio).
    """
    off = {
        "scale": (1.0, 1.0),
        "ratio": (1.0, 1.0),
        "flip_p": 0.0,
        "jitter_p": 0.0,
        "grayscale_p": 0.0,
        "blur_p": 0.0,
    }
    recipe = simclr(size)
    return {
        "crop": SimCLRAugment(size, **{**off, "scale": recipe.scale, "ratio": recipe.ratio}),
        "flip": SimCLRAugment(size, **{**off, "flip_p": 0.5}),
        "colour jitter": SimCLRAugment(size, **{**off, "jitter_p": 1.0}),
        "grayscale": SimCLRAugment(size, **{**off, "grayscale_p": 1.0}),
        "blur": SimCLRAugment(size, **{**off, "blur_p": 1.0}),
        "all (SimCLR)": recipe,
    }


def two_views(
    images: Tensor, aug: SimCLRAugment, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Two independent random views of every image.

    images: (N, C, H, W) uint8 or float. Returns two (N, C, size, size) float32 tensors.
    """
    x = to_float(images)
    return aug(x, generator), aug(x, generator)


# --------------------------------------------------------------------------- checks


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        upper = "inf)" if high == math.inf else f"{high:g}]"
        raise ValueError(f"{name} must be a number in [{low:g}, {upper}, got {value!r}")


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_range(name: str, value: object, low: float, high: float = math.inf) -> tuple[float, float]:
    """A (lo, hi) pair with low < lo <= hi <= high, as a tuple of floats."""
    upper = "" if high == math.inf else f" <= {high:g}"
    message = f"{name} must be a pair (lo, hi) with {low:g} < lo <= hi{upper}, got {value!r}"
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not low < lo <= hi <= high:
        raise ValueError(message)
    return lo, hi


def _check_images(images: object) -> None:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, C, H, W) with C = 3 (RGB) or 1 (grayscale), got {tuple(images.shape)}"
        )


def _check_params(params: Params, shape: torch.Size) -> None:
    n, _, height, width = shape
    if len(params) != n:
        raise ValueError(f"params are for {len(params)} images but the batch has {n}")
    inside = (
        (params.top >= 0) & (params.left >= 0) & (params.height >= 1) & (params.width >= 1)
        & (params.top + params.height <= height) & (params.left + params.width <= width)
    )  # fmt: skip
    if not bool(inside.all()):
        raise ValueError(
            f"params hold crop boxes outside the {height} x {width} images; sample them for this size"
        )
