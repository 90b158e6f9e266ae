"""Training methods, each a small ``nn.Module`` with one interface.

Every method answers the same two questions, so the one training loop (:func:`clkit.train.fit`)
and every evaluation work for all of them:

- ``loss(batch) -> (loss, logs)``: the scalar to minimise for a :class:`Batch` of raw images
  (and labels, for methods that use them), plus a dict of 0-d tensors worth logging;
- ``embed(images) -> h``: the frozen features we evaluate, from the backbone, before any head.

A method owns its augmentation: a batch arrives as uint8 images on the training device and
the method makes its views there. ``on_step_end(progress)`` is called after every optimiser
step with the fraction of training done, for methods that keep a momentum copy or a queue.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit import augment as aug_lib
from clkit.evaluate import contrastive_accuracy
from clkit.losses import check_temperature, nt_xent
from clkit.models import Encoder, ProjectionHead


class Batch(NamedTuple):
    """What the training loop hands a method: images (N, C, H, W) uint8 and labels (N,) int64."""

    images: Tensor
    labels: Tensor | None = None


class Method(nn.Module):
    """The interface shared by every method (see the module docstring)."""

    backbone: Encoder

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def embed(self, images: Tensor) -> Tensor:
        """Backbone features h: (N, C, H, W) uint8 or float in [0, 1] → (N, backbone.dim)."""
        return self.backbone(aug_lib.to_float(images))

    def on_step_end(self, progress: float) -> None:
        """Called after each optimiser step; ``progress`` runs from 0 to 1 over the whole run."""


class TwoViewMethod(Method):
    """The shape of every joint-embedding method: two augmented views, a backbone f, a head g.

    Subclasses write only their loss on ``z1, z2 = self.views_to_z(batch)``. The zoo's later
    members (BYOL and SimSiam add a predictor, MoCo a momentum copy) extend this same shape.

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: the view recipe, any callable batch → batch, e.g. ``clkit.augment.simclr(32)``.
        projection_dim: width of z.
        hidden_dim: width of the head's hidden layer (default: the backbone's width).
        head_layers: 2 for SimCLR's MLP head, 1 for a linear head, 0 for none.
    """

    def __init__(
        self,
        backbone: Encoder,
        augment: Callable[[Tensor], Tensor],
        projection_dim: int = 128,
        hidden_dim: int | None = None,
        head_layers: int = 2,
    ):
        super().__init__()
        self.backbone = backbone
        self.augment = augment
        self.head = ProjectionHead(backbone.dim, projection_dim, hidden_dim, layers=head_layers)

    def project(self, images: Tensor) -> Tensor:
        """Embeddings z = g(f(x)) of un-augmented images: (N, C, H, W) → (N, projection_dim)."""
        return self.head(self.embed(images))

    def views_to_z(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Two random views of every image through f and g, in one forward pass: two (N, projection_dim)."""
        v1, v2 = aug_lib.two_views(batch.images, self.augment)
        return self.head(self.backbone(torch.cat([v1, v2]))).chunk(2)


class SimCLR(TwoViewMethod):
    r"""SimCLR (Chen et al. 2020): two augmented views, a projection head, NT-Xent.

    For a batch of N images: views v1, v2 = aug(x), aug(x); h = f(v); z = g(h);
    loss = NT-Xent(z1, z2; τ).

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: the view recipe, any callable batch → batch, e.g. ``clkit.augment.simclr(32)``.
        projection_dim: width of z.
        hidden_dim: width of the head's hidden layer (default: the backbone's width).
        head_layers: 2 for SimCLR's MLP head, 1 for a linear head, 0 for none.
        temperature: τ > 0.
        learn_temperature: learn τ as CLIP does, through a logit scale s = 1/τ initialised at
            1/``temperature`` and clamped at ``max_logit_scale`` (CLIP: 100).
    """

    def __init__(
        self,
        backbone: Encoder,
        augment: Callable[[Tensor], Tensor],
        projection_dim: int = 128,
        hidden_dim: int | None = None,
        head_layers: int = 2,
        temperature: float = 0.5,
        learn_temperature: bool = False,
        max_logit_scale: float = 100.0,
    ):
        super().__init__(backbone, augment, projection_dim, hidden_dim, head_layers)
        check_temperature(temperature)
        self.max_logit_scale = max_logit_scale
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)

    @property
    def temperature(self) -> Tensor:
        """τ = 1 / min(exp(log scale), max scale), a 0-d tensor (learned or fixed)."""
        return 1.0 / self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = self.views_to_z(batch)
        tau = self.temperature
        loss = nt_xent(z1, z2, tau)
        logs = {"contrastive_acc": contrastive_accuracy(z1.detach(), z2.detach()), "temperature": tau.detach()}
        return loss, logs


class Supervised(Method):
    """The supervised baseline: the same backbone trained with labels (cross-entropy on one augmented view).

    It answers "how much of the gap to labels did self-supervision close?" on the same data,
    with the same backbone, augmentation and training loop.
    """

    def __init__(self, backbone: Encoder, augment: Callable[[Tensor], Tensor], num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.augment = augment
        self.classifier = nn.Linear(backbone.dim, num_classes)

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        if batch.labels is None:
            raise ValueError("Supervised needs labels: the batch carries none")
        logits = self.classifier(self.backbone(self.augment(batch.images)))
        loss = F.cross_entropy(logits, batch.labels)
        return loss, {"train_acc": (logits.argmax(1) == batch.labels).float().mean().detach()}


METHODS: dict[str, type[Method]] = {"simclr": SimCLR, "supervised": Supervised}


# --- geometry ---


class PositivesOnly(TwoViewMethod):
    r"""SimCLR without its negatives, built to collapse: pull the two views together and nothing else.

    For views v1, v2 of a batch, z = g(f(v)) and ẑ = z / ‖z‖, the loss is the alignment term of
    Wang & Isola (2020) alone::

        loss = (1/N) Σ_i ‖ẑ1_i − ẑ2_i‖²

    Nothing pushes different images apart, so a constant map is a perfect minimiser, and gradient
    descent finds it: every embedding moves to one point (per-dimension std of ẑ → 0, uniformity
    → 0, effective rank → 1). It is the negative example of the geometry lesson; NT-Xent's
    denominator, or BYOL/SimSiam's predictor with a stop-gradient, is what prevents this.

    Args:
        backbone, augment, projection_dim, hidden_dim, head_layers: as for :class:`SimCLR`.
    """

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = self.views_to_z(batch)
        a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        loss = (a - b).pow(2).sum(dim=1).mean()
        # The collapse monitor of SimSiam: mean per-dimension std of the normalised outputs (1/√D healthy, 0 collapsed).
        return loss, {"z_std": torch.cat([a, b]).detach().std(dim=0).mean()}
