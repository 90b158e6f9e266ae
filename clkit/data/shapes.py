"""The procedural ``shapes`` dataset: 10 shapes, 32×32 RGB, drawn from a seed.

``make_shapes(n, seed)`` renders ``n`` images; ``load("shapes", split)`` draws the train
split (10,000 images) and the test split (2,000) from two fixed seeds.

Why the procedural set looks the way it does
--------------------------------------------
Contrastive learning keeps whatever survives its augmentations. Each nuisance factor
of ``shapes`` is chosen by that rule:

* **colour** of the shape and of the background (random, with a minimum luminance
  contrast so the shape is always visible): colour jitter and grayscale destroy it, so
  it pushes the encoder towards the shape; and it is what makes raw pixels a weak
  baseline, because two images of different shapes in similar colours are closer in
  pixel space than the same shape in different colours.
* **position and scale** (shape radius 0.4-0.7 of half the image, anywhere that keeps
  it whole): random crops destroy them, with the same effect.
* **rotation**, only about ±17°: enough to blur pixel templates, small enough that no
  class turns into another (there is no square/diamond pair) and that the rotation
  itself does not become a shortcut feature that separates instances.
* **background texture**, deliberately *weak* (a faint linear gradient plus
  low-amplitude pixel noise): a strong texture survives cropping and colour jitter, and
  an encoder then separates instances by their texture instead of their shape (feature
  suppression). Strong textures are a lesson of their own, not the default.
* **polarity**, fixed: the shape is always the lighter of its two colours. Whether a shape
  is lighter or darker than its background survives every SimCLR augmentation (jitter
  rescales and shifts the contrast, grayscale keeps its sign), so when it varies the
  encoder sorts images by it and not by shape. Measured with ``bench/ablate_default.py``
  (20 epochs, 2 CPU cores): random polarity 89.4% kNN, fixed polarity 95.2%, same recipe.
  The random-polarity set is kept as ``shapes_polarity``, for the lesson on feature
  suppression.

With these choices a kNN classifier on raw pixels (cosine, k = 20, train 10,000 → test
2,000) reaches about 0.23 against a chance level of 0.10: weak, so a learned
representation has room to win, while the shapes stay obvious to a person.

Each image is rendered without a Python loop over images: every pixel of a supersampled
grid is mapped into shape-local coordinates (inverse translation, rotation and scale, per
image), an inside test decides whether it is in the shape, and average pooling turns
the supersampled mask into antialiased coverage.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.data.records import ImageSet

__all__ = ["SHAPES", "SHAPE_CLASSES", "make_shapes", "shape_attributes", "shape_polarity"]

# Each shape is an inside test on shape-local coordinates (x right, y up) and fits inside
# the unit disc, so placing that disc inside the image never cuts a shape off. Per-image
# scale, rotation and position are applied by mapping pixels into this frame, so the tests
# themselves stay simple.


def _circle(x: Tensor, y: Tensor) -> Tensor:
    return x * x + y * y < 0.85**2


def _ring(x: Tensor, y: Tensor) -> Tensor:
    r2 = x * x + y * y
    return (r2 < 0.95**2) & (r2 > 0.52**2)


def _square(x: Tensor, y: Tensor) -> Tensor:
    return (x.abs() < 0.7) & (y.abs() < 0.7)


def _triangle(x: Tensor, y: Tensor) -> Tensor:
    # Equilateral, pointing up, inscribed in the unit disc (its centre is the disc's).
    h = 0.5  # the apothem: half the circumradius
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    return (y > -h) & (c * x + s * y < h) & (-c * x + s * y < h)


def _plus(x: Tensor, y: Tensor) -> Tensor:
    ax, ay = x.abs(), y.abs()
    w, length = 0.3, 0.92
    return ((ax < w) & (ay < length)) | ((ay < w) & (ax < length))


def _star(x: Tensor, y: Tensor) -> Tensor:
    # Five-pointed star: fold the angle into one tenth of the turn, where the boundary is
    # the straight edge from an outer tip (radius R, angle 0) to an inner corner (radius r,
    # angle 36°); a point is inside when it is on the origin's side of that edge's line.
    R, r = 1.0, 0.45
    sector = 2 * math.pi / 5
    phi = torch.atan2(x, y)  # 0 = straight up, where a tip is
    a = torch.remainder(phi + sector / 2, sector) - sector / 2
    a = a.abs()
    # Edge from (R, 0) to (r cos 36°, r sin 36°) in the folded frame; normal n, offset d.
    px, py = r * math.cos(sector / 2), r * math.sin(sector / 2)
    nx, ny = py, R - px  # perpendicular to (px - R, py), pointing away from the origin
    norm = math.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    d = R * nx
    rho = torch.sqrt(x * x + y * y)
    return rho * (torch.cos(a) * nx + torch.sin(a) * ny) < d


def _hexagon(x: Tensor, y: Tensor) -> Tensor:
    # Regular hexagon with flat top and bottom, circumradius R.
    R = 0.95
    apothem = R * math.sqrt(3) / 2
    ax, ay = x.abs(), y.abs()
    return (ay < apothem) & (ax * math.sqrt(3) / 2 + ay / 2 < apothem)


def _crescent(x: Tensor, y: Tensor) -> Tensor:
    # A disc with a smaller disc cut out of its upper right.
    inside = x * x + y * y < 0.9**2
    cx, cy = 0.42, 0.22
    cut = (x - cx) ** 2 + (y - cy) ** 2 < 0.72**2
    return inside & ~cut


def _heart(x: Tensor, y: Tensor) -> Tensor:
    # The classic implicit heart (x² + y² − 1)³ − x² y³ < 0, scaled to the unit disc.
    hx = x * 1.3
    hy = y * 1.3 + 0.2
    q = hx * hx + hy * hy - 1
    return q * q * q - hx * hx * hy * hy * hy < 0


def _arrow(x: Tensor, y: Tensor) -> Tensor:
    # Pointing right: a shaft and a triangular head.
    shaft = (x > -0.95) & (x < 0.1) & (y.abs() < 0.22)
    tip, base, half = 0.95, 0.0, 0.72
    head = (x > base) & (y.abs() < half * (tip - x) / (tip - base))
    return shaft | head


SHAPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "circle": _circle,
    "ring": _ring,
    "square": _square,
    "triangle": _triangle,
    "plus": _plus,
    "star": _star,
    "hexagon": _hexagon,
    "crescent": _crescent,
    "heart": _heart,
    "arrow": _arrow,
}
SHAPE_CLASSES: tuple[str, ...] = tuple(SHAPES)

# Nuisance ranges (coordinates are in units of half the image width).
SHAPES_ROTATION_DEG = 17.0  # uniform in ±17°
SHAPES_SCALE = (0.4, 0.7)  # shape radius as a fraction of half the image, log-uniform
SHAPES_MARGIN = 1.0  # the scaled unit disc around the shape stays inside the image
SHAPES_MIN_CONTRAST = 0.3  # |luminance(fg) − luminance(bg)| on a 0..1 scale
SHAPES_GRADIENT = 0.06  # background gradient: at most ±0.06 (0..1 scale) at the far corners
SHAPES_NOISE = 0.012  # std of the pixel noise (about 3/255)
SHAPES_SUPERSAMPLE = 4  # inside tests per pixel along each axis
SHAPES_SEEDS = {"train": 0, "test": 1_000_003}
SHAPES_SIZES = {"train": 10_000, "test": 2_000}

_LUMA = (0.299, 0.587, 0.114)


def _luminance(rgb: Tensor) -> Tensor:
    return rgb @ torch.tensor(_LUMA, dtype=rgb.dtype)


def _contrasting_colours(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """(n, 3) foreground and background colours in [0, 1] with luminance contrast ≥ the minimum."""
    fg = torch.rand(n, 3, generator=g)
    bg = torch.rand(n, 3, generator=g)
    bad = (_luminance(fg) - _luminance(bg)).abs() < SHAPES_MIN_CONTRAST
    while bool(bad.any()):  # redraw the pairs that are too close, all at once
        k = int(bad.sum())
        fg[bad] = torch.rand(k, 3, generator=g)
        bg[bad] = torch.rand(k, 3, generator=g)
        bad = (_luminance(fg) - _luminance(bg)).abs() < SHAPES_MIN_CONTRAST
    return fg, bg


POLARITIES = ("light", "dark", "random")


def _draw(n: int, g: torch.Generator, polarity: str):
    """Every per-image random choice of :func:`make_shapes`, in the generator's order."""
    k = len(SHAPE_CLASSES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    lo, hi = math.log(SHAPES_SCALE[0]), math.log(SHAPES_SCALE[1])
    scale = torch.exp(lo + (hi - lo) * torch.rand(n, generator=g))
    angle = math.radians(SHAPES_ROTATION_DEG) * (2 * torch.rand(n, generator=g) - 1)
    reach = SHAPES_MARGIN - scale  # how far the centre may move and keep the shape inside
    centre = (2 * torch.rand(n, 2, generator=g) - 1) * reach[:, None]
    fg, bg = _contrasting_colours(n, g)
    if polarity != "random":
        swap = (_luminance(fg) < _luminance(bg)) if polarity == "light" else (_luminance(fg) > _luminance(bg))
        fg, bg = torch.where(swap[:, None], bg, fg), torch.where(swap[:, None], fg, bg)
    grad_dir = 2 * math.pi * torch.rand(n, generator=g)
    grad_amp = SHAPES_GRADIENT * torch.rand(n, generator=g)
    return labels, scale, angle, centre, fg, bg, grad_dir, grad_amp


def shape_attributes(n: int, seed: int = 0, polarity: str = "light") -> dict[str, Tensor]:
    """The nuisances :func:`make_shapes` drew for each image, without drawing the images.

    The same ``n``, ``seed`` and ``polarity`` give the attributes of the same images, in the same order: what a
    representation should be free to forget, to measure how much of each it kept (notebook 03).

    Returns:
        name → (n,) float tensor: ``size`` (the shape's scale, a fraction of the half-width), ``rotation``
        (degrees), ``x`` and ``y`` (the centre, in [-1, 1], y up), ``shape brightness`` and
        ``background brightness`` (luminance of the two colours, in [0, 1]).
    """
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    _, scale, angle, centre, fg, bg, _, _ = _draw(n, torch.Generator().manual_seed(seed), polarity)
    return {"size": scale, "rotation": torch.rad2deg(angle), "x": centre[:, 0], "y": centre[:, 1],
            "shape brightness": _luminance(fg), "background brightness": _luminance(bg)}


def make_shapes(n: int, seed: int = 0, size: int = 32, polarity: str = "light") -> ImageSet:
    """Draw ``n`` images of the 10 procedural shapes; the same ``seed`` gives the same bytes.

    Per image: a shape (classes balanced, order shuffled), its position, scale (log-uniform),
    rotation (±17°), shape and background colours (random, luminance contrast ≥ 0.3), a faint
    background gradient and low-amplitude pixel noise. See the module docstring for why.

    Args:
        n: number of images.
        seed: seed of the generator that draws every random choice.
        size: height and width in pixels (the geometry is resolution-independent).
        polarity: ``"light"`` makes every shape the lighter of its two colours (the default set),
            ``"dark"`` the darker, ``"random"`` keeps whichever was drawn, so that the light/dark
            contrast varies between images: a nuisance every augmentation keeps (``shapes_polarity``).
            The colour draws are the same for all three; only the two colours swap.
    Returns:
        ImageSet named ``"shapes"``: images (n, 3, size, size) uint8, labels (n,) int64.
    """
    if n < 0 or size < 1:
        raise ValueError(f"need n >= 0 and size >= 1, got n={n}, size={size}")
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    g = torch.Generator().manual_seed(seed)
    labels, scale, angle, centre, fg, bg, grad_dir, grad_amp = _draw(n, g, polarity)

    p = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    pu, pv = p.view(1, 1, size), -p.view(1, size, 1)

    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    chunk = _chunk(size)  # a fixed schedule, so the noise draws are reproducible
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        m = sl.stop - sl.start
        cover = shape_coverage(labels[sl], scale[sl], angle[sl], centre[sl], size)  # (m, 1, size, size)
        ramp = torch.cos(grad_dir[sl]).view(-1, 1, 1) * pu + torch.sin(grad_dir[sl]).view(-1, 1, 1) * pv
        back = bg[sl].view(m, 3, 1, 1) + (grad_amp[sl].view(-1, 1, 1) * ramp / math.sqrt(2)).unsqueeze(1)
        img = back + (fg[sl].view(m, 3, 1, 1) - back) * cover
        img = img + SHAPES_NOISE * torch.randn(m, 3, size, size, generator=g)
        images[sl] = (img * 255).round_().clamp_(0, 255).to(torch.uint8)
    name = "shapes" if polarity == "light" else f"shapes_{polarity}" if polarity == "dark" else "shapes_polarity"
    return ImageSet(images=images, labels=labels, classes=list(SHAPE_CLASSES), name=name)


def _chunk(size: int) -> int:
    """Images rendered at once: about 4M supersampled pixels."""
    fine = size * SHAPES_SUPERSAMPLE
    return max(1, 2**22 // (fine * fine))


def shape_coverage(labels: Tensor, scale: Tensor, angle: Tensor, centre: Tensor, size: int) -> Tensor:
    """(n, 1, size, size) antialiased coverage of each image's shape, in [0, 1].

    Every pixel of a grid supersampled :data:`SHAPES_SUPERSAMPLE` times is mapped into the shape's own
    coordinates (moved to its centre, rotated by −angle, divided by its scale) and tested by the inside test
    of :data:`SHAPES`; average pooling turns the tests into coverage. Deterministic: it draws nothing.

    Args:
        labels: (n,) shape indices into :data:`SHAPES`; scale, angle: (n,); centre: (n, 2) in [-1, 1], v up.
    """
    fine = size * SHAPES_SUPERSAMPLE
    t = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine * 2 - 1  # pixel centres in [-1, 1]
    u, v = t.view(1, 1, fine), -t.view(1, fine, 1)  # u right, v up (row 0 is the top)
    cover = torch.empty(len(labels), 1, size, size)
    chunk = _chunk(size)
    for start in range(0, len(labels), chunk):
        sl = slice(start, start + chunk)
        fine_cover = torch.zeros(len(labels[sl]), fine, fine)
        for c, inside in enumerate(SHAPES.values()):
            idx = (labels[sl] == c).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            j = idx + start
            cos, sin = torch.cos(angle[j]).view(-1, 1, 1), torch.sin(angle[j]).view(-1, 1, 1)
            du, dv = u - centre[j, 0].view(-1, 1, 1), v - centre[j, 1].view(-1, 1, 1)
            inv = (1 / scale[j]).view(-1, 1, 1)
            fine_cover[idx] = inside((cos * du + sin * dv) * inv, (cos * dv - sin * du) * inv).float()
        cover[sl] = F.avg_pool2d(fine_cover.unsqueeze(1), SHAPES_SUPERSAMPLE)
    return cover


def shape_polarity(images: Tensor) -> Tensor:
    """Whether each shape is lighter than its background: (N, C, H, W) → (N,) bool.

    The shape covers a minority of the pixels, so it pulls the mean luminance away from the
    median (the background's) in its own direction. The sign of that contrast survives every
    SimCLR augmentation (jitter rescales and shifts it, grayscale keeps it), which makes it a
    feature an encoder can use to tell images apart without looking at the shape (notebook 09).
    """
    x = images.float()
    gray = x.mean(1) if x.shape[1] == 1 else torch.einsum("nchw,c->nhw", x[:, :3], torch.tensor(_LUMA))
    gray = gray.flatten(1)
    return gray.mean(1) > gray.median(1).values

