"""What every method shares: one step interface, and the joint-embedding shape most of them have.

A method is an ``nn.Module`` whose ``forward(batch)`` returns a :class:`StepOutput`: the
scalar to minimise for one batch, and a dict of 0-d tensors worth logging. The training
loop calls ``method(batch)``, so wrappers that work through ``forward``
(DistributedDataParallel, ``torch.compile``) wrap the whole step. Around the optimiser
step a method may act through two hooks:

- :meth:`Method.before_optimizer_step`: gradients exist, weights not yet changed (clipping,
  freezing DINO's last layer early in training);
- :meth:`Method.after_optimizer_step`: weights changed (a momentum copy follows them, a
  queue takes the new keys, prototypes go back to unit length).

Both receive ``progress``, the fraction of training done (0 → 1), for schedules.

A method whose loss has a telltale value at collapse (every view mapped to one point) reports
it through :meth:`Method.collapsed_loss`, so the loop can warn when a run sits there.

For evaluation every method answers ``embed(inputs) -> h`` (the frozen backbone features
we evaluate) and, when it has a head, ``project(inputs) -> z``. ``input_of(record)`` says
which field of a record the method reads (images, or tokens for a text model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from clkit import augment as aug_lib
from clkit.data import Batch, to_float
from clkit.losses import Gather
from clkit.models import Encoder, ProjectionHead

__all__ = ["Batch", "JointEmbedding", "Method", "StepOutput", "add_log_logit_scale"]


class StepOutput(NamedTuple):
    """One training step's result: ``loss`` (0-d tensor to minimise) and ``logs`` (name → 0-d tensor, detached)."""

    loss: Tensor
    logs: dict[str, Tensor]


class Method(nn.Module):
    """The interface shared by every method (see the module docstring).

    Attributes:
        backbone: the encoder f whose features h we evaluate.
        modality: the record field the method reads, ``"images"`` or ``"tokens"``.
        gather: set by the training loop when several processes train together (see
            :class:`clkit.losses.Gather`); None on one process.
        spec: the settings that rebuild this method (set by :func:`clkit.recipes.build`, stored
            in checkpoints so :func:`clkit.load` can rebuild the model); None when built by hand.
    """

    backbone: Encoder
    modality: str = "images"
    gather: Gather | None = None
    spec: dict[str, Any] | None = None

    def forward(self, batch: Batch) -> StepOutput:
        raise NotImplementedError(f"{type(self).__name__} must define forward(batch) -> StepOutput")

    def input_of(self, record: Any) -> Tensor:
        """The tensor this method reads from a record or batch (its ``images`` or ``tokens``)."""
        value = getattr(record, self.modality, None)
        if value is None:
            raise ValueError(f"{type(self).__name__} reads {self.modality}, and this {type(record).__name__} has none")
        return value

    def embed(self, inputs: Tensor) -> Tensor:
        """Backbone features h: images (N, C, H, W) uint8 or float in [0, 1] → (N, backbone.dim)."""
        return self.backbone(to_float(inputs))

    def collapsed_loss(self, batch_size: int) -> float | None:
        """The loss when every view maps to the same point, for ``batch_size`` images per step, if that value
        marks a failed run (the training loop warns when a whole epoch's loss sits there); None if it does not."""
        return None

    def before_optimizer_step(self, progress: float) -> None:
        """Called after ``backward`` and before the optimiser step; ``progress`` runs from 0 to 1 over training."""

    def after_optimizer_step(self, progress: float) -> None:
        """Called after each optimiser step; ``progress`` runs from 0 to 1 over training."""


def add_log_logit_scale(method: nn.Module, temperature: float, learn: bool, lr_scale: float = 1.0) -> None:
    """Give ``method`` its ``log_logit_scale`` = log(1/τ): a Parameter when τ is learned (as CLIP learns it), with
    its learning rate ``lr_scale`` times the others' (``fit`` reads ``method.lr_scales``); a buffer otherwise, so
    it still travels with the method's device and checkpoint."""
    log_scale = torch.tensor(math.log(1.0 / temperature))
    if learn:
        method.log_logit_scale = nn.Parameter(log_scale)
        if lr_scale != 1.0:
            method.lr_scales = {"log_logit_scale": lr_scale}
    else:
        method.register_buffer("log_logit_scale", log_scale)


class JointEmbedding(Method):
    """The shape of every joint-embedding method: views of each image, a backbone f, a head g.

    Views are a list, one augmentation recipe per view: the same recipe twice (SimCLR), two
    different recipes (BYOL's asymmetric pair), or global and local crops of different sizes
    (multi-crop). :meth:`encode` runs the network once per group of views with the same
    resolution, so a 2-global + 6-local multi-crop costs two forward passes, not eight.

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: one recipe (used for two views) or a list of recipes, one per view.
        projection_dim: width of z.
        hidden_dim: width of the head's hidden layer (default: the backbone's width).
        head_layers: 2 for SimCLR's MLP head, 1 for a linear head, 0 for none.
        head_options: passed to :class:`~clkit.models.ProjectionHead` (``hidden_bn``, ``out_bn``, ...).
    """

    def __init__(
        self,
        backbone: Encoder,
        augment: aug_lib.SimCLRAugment | Sequence[aug_lib.SimCLRAugment],
        projection_dim: int = 128,
        hidden_dim: int | None = None,
        head_layers: int = 2,
        **head_options: bool,
    ):
        super().__init__()
        self.backbone = backbone
        self.recipes = list(augment) if isinstance(augment, Sequence) else [augment, augment]
        if len(self.recipes) < 2:
            raise ValueError(f"a joint-embedding method needs at least two views, got {len(self.recipes)} recipe(s)")
        self.head = ProjectionHead(backbone.dim, projection_dim, hidden_dim, layers=head_layers, **head_options)

    @property
    def augment(self) -> aug_lib.SimCLRAugment:
        """The first view's recipe (all of them when they are equal), e.g. for drawing held-out views."""
        return self.recipes[0]

    def project(self, inputs: Tensor) -> Tensor:
        """Embeddings z = g(f(x)) of un-augmented images: (N, C, H, W) → (N, projection_dim)."""
        return self.head(self.embed(inputs))

    def views(self, batch: Batch) -> list[Tensor]:
        """One random view of every image per recipe: a list of (N, C, size, size) float tensors."""
        return aug_lib.views(batch.images, self.recipes)

    def encode(self, views: Sequence[Tensor], network: nn.Module | None = None) -> list[Tensor]:
        """``network`` (default g ∘ f) on every view, one forward pass per resolution; outputs in the views' order."""
        network = network or (lambda x: self.head(self.backbone(x)))
        out: list[Tensor | None] = [None] * len(views)
        for size in dict.fromkeys(v.shape[-2:] for v in views):  # resolutions, in order of first appearance
            members = [i for i, v in enumerate(views) if v.shape[-2:] == size]
            z = network(torch.cat([views[i] for i in members]))  # (len(members)·N, D)
            for i, part in zip(members, z.split([len(views[i]) for i in members])):
                out[i] = part
        return out  # type: ignore[return-value]
