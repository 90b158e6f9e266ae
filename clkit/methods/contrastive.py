"""Contrastive methods: pull two views of an image together, push other images away."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from clkit import augment as aug_lib
from clkit.data import Batch
from clkit.losses import check_temperature, collapsed_nt_xent, nt_xent_logits, pretext_accuracy
from clkit.methods.base import JointEmbedding, StepOutput, add_log_logit_scale
from clkit.models import Encoder


class SimCLR(JointEmbedding):
    r"""SimCLR (Chen et al. 2020): two augmented views, a projection head, NT-Xent.

    For a batch of N images: views v1, v2 = aug(x), aug(x); h = f(v); z = g(h);
    loss = NT-Xent(z1, z2; τ).

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: the view recipe (or one recipe per view), e.g. ``clkit.augment.simclr(32)``.
        temperature: τ > 0.
        learn_temperature: learn τ as CLIP does, through a logit scale s = 1/τ initialised at
            1/``temperature`` and clamped at ``max_logit_scale`` (CLIP: 100).
        temperature_lr_scale: the learned log scale's learning rate as a multiple of the others'
            (``fit`` reads it from ``lr_scales``). With Adam a parameter moves about lr per step
            whatever its gradient, so at lr 2e-3 log τ can move by a few tenths in a short run;
            a larger factor lets τ travel to where its gradient vanishes.
        head: the head's settings, as for :class:`~clkit.methods.JointEmbedding` (``projection_dim``,
            ``hidden_dim``, ``head_layers``, ...).
    """

    def __init__(
        self,
        backbone: Encoder,
        augment: aug_lib.SimCLRAugment | Sequence[aug_lib.SimCLRAugment],
        temperature: float = 0.5,
        learn_temperature: bool = False,
        max_logit_scale: float = 100.0,
        temperature_lr_scale: float = 1.0,
        **head: Any,
    ):
        super().__init__(backbone, augment, **head)
        check_temperature(temperature)  # τ is validated here, once, so the loss never has to
        self.max_logit_scale = max_logit_scale
        if not temperature_lr_scale > 0:
            raise ValueError(f"temperature_lr_scale multiplies the learning rate and must be > 0, "
                             f"got {temperature_lr_scale}")
        add_log_logit_scale(self, temperature, learn_temperature, temperature_lr_scale)

    @property
    def temperature(self) -> Tensor:
        """τ = 1 / min(exp(log scale), max scale), a 0-d tensor (learned or fixed)."""
        return 1.0 / self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def collapsed_loss(self, batch_size: int) -> float | None:
        """NT-Xent when every view maps to the same point: log(2N − 1) for N images, whatever τ is.

        None for one image (its loss is 0 whatever happens), and when the loss contrasts the views of
        several processes (``gather``), whose global batch this method does not know.
        """
        return collapsed_nt_xent(batch_size) if batch_size >= 2 and self.gather is None else None

    def forward(self, batch: Batch) -> StepOutput:
        z1, z2 = self.encode(self.views(batch))  # two (N, projection_dim)
        tau = self.temperature
        logits = nt_xent_logits(z1, z2, tau, self.gather)
        loss = F.cross_entropy(*logits)
        return StepOutput(loss, {"contrastive_acc": pretext_accuracy(logits), "temperature": tau.detach()})
