"""CLIP's loss: a symmetric InfoNCE between images and their captions.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision"
(arXiv:2103.00020). N images and their N captions are embedded; the N × N matrix of their scaled
cosine similarities is read twice, once row by row (each image picks its caption among the N) and once
column by column (each caption picks its image), and the loss is the mean of the two cross-entropies.

As in :mod:`clkit.losses.contrastive`, embeddings are ℓ2-normalised inside the loss and compared in
float32, a tensor logit scale (a learned one) is trusted rather than read back to the host, and
``gather=`` contrasts this process's pairs against every process's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import Gather, Logits, check_pair

__all__ = ["ClipLogits", "check_logit_scale", "clip_logits", "clip_loss", "collapsed_clip_loss"]

#: CLIP's initial logit scale, 1 / τ with τ = 0.07 (the paper's Section 2.5).
INITIAL_LOGIT_SCALE = 1 / 0.07


class ClipLogits(NamedTuple):
    """The two readings of the similarity matrix and the index of each row's partner.

    ``image_to_text``: (N, M) each of this process's images against the M (gathered) captions;
    ``text_to_image``: (N, M) each of its captions against the M (gathered) images; ``targets``: (N,).
    Without ``gather`` M = N and ``text_to_image`` is the transpose of ``image_to_text``.
    """

    image_to_text: Tensor
    text_to_image: Tensor
    targets: Tensor

    def directions(self) -> tuple[Logits, Logits]:
        """Each direction as :class:`~clkit.losses.Logits`, e.g. for :func:`~clkit.losses.pretext_accuracy`."""
        return Logits(self.image_to_text, self.targets), Logits(self.text_to_image, self.targets)


def check_logit_scale(logit_scale: float | Tensor) -> None:
    """Refuse a logit scale s ≤ 0, ∞ or NaN: the cosine similarities are multiplied by s = 1/τ.

    s = 0 makes every caption equally likely whatever the embeddings (a loss of log N and no gradient), a
    negative s rewards the wrong pairs. A tensor is checked only on the CPU: elsewhere that would cost a host
    synchronisation per step, and a learned scale is kept positive by its parametrisation, s = exp(t).
    """
    if isinstance(logit_scale, Tensor):
        if logit_scale.device.type != "cpu":
            return
        if logit_scale.numel() != 1:
            raise ValueError(f"logit_scale must be one number (a 0-d tensor), got shape {tuple(logit_scale.shape)}")
        value = float(logit_scale.detach())
    else:
        value = float(logit_scale)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"logit_scale must be > 0 and finite, got {value}: it multiplies the cosine similarities "
                         f"(it is 1/τ; CLIP starts at 1/0.07 ≈ 14.3 and clamps it at 100)")


def clip_logits(image_z: Tensor, text_z: Tensor, logit_scale: float | Tensor = INITIAL_LOGIT_SCALE,
                gather: Gather | None = None) -> ClipLogits:
    """The logits of :func:`clip_loss`: this process's images against every caption, and its captions against
    every image (with ``gather``: of every process, rank order; this process's partners sit at offset rank · N)."""
    check_pair(image_z, text_z, ("image_z", "text_z"))
    check_logit_scale(logit_scale)
    if gather is not None and not gather.local:
        image_z, text_z, gather = gather(image_z), gather(text_z), None  # every process computes the global logits
    images = F.normalize(image_z.float(), dim=1)  # (N, D)
    texts = F.normalize(text_z.float(), dim=1)  # (N, D)
    all_images, all_texts = (images, texts) if gather is None else (gather(images), gather(texts))  # (M, D) each
    offset = 0 if gather is None else gather.rank * len(images)
    targets = torch.arange(len(images), device=images.device) + offset
    return ClipLogits(logit_scale * images @ all_texts.T, logit_scale * texts @ all_images.T, targets)


def clip_loss(image_z: Tensor, text_z: Tensor, logit_scale: float | Tensor = INITIAL_LOGIT_SCALE,
              gather: Gather | None = None) -> Tensor:
    r"""CLIP's symmetric InfoNCE (Radford et al. 2021, arXiv:2103.00020).

    With u_i = image_z_i / ‖image_z_i‖, v_j = text_z_j / ‖text_z_j‖ and the logit scale s = 1/τ::

        S_ij = s · u_iᵀ v_j                                            (N × N)
        L_image→text = −(1/N) Σ_i log  exp(S_ii) / Σ_j exp(S_ij)       each image picks its caption
        L_text→image = −(1/N) Σ_i log  exp(S_ii) / Σ_j exp(S_ji)       each caption picks its image
        L = ½ (L_image→text + L_text→image)

    Unlike NT-Xent, an image is never contrasted with other images, nor a caption with captions: the
    negatives of each image are the other captions. If every image and every caption map to one point,
    L = log N whatever s is.

    Args:
        image_z: (N, D) image embeddings.
        text_z: (N, D) caption embeddings; row i is the caption of image i.
        logit_scale: s > 0 (a float, or a 0-d tensor when it is learned).
        gather: contrast against every process's pairs (see :class:`~clkit.losses.Gather`); each process then
            averages over its own N pairs, against N·W candidates.
    Returns:
        0-d float32 tensor.
    """
    logits = clip_logits(image_z, text_z, logit_scale, gather)
    return (F.cross_entropy(logits.image_to_text, logits.targets)
            + F.cross_entropy(logits.text_to_image, logits.targets)) / 2


def collapsed_clip_loss(batch_size: int) -> float:
    """CLIP's loss when every image and caption map to one point: log N for N pairs, whatever the scale."""
    return math.log(batch_size)
