"""Datasets, all returned as one small record: :class:`ImageSet`.

Every loader returns the same thing, an :class:`ImageSet` holding ``images`` (uint8,
N×C×H×W), ``labels`` (int64, N), the class names and, where there are any, captions.
Augmentations, encoders and evaluations downstream never need to know where the
images came from.

Datasets (``load(name, split)``):

================  =======  ==========================================================
name              offline  what it is
================  =======  ==========================================================
``shapes``        yes      procedural: 10 shapes, 32×32 RGB, drawn from a seed
                           (train 10,000 / test 2,000); the default dataset
``digits``        yes      scikit-learn's 1,797 handwritten 8×8 digits, 1 channel,
                           fixed stratified 80/20 split
``photos``        yes      the 8 colour photos scikit-image ships, 128×128 RGB, one
                           class per photo, the same 8 images in both splits
``cifar10``       no       CIFAR-10 through torchvision (32×32 RGB, 50k / 10k)
``stl10``         no       STL-10 labelled splits through torchvision (96×96, 5k / 8k)
``fashion_mnist`` no       Fashion-MNIST through torchvision (28×28 grey, 60k / 10k)
================  =======  ==========================================================

The real datasets live under ``root`` in torchvision's own layout and are downloaded
only when asked (``download=True``); when they are missing, :class:`DatasetNotFoundError`
says where they were looked for, how to get them, and which datasets work offline.

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

With these choices a kNN classifier on raw pixels (cosine, k = 20, train 10,000 → test
2,000) reaches about 0.23 against a chance level of 0.10: weak, so a learned
representation has room to win, while the shapes stay obvious to a person.

Each image is rendered without a Python loop over images: every pixel of a supersampled
grid is mapped into shape-local coordinates (inverse translation, rotation and scale, per
image), an inside test decides whether it is in the shape, and average pooling turns
the supersampled mask into antialiased coverage.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from urllib.error import URLError

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DATASETS",
    "OFFLINE",
    "SHAPE_CLASSES",
    "DatasetNotFoundError",
    "ImageSet",
    "available",
    "load",
    "make_shapes",
    "shape_polarity",
]

OFFLINE: tuple[str, ...] = ("shapes", "digits", "photos")
ONLINE: tuple[str, ...] = ("cifar10", "stl10", "fashion_mnist")
DATASETS: tuple[str, ...] = OFFLINE + ONLINE
SPLITS: tuple[str, ...] = ("train", "test")


# ----------------------------------------------------------------------------- the record


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



@dataclass(eq=False, repr=False)
class ImageSet:
    """A labelled set of images, the one record every loader returns.

    Attributes:
        images: (N, C, H, W) uint8, 0..255.
        labels: (N,) int64, each in ``0 .. len(classes) - 1``.
        classes: class names; ``classes[labels[i]]`` names image i.
        name: where the images come from (``"shapes"``, ``"cifar10"``, ...).
        captions: optional list of N strings describing each image (for CLIP-style models).

    Indexing with a slice, an index tensor/list or a boolean mask returns a smaller
    ImageSet (an integer gives a set of one image); ``take(n)`` draws a class-balanced subset.
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.images, Tensor) or not isinstance(self.labels, Tensor):
            raise TypeError(
                f"images and labels must be torch tensors, got {type(self.images).__name__} and "
                f"{type(self.labels).__name__}"
            )
        if self.images.dtype != torch.uint8:
            raise TypeError(
                f"images must be uint8 (0..255), got {self.images.dtype}; "
                "convert float images in [0, 1] with (x * 255).round().to(torch.uint8)"
            )
        if self.images.ndim != 4:
            raise ValueError(f"images must be 4-D (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64:
            raise TypeError(f"labels must be int64, got {self.labels.dtype}; use labels.long()")
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D (N,), got shape {tuple(self.labels.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels; they must match")
        self.classes = list(self.classes)
        if not all(isinstance(c, str) for c in self.classes):
            raise TypeError("classes must be a list of strings")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(
                f"labels must lie in 0..{len(self.classes) - 1} for {len(self.classes)} classes, "
                f"got values from {int(self.labels.min())} to {int(self.labels.max())}"
            )
        if self.labels.device != self.images.device:
            raise ValueError(f"images are on {self.images.device} but labels on {self.labels.device}")
        if self.captions is not None:
            self.captions = list(self.captions)
            if len(self.captions) != len(self.images):
                raise ValueError(
                    f"{len(self.images)} images but {len(self.captions)} captions; they must match"
                )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | Tensor | list[int]) -> ImageSet:
        """The subset at ``index`` (slice, int64 index tensor or list, bool mask, or one int)."""
        if isinstance(index, int):
            index = [index]
        positions = torch.arange(len(self))[index]  # normalises every kind of index, with bounds checks
        positions = positions.reshape(-1)
        captions = None if self.captions is None else [self.captions[i] for i in positions.tolist()]
        on = positions.to(self.images.device)
        return ImageSet(self.images[on], self.labels[on], self.classes, self.name, captions)

    def take(self, n: int, seed: int | None = None) -> ImageSet:
        """A class-balanced subset of ``n`` images, in dataset order.

        Each class present gets ``n // classes`` images (classes with too few give all they
        have and the rest is shared among the others; the remainder goes to the lowest
        class indices). ``seed=None`` takes the first images of each class; an integer seed
        picks them at random, the same way every time.
        """
        if not 0 <= n <= len(self):
            raise ValueError(f"cannot take {n} images from a set of {len(self)}")
        labels = self.labels.cpu()
        present = torch.unique(labels)
        counts = [int((labels == c).sum()) for c in present]
        quota = [0] * len(present)
        left = n
        # Water-filling: small classes give everything they have, the rest is split evenly.
        while left > 0:
            open_ = [i for i in range(len(present)) if quota[i] < counts[i]]
            share, extra = divmod(left, len(open_))
            for rank, i in enumerate(open_):
                add = min(counts[i] - quota[i], share + (1 if rank < extra else 0))
                quota[i] += add
                left -= add
        g = None if seed is None else torch.Generator().manual_seed(seed)
        chosen = []
        for c, q in zip(present, quota):
            members = (labels == c).nonzero().squeeze(1)
            if g is not None:
                members = members[torch.randperm(len(members), generator=g)]
            chosen.append(members[:q])
        index = torch.cat(chosen).sort().values if chosen else torch.zeros(0, dtype=torch.int64)
        return self[index]

    def to(self, device: torch.device | str) -> ImageSet:
        """The same set with images and labels on ``device``."""
        return ImageSet(
            self.images.to(device), self.labels.to(device), self.classes, self.name, self.captions
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        extra = ", captions" if self.captions is not None else ""
        device = "" if self.images.device.type == "cpu" else f", device={self.images.device}"
        return f"ImageSet({self.name!r}, N={n}, {c}×{h}×{w}, {len(self.classes)} classes{extra}{device})"


# ----------------------------------------------------------------------------- shapes

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


def make_shapes(n: int, seed: int = 0, size: int = 32) -> ImageSet:
    """Draw ``n`` images of the 10 procedural shapes; the same ``seed`` gives the same bytes.

    Per image: a shape (classes balanced, order shuffled), its position, scale (log-uniform),
    rotation (±17°), shape and background colours (random, luminance contrast ≥ 0.3), a faint
    background gradient and low-amplitude pixel noise. See the module docstring for why.

    Args:
        n: number of images.
        seed: seed of the generator that draws every random choice.
        size: height and width in pixels (the geometry is resolution-independent).
    Returns:
        ImageSet named ``"shapes"``: images (n, 3, size, size) uint8, labels (n,) int64.
    """
    if n < 0 or size < 1:
        raise ValueError(f"need n >= 0 and size >= 1, got n={n}, size={size}")
    g = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    lo, hi = math.log(SHAPES_SCALE[0]), math.log(SHAPES_SCALE[1])
    scale = torch.exp(lo + (hi - lo) * torch.rand(n, generator=g))
    angle = math.radians(SHAPES_ROTATION_DEG) * (2 * torch.rand(n, generator=g) - 1)
    reach = SHAPES_MARGIN - scale  # how far the centre may move and keep the shape inside
    centre = (2 * torch.rand(n, 2, generator=g) - 1) * reach[:, None]
    fg, bg = _contrasting_colours(n, g)
    grad_dir = 2 * math.pi * torch.rand(n, generator=g)
    grad_amp = SHAPES_GRADIENT * torch.rand(n, generator=g)

    ss = SHAPES_SUPERSAMPLE
    fine = size * ss
    t = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine * 2 - 1  # pixel centres in [-1, 1]
    u, v = t.view(1, 1, fine), -t.view(1, fine, 1)  # u right, v up (row 0 is the top)
    p = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    pu, pv = p.view(1, 1, size), -p.view(1, size, 1)

    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    chunk = max(1, 2**22 // (fine * fine))  # a fixed schedule, so the noise draws are reproducible
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        m = sl.stop - sl.start
        cover = torch.empty(m, fine, fine)
        for c, test in enumerate(SHAPES.values()):
            idx = (labels[sl] == c).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            j = idx + start
            cos, sin = torch.cos(angle[j]).view(-1, 1, 1), torch.sin(angle[j]).view(-1, 1, 1)
            inv = (1 / scale[j]).view(-1, 1, 1)
            du = u - centre[j, 0].view(-1, 1, 1)
            dv = v - centre[j, 1].view(-1, 1, 1)
            x = (cos * du + sin * dv) * inv  # rotate by −angle, then undo the scale
            y = (cos * dv - sin * du) * inv
            cover[idx] = test(x, y).float()
        cover = F.avg_pool2d(cover.unsqueeze(1), ss)  # (m, 1, size, size) antialiased coverage
        ramp = torch.cos(grad_dir[sl]).view(-1, 1, 1) * pu + torch.sin(grad_dir[sl]).view(-1, 1, 1) * pv
        back = bg[sl].view(m, 3, 1, 1) + (grad_amp[sl].view(-1, 1, 1) * ramp / math.sqrt(2)).unsqueeze(1)
        img = back + (fg[sl].view(m, 3, 1, 1) - back) * cover
        img = img + SHAPES_NOISE * torch.randn(m, 3, size, size, generator=g)
        images[sl] = (img * 255).round_().clamp_(0, 255).to(torch.uint8)
    return ImageSet(images=images, labels=labels, classes=list(SHAPE_CLASSES), name="shapes")


def shape_polarity(images: Tensor) -> Tensor:
    """Whether each shape is lighter than its background: (N, C, H, W) → (N,) bool.

    The shape covers a minority of the pixels, so it pulls the mean luminance away from the
    median (the background's) in its own direction. The sign of that contrast survives every
    SimCLR augmentation (jitter rescales and shifts it, grayscale keeps it), which makes it a
    feature an encoder can use to tell images apart without looking at the shape (notebook 05).
    """
    x = images.float()
    gray = x.mean(1) if x.shape[1] == 1 else torch.einsum("nchw,c->nhw", x[:, :3], torch.tensor(_LUMA))
    gray = gray.flatten(1)
    return gray.mean(1) > gray.median(1).values


# ----------------------------------------------------------------------------- bundled sets

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


def _digits(split: str) -> ImageSet:
    """scikit-learn's 8×8 digits, 1 channel, values 0..16 scaled to 0..255; fixed stratified split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            'load("digits") needs scikit-learn, which ships the images: pip install scikit-learn '
            '(or pip install "clkit[lab]")'
        ) from e
    bunch = load_digits()
    pixels = torch.as_tensor(bunch.images, dtype=torch.float64)  # (1797, 8, 8), 0..16
    images = (pixels * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    # Stratified split: within each class, a seeded shuffle, then the first 20% go to test.
    g = torch.Generator().manual_seed(DIGITS_SPLIT_SEED)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(10):
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=g)]
        test[members[: round(DIGITS_TEST_FRACTION * len(members))]] = True
    keep = test if split == "test" else ~test
    return ImageSet(images[keep], labels[keep], [str(d) for d in range(10)], "digits")


# (class name, skimage.data function, caption); all bundled with scikit-image, no download.
PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "astronaut", "a portrait of an astronaut in a spacesuit in front of a flag"),
    ("cat", "chelsea", "a photo of a ginger tabby cat"),
    ("coffee", "coffee", "a cup of coffee on a saucer"),
    ("galaxies", "hubble_deep_field", "the Hubble deep field, many small galaxies on black"),
    ("tissue", "immunohistochemistry", "a microscope image of stained tissue"),
    ("motorcycle", "stereo_motorcycle", "a red motorcycle parked in a garage"),
    ("retina", "retina", "a fundus photograph of a human retina"),
    ("rocket", "rocket", "a rocket on its launch pad at dusk"),
)
PHOTO_SIZE = 128


def _square_resize(image: Tensor, size: int) -> Tensor:
    """(C, H, W) uint8 → (C, size, size) uint8: centre-crop to a square, resize with antialiasing."""
    _, h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[:, top : top + side, left : left + side].float().unsqueeze(0)
    out = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.squeeze(0).round().clamp(0, 255).to(torch.uint8)


def _photos() -> ImageSet:
    """The colour photos bundled with scikit-image, 128×128 RGB, class i = photo i."""
    try:
        import skimage.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            'load("photos") needs scikit-image, which ships the photos: pip install scikit-image '
            '(or pip install "clkit[lab]")'
        ) from e
    images = []
    for _, function, _ in PHOTOS:
        array = getattr(skimage.data, function)()
        if isinstance(array, tuple):  # stereo_motorcycle gives (left, right, disparity)
            array = array[0]
        hwc = torch.as_tensor(array[..., :3].copy(), dtype=torch.uint8)
        images.append(_square_resize(hwc.permute(2, 0, 1), PHOTO_SIZE))
    return ImageSet(
        images=torch.stack(images),
        labels=torch.arange(len(PHOTOS)),
        classes=[name for name, _, _ in PHOTOS],
        name="photos",
        captions=[caption for _, _, caption in PHOTOS],
    )


# ----------------------------------------------------------------------------- torchvision sets


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not under ``root`` (or failed their checks) and were not downloaded."""


# Facts used to find the files and to tell a person how to get them.
_REAL = {
    "cifar10": {"torchvision": "CIFAR10", "folder": "cifar-10-batches-py", "size": "about 170 MB"},
    "stl10": {
        "torchvision": "STL10",
        "folder": "stl10_binary",
        "size": "about 2.6 GB, most of it unlabelled images",
    },
    "fashion_mnist": {"torchvision": "FashionMNIST", "folder": "FashionMNIST/raw", "size": "about 30 MB"},
}
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _expected_files(name: str) -> list[str]:
    """File names torchvision needs for ``name``, relative to its folder (read from torchvision's class)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _REAL[name]["torchvision"])
    if name == "cifar10":
        return [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    if name == "stl10":
        return [f for f, _ in cls.train_list + cls.test_list]
    # FashionMNIST: the unpacked idx files (torchvision also accepts the .gz files, which it unpacks).
    return [f.removesuffix(".gz") for f, _ in cls.resources]


def _files_present(name: str, root: str) -> bool:
    folder = os.path.join(root, _REAL[name]["folder"])
    for f in _expected_files(name):
        path = os.path.join(folder, f)
        if not (os.path.isfile(path) or (name == "fashion_mnist" and os.path.isfile(path + ".gz"))):
            return False
    return True


def _unpack_gz(folder: str, files: list[str]) -> None:
    """Unpack ``f.gz`` to ``f`` where only the archive is there (torchvision reads unpacked idx files)."""
    for f in files:
        path = os.path.join(folder, f)
        if not os.path.isfile(path) and os.path.isfile(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _not_found_message(name: str, split: str, root: str, download: bool, cause: BaseException | None) -> str:
    info = _REAL[name]
    folder = os.path.join(os.path.abspath(root), info["folder"])
    present = _files_present(name, root)
    if download:
        what = f"could not be downloaded into {os.path.abspath(root)} ({type(cause).__name__}: {cause})"
    elif present:
        what = (
            f"is in {folder} but torchvision refused the files ({type(cause).__name__}: {cause}); "
            "they may be incomplete or corrupted"
        )
    else:
        what = f"is not in {folder} (looked for {', '.join(_expected_files(name))})"
    offline = ", ".join(f'"{n}"' for n in OFFLINE)
    where = "" if root == default_root() else f', root="{root}"'
    call = f'clkit.data.load("{name}"{where}, download=True)'
    return (
        f'Dataset "{name}" ({split} split) {what}.\n'
        f"To get it: run {call} on a machine with internet "
        f"access ({info['size']}), or copy the files in torchvision's layout into {folder}.\n"
        f"Datasets that work offline now: {offline}."
    )


def _torchvision(name: str, split: str, root: str, download: bool) -> ImageSet:
    import torchvision.datasets as tvd

    train = split == "train"
    try:
        if name == "fashion_mnist":
            raw = os.path.join(root, _REAL[name]["folder"])
            _unpack_gz(raw, _expected_files(name))
        if name == "cifar10":
            ds = tvd.CIFAR10(root, train=train, download=download)
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC → NCHW
            labels = torch.as_tensor(ds.targets, dtype=torch.int64)
            classes = list(ds.classes)
        elif name == "stl10":
            ds = tvd.STL10(root, split=split, download=download)
            images = torch.from_numpy(ds.data).contiguous()  # already NCHW
            labels = torch.from_numpy(ds.labels.astype("int64"))
            classes = list(getattr(ds, "classes", STL10_CLASSES))
        else:
            ds = tvd.FashionMNIST(root, train=train, download=download)
            images = ds.data.unsqueeze(1).contiguous()  # N×28×28 → N×1×28×28
            labels = ds.targets.to(torch.int64)
            classes = list(ds.classes)
    except (URLError, OSError, RuntimeError) as e:
        raise DatasetNotFoundError(_not_found_message(name, split, root, download, e)) from e
    return ImageSet(images, labels, classes, name)


# ----------------------------------------------------------------------------- entry points


def _check_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; valid names are {', '.join(DATASETS)} "
            f"({', '.join(OFFLINE)} work offline; {', '.join(ONLINE)} need their files or a download)"
        )
    return key


def default_root() -> str:
    """Where real datasets live by default: ``$CLKIT_DATA`` if set, else the kit's ``data/`` folder.

    The kit's folder is found from the package (so a notebook running in ``notebooks/`` and
    a command run from the top level share one copy); an installed, non-editable clkit
    falls back to ``./data``.
    """
    if os.environ.get("CLKIT_DATA"):
        return os.environ["CLKIT_DATA"]
    kit = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
    return kit if os.path.isdir(kit) else "data"


def load(
    name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = False
) -> ImageSet:
    """Load a dataset as an :class:`ImageSet` (images uint8 N×C×H×W, labels int64 N).

    Args:
        name: one of :data:`DATASETS`; ``"shapes"``, ``"digits"`` and ``"photos"`` need no files.
        split: ``"train"`` or ``"test"``. ``"photos"`` has no split: both give the same 8 images.
        root: folder holding the real datasets in torchvision's layout (ignored by the offline ones);
            default :func:`default_root`.
        download: fetch a missing real dataset into ``root`` (needs internet).
    Raises:
        ValueError: unknown name or split (the message lists the valid ones).
        DatasetNotFoundError: a real dataset is missing and ``download`` is False, or the download failed.
    """
    key = _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    if key == "shapes":
        return make_shapes(SHAPES_SIZES[split], seed=SHAPES_SEEDS[split])
    if key == "digits":
        return _digits(split)
    if key == "photos":
        return _photos()
    return _torchvision(key, split, str(root or default_root()), download)


def available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``load(name, root=root)`` can work without a download.

    The offline datasets always can; a real one can when its files are under ``root`` in
    torchvision's layout (only their presence is checked here; checksums are checked on load).
    """
    key = _check_name(name)
    if key in OFFLINE:
        return True
    return _files_present(key, str(root or default_root()))
