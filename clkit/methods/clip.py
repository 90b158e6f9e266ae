"""CLIP: an image encoder and a text encoder trained to agree on which caption goes with which image."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data import Batch, to_float
from clkit.losses import check_logit_scale, check_temperature, clip_logits, collapsed_clip_loss, pretext_accuracy
from clkit.methods.base import Method, StepOutput, add_log_logit_scale
from clkit.models import Encoder

__all__ = ["CLIP", "TextTower"]


def first_phrasing(tokens: Tensor) -> Tensor:
    """(N, P, L) phrasings → (N, L) the first of each (a caption's full form); (N, L) passes through."""
    return tokens[:, 0] if tokens.ndim == 3 else tokens


class TextTower(nn.Module):
    """CLIP's text side as a model of its own: token ids (N, L) → features h → embeddings z.

    It answers ``embed``, ``project`` and ``input_of`` as a method does, so :func:`clkit.evaluate.features`
    encodes captions or prompts with it (``space="z"`` for the shared space).
    """

    modality = "tokens"

    def __init__(self, backbone: Encoder, projection: nn.Module):
        super().__init__()
        self.backbone, self.projection = backbone, projection

    def input_of(self, record: Any) -> Tensor:
        """A record's captions as (N, L) token ids: the first phrasing of each when it holds several."""
        if getattr(record, "tokens", None) is None:
            raise ValueError(f"the text tower reads tokens, and this {type(record).__name__} has none")
        return first_phrasing(record.tokens)

    def embed(self, tokens: Tensor) -> Tensor:
        """Text features h: (N, L) int64 → (N, backbone.dim)."""
        return self.backbone(tokens)

    def project(self, tokens: Tensor) -> Tensor:
        """Embeddings z in the space shared with the images: (N, L) int64 → (N, projection_dim)."""
        return self.projection(self.backbone(tokens))


class CLIP(Method):
    r"""CLIP (Radford et al. 2021, arXiv:2103.00020): images and captions embedded in one space.

    For N image–caption pairs: u = W_i f(x) and v = W_t g(t), one linear projection per encoder, and the
    loss is :func:`clkit.losses.clip_loss` on (u, v) with the logit scale s = exp(t_s), learned, initialised
    at 1/``temperature`` and clamped at ``max_logit_scale`` (CLIP: 1/0.07 and 100). A step reads one phrasing
    of each caption, drawn at random, so the pair an image is pulled towards changes from step to step.

    Args:
        image_backbone: the image encoder f, e.g. ``clkit.models.encoder("small_cnn")``; its features are what
            ``embed`` returns (for kNN and linear probes).
        text_backbone: the text encoder g, e.g. ``clkit.models.text_transformer(len(tokenizer))``.
        augment: a view recipe applied to each image once per step (CLIP used a random square crop alone);
            None trains on the images as they are.
        projection_dim: width of the shared space.
        temperature: the initial τ = 1/s.
        learn_temperature: learn the logit scale (CLIP does); False keeps s = 1/``temperature``.
        max_logit_scale: the largest s (CLIP clamps at 100, so that τ stays ≥ 0.01).
        logit_scale_lr_scale: the log scale's learning rate as a multiple of the others' (``fit`` reads it from
            ``lr_scales``, as for SimCLR's learned temperature): with Adam a parameter moves about lr per step,
            so at a network's lr of 1e-3 the log scale travels only a few tenths in a short run.
    """

    def __init__(self, image_backbone: Encoder, text_backbone: Encoder,
                 augment: Callable[[Tensor], Tensor] | None = None, projection_dim: int = 64,
                 temperature: float = 0.07, learn_temperature: bool = True, max_logit_scale: float = 100.0,
                 logit_scale_lr_scale: float = 1.0):
        super().__init__()
        check_temperature(temperature)
        check_logit_scale(max_logit_scale)
        if 1.0 / temperature > max_logit_scale:
            raise ValueError(f"the initial logit scale 1/temperature = {1 / temperature:g} exceeds max_logit_scale "
                             f"= {max_logit_scale:g}; raise max_logit_scale or the temperature")
        if not logit_scale_lr_scale > 0:
            raise ValueError(f"logit_scale_lr_scale multiplies the learning rate and must be > 0, "
                             f"got {logit_scale_lr_scale}")
        self.backbone = image_backbone
        self.augment = augment
        self.image_projection = nn.Linear(image_backbone.dim, projection_dim, bias=False)
        self.text = TextTower(text_backbone, nn.Linear(text_backbone.dim, projection_dim, bias=False))
        self.max_logit_scale = max_logit_scale
        add_log_logit_scale(self, temperature, learn_temperature, logit_scale_lr_scale)

    @property
    def logit_scale(self) -> Tensor:
        """s = min(exp(t_s), max_logit_scale), a 0-d tensor."""
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def project(self, images: Tensor) -> Tensor:
        """Image embeddings u in the shared space: (N, C, H, W) uint8 or float → (N, projection_dim)."""
        return self.image_projection(self.embed(images))

    def project_text(self, tokens: Tensor) -> Tensor:
        """Caption embeddings v in the shared space: (N, L) or (N, P, L) token ids (the first phrasing)."""
        return self.text.project(first_phrasing(tokens))

    def similarity(self, images: Tensor, tokens: Tensor) -> Tensor:
        """(N_images, N_texts) cosine similarities of images and captions in the shared space."""
        u = F.normalize(self.project(images), dim=1)
        v = F.normalize(self.project_text(tokens), dim=1)
        return u @ v.T

    def pick_phrasings(self, tokens: Tensor) -> Tensor:
        """One phrasing per caption, drawn from torch's generator: (N, P, L) → (N, L); (N, L) passes through."""
        if tokens.ndim == 2:
            return tokens
        if tokens.ndim != 3:
            raise ValueError(f"tokens must be (N, L) or (N, P, L) token ids, got shape {tuple(tokens.shape)}")
        which = torch.randint(tokens.shape[1], (len(tokens),), device=tokens.device)  # (N,)
        return tokens[torch.arange(len(tokens), device=tokens.device), which]

    def forward(self, batch: Batch) -> StepOutput:
        if batch.images is None or batch.tokens is None:
            raise ValueError("CLIP trains on image–caption pairs: the batch needs images and tokens, e.g. a "
                             "clkit.data.CaptionSet from make_captions")
        images = to_float(batch.images) if self.augment is None else self.augment(batch.images)
        u = self.image_projection(self.backbone(images))  # (N, projection_dim)
        v = self.text.project(self.pick_phrasings(batch.tokens))  # (N, projection_dim)
        scale = self.logit_scale
        logits = clip_logits(u, v, scale, self.gather)
        loss = (F.cross_entropy(logits.image_to_text, logits.targets)
                + F.cross_entropy(logits.text_to_image, logits.targets)) / 2
        to_text, to_image = logits.directions()
        return StepOutput(loss, {"logit_scale": scale.detach(), "image_to_text_acc": pretext_accuracy(to_text),
                                 "text_to_image_acc": pretext_accuracy(to_image)})

    def after_optimizer_step(self, progress: float) -> None:
        """Clamp the learned log scale to [0, log max] after each step, as CLIP's training code does, so it never
        drifts past the clamp where its gradient is zero."""
        if isinstance(self.log_logit_scale, nn.Parameter):
            with torch.no_grad():
                self.log_logit_scale.clamp_(0.0, math.log(self.max_logit_scale))

    def collapsed_loss(self, batch_size: int) -> float | None:
        """log N when every image and caption map to one point (None across processes, whose batch it does not know)."""
        return collapsed_clip_loss(batch_size) if batch_size >= 2 and self.gather is None else None
