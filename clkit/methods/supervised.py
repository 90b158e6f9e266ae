"""The supervised baseline: what labels buy, on the same backbone, augmentation and loop."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from clkit import augment as aug_lib
from clkit.data import Batch
from clkit.methods.base import Method, StepOutput
from clkit.models import Encoder


class Supervised(Method):
    """The same backbone trained with labels: cross-entropy on one augmented view.

    It answers "how much of the gap to labels did self-supervision close?" on the same data,
    with the same backbone, augmentation and training loop.
    """

    def __init__(self, backbone: Encoder, augment: aug_lib.SimCLRAugment, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.augment = augment
        self.classifier = nn.Linear(backbone.dim, num_classes)

    def forward(self, batch: Batch) -> StepOutput:
        if batch.labels is None:
            raise ValueError("Supervised needs labels: the batch carries none")
        logits = self.classifier(self.backbone(self.augment(batch.images)))
        loss = F.cross_entropy(logits, batch.labels)
        return StepOutput(loss, {"train_acc": (logits.detach().argmax(1) == batch.labels).float().mean()})
