"""The SimCLR recipe as one object: its settings, random parameters, and application.

Two steps, so that each can be inspected and tested on its own:

1. :meth:`SimCLRAugment.sample` draws a small :class:`Params` record on the CPU (crop box,
   flip, jitter factors and order, grayscale, blur sigma, solarize: one row per image), from
   a ``torch.Generator`` when given, so a seed gives the same views on any device.
2. :meth:`SimCLRAugment.apply` applies a :class:`Params` deterministically on the images'
   device with the batched ops of :mod:`clkit.augment.ops`: crop, resize and flip in one
   ``grid_sample``; colour jitter as four batched ops on index subsets; grayscale; a
   separable Gaussian blur as one grouped convolution per axis; solarization. On a CUDA GPU the
   ops run on the whole batch, kept where drawn (:mod:`clkit.augment.dense`): the same views.

Presets: :func:`simclr`, :func:`crop_only`, :func:`weak` and :func:`each_op`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import torch
from torch import Tensor

from clkit.augment.ops import JITTER_OPS, apply_to_subset, color_jitter, crop_resize_flip, gaussian_blur
from clkit.augment.ops import sample_crop_boxes, solarize, to_device, to_grayscale, unit_float
from clkit.augment import dense
from clkit.data import to_float

__all__ = ["Params", "SimCLRAugment", "crop_only", "each_op", "simclr", "weak"]


# --------------------------------------------------------------------------- parameters


@dataclasses.dataclass(eq=False)
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
    blur: (N,) bool                        Gaussian blur (after grayscale)
    sigma: (N,) float32                    blur standard deviation in pixels
    solarize: (N,) bool                    solarize (last); left out, no image is solarized
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
    solarize: Tensor = None  # type: ignore[assignment]  # filled in by __post_init__

    def __post_init__(self) -> None:
        if self.solarize is None:
            self.solarize = torch.zeros(len(self.top), dtype=torch.bool)

    def __len__(self) -> int:
        return len(self.top)


def _factor_range(strength: float) -> tuple[float, float]:
    """``ColorJitter``'s range for a brightness, contrast or saturation strength s: [max(0, 1 - s), 1 + s]."""
    return max(0.0, 1.0 - strength), 1.0 + strength


# --------------------------------------------------------------------------- the recipe


@dataclasses.dataclass(frozen=True)
class SimCLRAugment:
    """The SimCLR augmentation recipe with every op's strength and probability explicit.

    In order: random resized crop to ``size`` × ``size`` and horizontal flip; colour jitter
    (brightness, contrast, saturation, hue in a random order per image) with probability
    ``jitter_p``; grayscale with probability ``grayscale_p``; Gaussian blur with probability
    ``blur_p``; solarization with probability ``solarize_p`` (off in SimCLR; BYOL's second
    view uses it). Any op is switched off by a probability (or strength) of 0. Meanings and
    valid ranges are those of torchvision's ``RandomResizedCrop``, ``RandomHorizontalFlip``,
    ``ColorJitter``, ``RandomGrayscale``, ``GaussianBlur`` and ``RandomSolarize``.

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
    solarize_p: probability of solarizing (pixels >= ``solarize_threshold`` become 1 - x).
    solarize_threshold: in [0, 1].
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
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5

    def __post_init__(self) -> None:
        _check_int("size", self.size, low=1)
        object.__setattr__(self, "scale", _check_range("scale", self.scale, low=0.0, high=1.0))
        object.__setattr__(self, "ratio", _check_range("ratio", self.ratio, low=0.0))
        object.__setattr__(self, "blur_sigma", _check_range("blur_sigma", self.blur_sigma, low=0.0))
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p", "solarize_threshold"):
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
        does not change the random draws of the others. The one exception is solarization,
        drawn last and only when ``solarize_p`` > 0: a recipe without it consumes exactly the
        random numbers it did before solarization existed, so the next draw from the same
        generator (the second view of :func:`~clkit.augment.two_views`) is unchanged too.
        """
        _check_int("n", n, low=0)
        _check_int("height", height, low=1)
        _check_int("width", width, low=1)
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                f"generator must be a CPU torch.Generator (parameters are drawn on the CPU), "
                f"got one on {generator.device}"
            )
        top, left, crop_h, crop_w = sample_crop_boxes(n, height, width, self.scale, self.ratio, generator)

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
        solar = coin(self.solarize_p) if self.solarize_p > 0 else torch.zeros(n, dtype=torch.bool)
        return Params(
            top=top, left=left, height=crop_h, width=crop_w, flip=flip,
            jitter=jitter, brightness=brightness, contrast=contrast, saturation=saturation, hue=hue, order=order,
            grayscale=grayscale, blur=blur, sigma=sigma, solarize=solar,
        )  # fmt: skip

    def apply(self, images: Tensor, params: Params, *, checked: bool = False) -> Tensor:
        """Apply ``params`` to a batch, deterministically, on the images' device.

        images: (N, C, H, W) uint8 (0..255) or float (0..1, else refused: see :func:`unit_float`), C in {1, 3}.
        params: from :meth:`sample` for N images of height H and width W.
        checked: the images are floats already known to lie in [0, 1] (:func:`views` checks them once for
            all its views), so the range check is skipped.
        Returns: (N, C, size, size) float32 in [0, 1], on the images' device.
        """
        _check_images(images)
        _check_params(params, images.shape)
        x = (to_float(images) if checked else unit_float(images)).to(torch.float32)
        with torch.autocast(x.device.type, enabled=False):  # pixels in float32, also inside a bf16 training step
            if x.device.type != "cuda":  # the CPU's path: each op on the images drawn for it, gathered
                return self._apply_to_subsets(x, params)
            return dense.apply_packed(x, to_device(dense.pack(params), x.device), self.size, self.kernel_size,
                                      self.solarize_threshold, self.blur_p > 0, self.solarize_p > 0)

    def _apply_to_subsets(self, x: Tensor, params: Params) -> Tensor:
        x = crop_resize_flip(x, params.top, params.left, params.height, params.width, params.flip, self.size)
        factors = torch.stack([params.brightness, params.contrast, params.saturation, params.hue], dim=1)
        color_jitter(x, params.jitter, params.order, factors)
        apply_to_subset(x, params.grayscale, to_grayscale)
        blur = functools.partial(gaussian_blur, kernel_size=self.kernel_size)
        apply_to_subset(x, params.blur, blur, params.sigma)
        apply_to_subset(x, params.solarize, functools.partial(solarize, threshold=self.solarize_threshold))
        return x

    def __call__(self, images: Tensor, generator: torch.Generator | None = None, *, checked: bool = False) -> Tensor:
        """One random view of each image: (N, C, H, W) -> (N, C, size, size) float32 in [0, 1] (``checked``: as for
        :meth:`apply`)."""
        _check_images(images)
        n, _, height, width = images.shape
        return self.apply(images, self.sample(n, height, width, generator), checked=checked)

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
        if self.solarize_p > 0:
            solar = f"{p(self.solarize_p)}, threshold={self.solarize_threshold:g}"
            lines.append(f"  solarize             {solar}")
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
    solarize_p: float = 0.0,
    solarize_threshold: float = 0.5,
) -> SimCLRAugment:
    """The SimCLR recipe (Chen et al. 2020, appendix A).

    Colour distortion of strength s = ``jitter_strength``: brightness, contrast and
    saturation 0.8 s, hue 0.2 s; each can be overridden by name. Pass a probability of 0
    to switch an op off (e.g. ``blur_p=0.0``, common for 32 × 32 data). SimCLR does not
    solarize; ``solarize_p`` adds it.
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
        solarize_p=solarize_p,
        solarize_threshold=solarize_threshold,
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
    off = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0), "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0}
    recipe = simclr(size)
    return {
        "crop": SimCLRAugment(size, **{**off, "scale": recipe.scale, "ratio": recipe.ratio}),
        "flip": SimCLRAugment(size, **{**off, "flip_p": 0.5}),
        "colour jitter": SimCLRAugment(size, **{**off, "jitter_p": 1.0}),
        "grayscale": SimCLRAugment(size, **{**off, "grayscale_p": 1.0}),
        "blur": SimCLRAugment(size, **{**off, "blur_p": 1.0}),
        "all (SimCLR)": recipe,
    }


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
