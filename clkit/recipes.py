"""The one place for defaults: named, scale-aware training recipes per method and dataset.

A :class:`Recipe` holds everything that defines a training run of a method: the encoder,
the views, the loss's settings and the optimisation. :func:`recipe` composes it from four
layers, later ones overriding earlier ones:

1. the kit's base (SimCLR's recipe for the procedural ``shapes`` set on a CPU);
2. the dataset's settings (CIFAR-10: ResNet-18, SimCLR's 8% crop, SGD, τ = 0.5);
3. the method's settings;
4. the scale's settings (``ci``, ``laptop``, ``full``: see :mod:`clkit.scale`),

then any keyword overrides. :func:`build` turns a recipe into a ready method for data of a
given shape. The CLI, the sweep, the benchmarks and the notebooks all build through here.

>>> r = recipe("simclr", "shapes", scale="laptop")
>>> r.temperature, r.epochs, r.crop_min
(0.2, 20, 0.4)
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clkit import augment, methods, models, scale
from clkit.losses import check_temperature
from clkit.train import read_checkpoint


@dataclass(frozen=True)
class Recipe:
    """Everything that defines one training run of a method.

    Attributes:
        method: a name from :data:`clkit.methods.METHODS`.
        dataset: a name from :data:`clkit.data.DATASETS`.
        encoder: a name from :data:`clkit.models.ENCODERS`.
        n_train: training images, a class-balanced subset; 0 for the whole split.
        crop_min: the smallest random crop, as a fraction of the image (SimCLR: 0.08).
        jitter_strength, grayscale_p, blur_p: the colour distortion's strength s and the
            probabilities of grayscale and blur (:func:`clkit.augment.simclr`).

    The base values are SimCLR's recipe adapted to ``shapes`` on a CPU by measured ablations
    (``bench/ablate_default.py``, results in ``bench/results/default_ablation.json``): a smallest
    crop of 40% (at 8–20% many crops show only background), colour strength 0.5 (SimCLR's own
    CIFAR-10 setting; at 1.0 the contrast factor down to 0.2 often erases the shape),
    grayscale p = 0.5, and no blur (at 32 × 32 it blurs the outline that tells the shapes apart;
    SimCLR's CIFAR-10 runs leave it out too).
        temperature: τ of the contrastive loss (the initial τ when it is learned).
        learn_temperature: learn τ as CLIP does, a logit scale 1/τ clamped at ``max_logit_scale``.
        temperature_lr_scale: the learned τ's learning rate as a multiple of ``lr``.
        projection_dim, head_layers: width of z and number of linear layers in the head.
        epochs, batch_size, lr, optimizer, weight_decay, warmup_epochs: as in :func:`clkit.train.fit`.
    """

    method: str = "simclr"
    dataset: str = "shapes"
    encoder: str = "small_cnn"
    n_train: int = 10_000
    crop_min: float = 0.4
    jitter_strength: float = 0.5
    grayscale_p: float = 0.5
    blur_p: float = 0.0
    temperature: float = 0.2
    learn_temperature: bool = False
    max_logit_scale: float = 100.0
    temperature_lr_scale: float = 1.0
    projection_dim: int = 128
    head_layers: int = 2
    epochs: int = 20
    batch_size: int = 256
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in methods.METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid methods are {', '.join(methods.METHODS)}")
        if self.encoder not in models.ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; valid encoders are {', '.join(models.ENCODERS)}")
        check_temperature(self.temperature)

    def fit_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`clkit.train.fit` this recipe fixes."""
        keys = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "warmup_epochs")
        return {k: getattr(self, k) for k in keys}

    def views(self, image_size: int) -> augment.SimCLRAugment:
        """The augmentation recipe for images of side ``image_size``."""
        return augment.simclr(image_size, scale=(self.crop_min, 1.0), jitter_strength=self.jitter_strength,
                              grayscale_p=self.grayscale_p, blur_p=self.blur_p)

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes``; an unknown name is refused with the valid ones."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)


# The layers of :func:`recipe`. Each says why it differs from the layer below.
BASE = Recipe()
DATASETS: dict[str, dict[str, Any]] = {
    # SimCLR's CIFAR-10 setting (Chen et al. 2020, appendix B.9): ResNet-18 with the CIFAR stem, the paper's 8% crop,
    # colour strength 0.5, grayscale p = 0.2, τ = 0.5, SGD with momentum at lr 0.06 × batch / 256 (as in lightly's and
    # solo-learn's CIFAR benchmarks).
    "cifar10": dict(encoder="resnet18", n_train=0, crop_min=0.08, jitter_strength=0.5, grayscale_p=0.2, blur_p=0.0,
                    temperature=0.5, batch_size=512, optimizer="sgd", lr=0.12, weight_decay=5e-4),
}
# Barlow Twins and VICReg keep the kit's small head (the papers expand to 3 × 8,192) at every scale for now; their
# losses' weights are the papers' (the methods' defaults).
METHOD_SETTINGS: dict[str, dict[str, Any]] = {"simclr": {}, "supervised": {}, "positives_only": {}, "barlow_twins": {},
                                              "vicreg": {}}
SCALES: dict[str, dict[str, Any]] = {
    "ci": dict(n_train=1024, epochs=1),  # the smallest run that exercises every step
    "laptop": {},  # the base: a few minutes on 2 CPU cores
    "full": dict(n_train=0, epochs=200),  # a GPU: every image, SimCLR's CIFAR-10 length
}


def recipe(method: str = "simclr", dataset: str = "shapes", scale_name: str | None = None, **overrides: Any) -> Recipe:
    """The recipe for ``method`` on ``dataset`` at a scale (default: the active ``CLKIT_SCALE``), with ``overrides``."""
    if method not in METHOD_SETTINGS:
        raise ValueError(f"unknown method {method!r}; valid methods are {', '.join(METHOD_SETTINGS)}")
    name = scale_name or scale.current()
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(SCALES)}")
    _check_names(overrides)
    layers = {**DATASETS.get(dataset, {}), **METHOD_SETTINGS[method], **SCALES[name]}
    return BASE.replace(method=method, dataset=dataset, **{**layers, **overrides})


def build(r: Recipe, shape: tuple[int, int, int], num_classes: int) -> methods.Method:
    """A fresh method for images of ``shape`` (C, H, W): seed the generator first to fix its initial weights.

    The method carries ``spec``, the settings that rebuild it, which checkpoints store.
    """
    channels, size, _ = shape
    backbone = models.encoder(r.encoder, in_channels=channels)
    views = r.views(size)
    if r.method == "supervised":
        method: methods.Method = methods.Supervised(backbone, views, num_classes)
    elif r.method == "simclr":
        method = methods.SimCLR(backbone, views, projection_dim=r.projection_dim, head_layers=r.head_layers,
                                temperature=r.temperature, learn_temperature=r.learn_temperature,
                                max_logit_scale=r.max_logit_scale, temperature_lr_scale=r.temperature_lr_scale)
    else:
        method = methods.METHODS[r.method](backbone, views, projection_dim=r.projection_dim,
                                           head_layers=r.head_layers)
    method.spec = {"recipe": asdict(r), "shape": list(shape), "num_classes": num_classes}
    return method


def load(path: str | Path) -> methods.Method:
    """The trained method stored in a checkpoint (a file, or a run folder holding ``checkpoint.pt``), in eval mode.

    Raises:
        ValueError: the checkpoint holds no recipe (its method was built by hand, not with :func:`build`).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    state = read_checkpoint(path)
    spec = state.get("spec")
    if not spec:
        raise ValueError(
            f"{path} holds weights but no recipe: its method was built by hand, not with clkit.recipes.build. "
            "Build the same method again and call method.load_state_dict(clkit.train.read_checkpoint(path)['method'])"
        )
    method = build(Recipe(**spec["recipe"]), tuple(spec["shape"]), spec["num_classes"])
    method.load_state_dict(state["method"])
    return method.eval()


def _check_names(settings: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid settings are {', '.join(sorted(known))}")
