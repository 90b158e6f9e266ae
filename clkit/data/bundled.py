"""The datasets an installed package ships: scikit-learn's digits and scikit-image's photos.

Neither needs a download: the images come with the library, which is imported only when
its dataset is loaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.data.records import ImageSet

__all__ = ["DIGITS_SPLIT_SEED", "DIGITS_TEST_FRACTION", "PHOTOS", "PHOTO_SIZE"]

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

