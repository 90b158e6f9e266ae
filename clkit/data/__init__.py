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
                           (train 10,000 / test 2,000), each shape lighter than its
                           background; the default dataset
``shapes_polarity`` yes    the same shapes with the light/dark polarity drawn at random:
                           a nuisance every augmentation keeps (the feature-suppression
                           lesson)
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

The package, one module a concern:

* :mod:`clkit.data.records`: the record protocol :class:`Records`, :class:`ImageSet`,
  :class:`TextSet` (sentences as token ids), :class:`Batch` and :func:`to_float`;
* :mod:`clkit.data.shapes`: the procedural ``shapes`` renderer (and why it looks as it does);
* :mod:`clkit.data.bundled`: ``digits`` and ``photos``, shipped by scikit-learn and scikit-image;
* :mod:`clkit.data.real`: the torchvision-backed sets and :class:`DatasetNotFoundError`;
* :mod:`clkit.data.tokens`: the word-level :class:`Tokenizer` the text models read through;
* :mod:`clkit.data.captions`: image–caption pairs drawn from the shapes, some combinations held out (CLIP's lesson);
* :mod:`clkit.data.sentences`: the sentence corpus of the SimCSE lesson (:func:`make_sentences`; its records in
  :mod:`clkit.data.sentence_sets`);
* here: the registry (:data:`DATASETS`, :data:`OFFLINE`) and :func:`load`, :func:`available`.
"""

from __future__ import annotations

import os

from clkit.data.bundled import DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, PHOTO_SIZE, PHOTOS, _digits, _photos
from clkit.data.real import STL10_CLASSES, DatasetNotFoundError, _files_present, _torchvision
from clkit.data.records import Batch, ImageSet, Records, TextSet, to_float
from clkit.data.shapes import (
    SHAPE_CLASSES,
    SHAPES,
    SHAPES_GRADIENT,
    SHAPES_MARGIN,
    SHAPES_MIN_CONTRAST,
    SHAPES_NOISE,
    SHAPES_ROTATION_DEG,
    SHAPES_SCALE,
    SHAPES_SEEDS,
    SHAPES_SIZES,
    SHAPES_SUPERSAMPLE,
    make_shapes,
    shape_attributes,
    shape_polarity,
)

from clkit.data.captions import CaptionSet, make_captions
from clkit.data.preferences import PreferencePairs, make_preferences
from clkit.data.tokens import Tokenizer, words
from clkit.data.sentence_sets import SentenceCorpus, SentencePairs, SentenceTriples
from clkit.data.sentences import make_sentences
from clkit.data.toy import ToySet, make_toy, toy_views

__all__ = [
    "DATASETS",
    "OFFLINE",
    "SHAPE_CLASSES",
    "Batch",
    "CaptionSet",
    "make_captions",
    "DatasetNotFoundError",
    "ImageSet",
    "Records",
    "TextSet",
    "SentenceCorpus", "SentencePairs", "SentenceTriples", "make_sentences",
    "Tokenizer",
    "ToySet",
    "available",
    "load",
    "attributes",
    "make_shapes",
    "make_toy",
    "shape_attributes",
    "shape_polarity",
    "to_float",
    "toy_views",
    "words",
    "PreferencePairs", "make_preferences",
]

OFFLINE: tuple[str, ...] = ("shapes", "shapes_polarity", "digits", "photos")
ONLINE: tuple[str, ...] = ("cifar10", "stl10", "fashion_mnist")
DATASETS: tuple[str, ...] = OFFLINE + ONLINE
SPLITS: tuple[str, ...] = ("train", "test")


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
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # clkit/data/ -> kit
    kit = os.path.join(top, "data")
    return kit if os.path.isdir(kit) else "data"


def load(
    name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = False
) -> ImageSet:
    """Load a dataset as an :class:`ImageSet` (images uint8 N×C×H×W, labels int64 N).

    Args:
        name: one of :data:`DATASETS`; the offline ones (:data:`OFFLINE`) need no files.
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
    if key in ("shapes", "shapes_polarity"):
        polarity = "light" if key == "shapes" else "random"
        return make_shapes(SHAPES_SIZES[split], seed=SHAPES_SEEDS[split], polarity=polarity)
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


def attributes(name: str, split: str = "train") -> dict[str, "torch.Tensor"]:
    """The nuisances drawn for each image of a procedural split (``shapes``, ``shapes_polarity``), in the order
    :func:`load` returns the images: :func:`clkit.data.shape_attributes` of that split."""
    if name not in ("shapes", "shapes_polarity"):
        raise ValueError(f"{name!r} has no recorded attributes; only the procedural sets do: shapes, shapes_polarity")
    if split not in SHAPES_SIZES:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SHAPES_SIZES)}")
    polarity = "light" if name == "shapes" else "random"
    return shape_attributes(SHAPES_SIZES[split], seed=SHAPES_SEEDS[split], polarity=polarity)
