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
import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clkit import augment, methods, models, scale
from clkit.losses import check_temperature
from clkit.train import read_checkpoint


# The recipe's settings a method receives when its constructor names them.
_SHARED = ("temperature", "learn_temperature", "max_logit_scale", "temperature_lr_scale")


def method_options(method: str) -> list[str]:
    """The names :attr:`Recipe.options` may hold for ``method``: its constructor's own settings, and the head's
    (``hidden_dim``, ``hidden_bn``, ``out_bn``) when it passes them on; not the backbone, the views, or the
    settings the recipe has fields for."""
    if method == "supervised":
        return []
    taken = {"self", "backbone", "augment", "projection_dim", "head_layers", *_SHARED}
    parameters = inspect.signature(methods.METHODS[method]).parameters.values()
    own = [p.name for p in parameters if p.name not in taken and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        own += [name for name in _HEAD if name not in own]
    return own


_HEAD = ("hidden_dim", "hidden_bn", "out_bn")


def _image_size(encoder: str, size: int) -> dict[str, int]:
    """The image side, for an encoder that needs it (a ViT's position embedding); convolutions take any size."""
    return {"image_size": size} if "image_size" in inspect.signature(models.ENCODERS[encoder]).parameters else {}


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
        local_crops: multi-crop (SwAV, DINO): this many small crops besides the two global views
            (0: two views only); ``local_size`` is their side in pixels (0: half the image's),
            ``local_crop_min``/``local_crop_max`` the fractions of the image they cover.

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
        options: the method's own settings, by the names of its constructor (MoCo's ``queue_size``,
            SwAV's ``n_prototypes``, ...); the settings above that a method's constructor names
            (``temperature``, ...) reach it too.
    """

    method: str = "simclr"
    dataset: str = "shapes"
    encoder: str = "small_cnn"
    n_train: int = 10_000
    crop_min: float = 0.4
    jitter_strength: float = 0.5
    grayscale_p: float = 0.5
    blur_p: float = 0.0
    local_crops: int = 0
    local_size: int = 0
    local_crop_min: float = 0.15
    local_crop_max: float = 0.4
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
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in methods.METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid methods are {', '.join(methods.METHODS)}")
        if self.encoder not in models.ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; valid encoders are {', '.join(models.ENCODERS)}")
        check_temperature(self.temperature)
        own = method_options(self.method)
        unknown = sorted(set(self.options) - set(own))
        if unknown:
            raise ValueError(f"{self.method} has no option(s) {', '.join(unknown)}; its options are "
                             f"{', '.join(own) or 'none'}")

    def fit_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`clkit.train.fit` this recipe fixes."""
        keys = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "warmup_epochs")
        return {k: getattr(self, k) for k in keys}

    def views(self, image_size: int) -> augment.SimCLRAugment | list[augment.SimCLRAugment]:
        """The augmentation for images of side ``image_size``: one recipe for two views, or with ``local_crops``
        the multi-crop list (two global views, then the local ones)."""
        colour = dict(jitter_strength=self.jitter_strength, grayscale_p=self.grayscale_p, blur_p=self.blur_p)
        if not self.local_crops:
            return augment.simclr(image_size, scale=(self.crop_min, 1.0), **colour)
        return augment.multi_crop(image_size, self.local_size or image_size // 2, n_local=self.local_crops,
                                  global_scale=(self.crop_min, 1.0),
                                  local_scale=(self.local_crop_min, self.local_crop_max), **colour)

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
# Each method's layer: the paper's recipe adapted to the kit's scale (short runs, one device, 32 × 32 images);
# every method keeps the kit's head widths (the papers' heads are 2,048–8,192 wide) and AdamW. The zoo lesson
# (notebook 14) lists these adaptations.
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "simclr": {}, "supervised": {}, "positives_only": {},
    # MoCo v2's τ on every dataset (the cifar10 layer's 0.5 is SimCLR's); queue 4,096 and m = 0.99 (not 0.999:
    # a run of a few hundred steps would barely move the key encoder) are the method's defaults.
    "moco": dict(temperature=0.2),
    # BYOL: the target's momentum starts at 0.99, not 0.996 (its time constant of 1/(1 − m) steps, 250 at 0.996,
    # would be most of a short run).
    "byol": dict(options={"base_momentum": 0.99}),
    "simsiam": {},
    # Barlow Twins and VICReg: the papers' loss weights (the methods' defaults).
    "barlow_twins": {}, "vicreg": {},
    # SwAV: 100 prototypes (10 × the classes and fewer than the batch, so no queue is needed; the paper's 3,000 are
    # for ImageNet), its τ = 0.1, prototypes frozen for the first tenth of training (the paper: the first epoch),
    # 2 + 4 crops (the paper: 2 + 6), the local ones covering 15–40% of the image (the paper: 5–14%, mostly
    # background on shapes).
    "swav": dict(temperature=0.1, local_crops=4, options={"n_prototypes": 100, "freeze_prototypes": 0.1}),
    # DINO: K = 256 outputs (the paper's 65,536 are for ImageNet), its 3-layer head without BatchNorm, the teacher's
    # momentum from 0.99, τ_teacher 0.04 → 0.07 over the first 30%, the last layer frozen for the first tenth,
    # 2 + 4 crops (the paper: 2 + 8 or 10).
    "dino": dict(local_crops=4, head_layers=3, options={"out_dim": 256, "base_momentum": 0.99,
                                                       "teacher_temp_warmup": 0.3, "freeze_last_layer": 0.1}),
    # SupCon's τ = 0.1 (the base's 0.2 is SimCLR's on shapes); the Siamese losses keep their papers' margins.
    "supcon": {"temperature": 0.1}, "margin": {}, "triplet": {}, "nt_logistic": {},
}
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
    backbone = models.encoder(r.encoder, in_channels=channels, **_image_size(r.encoder, size))
    views = r.views(size)
    if r.method == "supervised":
        method: methods.Method = methods.Supervised(backbone, views, num_classes)
    else:
        cls = methods.METHODS[r.method]
        named = inspect.signature(cls).parameters
        shared = {k: v for k, v in asdict(r).items() if k in _SHARED and k in named}
        method = cls(backbone, views, projection_dim=r.projection_dim, head_layers=r.head_layers, **shared,
                     **r.options)
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
