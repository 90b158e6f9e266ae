"""What a sweep trains: :class:`SweepSettings`, its sizes per scale, its recipe and its data.

The training settings are the kit's recipe (:mod:`clkit.recipes`), read from there, never
copied; the sweep adds only its own budget and its measurements' sizes.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from clkit import data, recipes, scale

# The recipe the sweep's defaults come from: SimCLR on ``shapes`` at the laptop scale (the recipes' base).
_RECIPE_SCALE = "laptop"
_RECIPE = recipes.recipe("simclr", "shapes", _RECIPE_SCALE)


@dataclass
class SweepSettings:
    """Everything that defines one training run of a sweep; the swept setting is one of these fields.

    The training defaults are the kit's SimCLR recipe for ``shapes`` on a CPU,
    ``clkit.recipes.recipe("simclr", "shapes", "laptop")``: change them there and every
    sweep, the CLI and the notebooks follow. Two sizes are the sweep's own budget, not the
    recipe's: ``n_train`` 5,000 and ``epochs`` 8 (the recipe trains on 10,000 images for 20
    epochs), short enough to train one model per value in about a minute on a CPU. The
    measurement settings (``n_test``, ``knn_k``, ``monitor_every``, ``heldout_images``) and
    ``seed`` have no counterpart in a recipe. Sizes per scale come from :func:`preset`.

    Attributes:
        dataset: a name from :data:`clkit.data.DATASETS`.
        encoder: ``"small_cnn"`` or ``"resnet18"``.
        n_train: training images (a class-balanced subset, also the kNN bank and the probe's
            training set); 0 for the whole split.
        n_test: test images (kNN queries and probe test set); 0 for the whole split.
        epochs, batch_size, lr, optimizer, weight_decay, warmup_epochs: as in :func:`clkit.train.fit`.
        steps: when > 0, every run trains the fewest whole epochs that reach this many optimiser steps
            (``epochs`` is then ignored): a sweep of ``batch_size`` at a fixed number of updates.
        crop_min: the smallest random crop, as a fraction of the image (SimCLR: 0.08; the recipe's
            value for ``shapes``, where a small crop often shows only background); 1 keeps the whole
            image (the views then differ by the flip and the colour distortion only).
        jitter_strength, grayscale_p, blur_p: the colour distortion's strength and the probabilities of
            grayscale and blur (0 and 0 switch colour off), as in :class:`clkit.recipes.Recipe`.
        temperature: τ of NT-Xent (the initial τ when it is learned).
        learn_temperature: learn τ as CLIP does, a logit scale 1/τ clamped at ``max_logit_scale``.
        temperature_lr_scale: the learned τ's learning rate as a multiple of ``lr``.
        projection_dim: width of z.
        knn_k: neighbours of the kNN monitor.
        monitor_every: epochs between measurements (the last epoch is always measured).
        heldout_images: test images whose two fixed views give alignment, uniformity and the
            held-out contrastive accuracy (keep it equal to ``batch_size``: the accuracy of
            picking the partner out of 2N − 1 candidates depends on N).
        seed: one seed for the initial weights, the data order, the augmentations and the
            class-balanced training and test subsets (:func:`datasets`); run a sweep with several
            seeds and average them with :func:`clkit.sweep.aggregate`.
    """

    dataset: str = _RECIPE.dataset
    encoder: str = _RECIPE.encoder
    n_train: int = 5000  # the sweep's budget (the recipe: 10,000)
    n_test: int = 2000
    epochs: int = 8  # the sweep's budget (the recipe: 20)
    steps: int = 0  # 0: train ``epochs``; else as many epochs as reach this many optimiser steps
    batch_size: int = _RECIPE.batch_size
    lr: float = _RECIPE.lr
    optimizer: str = _RECIPE.optimizer
    weight_decay: float = _RECIPE.weight_decay
    warmup_epochs: float = _RECIPE.warmup_epochs
    crop_min: float = _RECIPE.crop_min
    jitter_strength: float = _RECIPE.jitter_strength
    grayscale_p: float = _RECIPE.grayscale_p
    blur_p: float = _RECIPE.blur_p
    temperature: float = _RECIPE.temperature
    learn_temperature: bool = _RECIPE.learn_temperature
    max_logit_scale: float = _RECIPE.max_logit_scale
    temperature_lr_scale: float = _RECIPE.temperature_lr_scale
    projection_dim: int = _RECIPE.projection_dim
    knn_k: int = 20
    monitor_every: int = 1
    heldout_images: int = 256
    seed: int = 0


_FIELDS = tuple(f.name for f in dataclasses.fields(SweepSettings))
# The settings a sweep shares with a recipe, but the dataset (which picks the recipe's dataset layer); the
# recipe's others (the head's depth) come from the recipe itself.
_RECIPE_FIELDS = tuple(name for name in _FIELDS
                       if name != "dataset" and name in {f.name for f in dataclasses.fields(recipes.Recipe)})

#: Settings a sweep can vary (numbers; the rest name things).
SWEEPABLE = tuple(f.name for f in dataclasses.fields(SweepSettings) if f.type in ("int", "float"))


def preset(scale_name: str | None = None) -> dict[str, Any]:
    """Sizes for a scale (default: the active ``CLKIT_SCALE``), to pass to :func:`sweep` as ``**preset()``.

    ``ci`` trains on 256 images for 2 epochs (seconds); ``laptop`` on 5,000 ``shapes`` images
    for 8 epochs (about a minute per value on 2 CPU cores); ``full`` on all of CIFAR-10 with
    its recipe (``clkit.recipes.DATASETS["cifar10"]``) for 100 epochs when its files are
    present, else on all of ``shapes`` for 50 epochs.
    """
    name = scale_name or scale.current()
    if name not in scale.SCALES:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(scale.SCALES)}")
    if name == "ci":
        return {"n_train": 256, "n_test": 128, "epochs": 2, "batch_size": 128, "heldout_images": 128}
    if name == "laptop":  # the defaults
        return {key: getattr(SweepSettings, key) for key in ("n_train", "n_test", "epochs")}
    if data.available("cifar10"):
        # The recipe's CIFAR-10 settings a sweep has (the rest reach the model through recipe_for), and the
        # sweep's own: half of SimCLR's 200 epochs, every test image, the held-out batch as large as a
        # training batch, and a measurement every 5 epochs.
        cifar = {k: v for k, v in recipes.DATASETS["cifar10"].items() if k in _FIELDS}
        return {"dataset": "cifar10", **cifar, "n_test": 0, "epochs": 100, "heldout_images": 512,
                "monitor_every": 5}
    return {"n_train": 0, "n_test": 0, "epochs": 50}


def settings_from(**overrides: Any) -> SweepSettings:
    """A :class:`SweepSettings` with ``overrides``; an unknown name is refused with the valid ones."""
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        valid = ", ".join(sorted(_FIELDS))
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid settings are {valid}")
    # A dataset with a layer of its own in the recipes (CIFAR-10) starts from that layer's values, as its recipe does.
    dataset = overrides.get("dataset", SweepSettings.dataset)
    layer = {k: v for k, v in recipes.DATASETS.get(dataset, {}).items() if k in _FIELDS}
    return SweepSettings(**{**layer, **overrides})


def recipe_for(s: SweepSettings) -> recipes.Recipe:
    """The recipe a sweep with settings ``s`` trains: the kit's SimCLR recipe for ``s.dataset`` with the
    settings ``s`` has (the head's depth, which ``s`` lacks, stays the recipe's)."""
    shared = {name: getattr(s, name) for name in _RECIPE_FIELDS}
    return recipes.recipe("simclr", s.dataset, _RECIPE_SCALE, **shared)


@functools.lru_cache(maxsize=2)
def load_split(name: str, split: str) -> data.ImageSet:
    """The whole split ``name``/``split``, loaded once per process (a sweep, and a notebook running several,
    load the same splits again: render or read them once)."""
    return data.load(name, split)


def datasets(s: SweepSettings) -> tuple[data.ImageSet, data.ImageSet]:
    """The training and test sets a sweep with settings ``s`` uses: class-balanced subsets of
    ``n_train`` and ``n_test`` images drawn with ``s.seed`` (each split is loaded once per process)."""
    train_set = load_split(s.dataset, "train")
    test_set = load_split(s.dataset, "test")
    if s.n_train and s.n_train < len(train_set):
        train_set = train_set.take(s.n_train, seed=s.seed)
    if s.n_test and s.n_test < len(test_set):
        test_set = test_set.take(s.n_test, seed=s.seed)
    return train_set, test_set
