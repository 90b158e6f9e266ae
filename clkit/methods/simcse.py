"""SimCSE (Gao, Yao & Chen 2021, arXiv:2104.08821): contrastive sentence embeddings, with dropout as the
augmentation.

Unsupervised SimCSE passes each sentence of a batch through the encoder twice, in training mode: the two
passes differ only in their dropout masks, and they are the positive pair; the batch's other sentences are
the negatives. Supervised SimCSE takes (premise, entailed sentence, contradiction) triples instead: the
entailed sentence is the positive and every contradiction in the batch is an extra, hard, negative.

The paper's [CLS] vector goes through an MLP (one Linear layer and tanh) during training only; evaluation
reads the vector before it. The kit's text encoder pools by a masked mean instead of a [CLS] token, so here
the MLP sits over the pooled features h, and :meth:`SimCSE.embed` (what every evaluation reads) returns h.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data import Batch
from clkit.losses import check_temperature, pretext_accuracy
from clkit.losses.simcse import collapsed_simcse, simcse_logits
from clkit.methods.base import Method, StepOutput
from clkit.models import Encoder

__all__ = ["NOISES", "SimCSE", "dropout_off"]

#: Where the positive's difference from its anchor comes from, in the unsupervised variant:
#: ``"dropout"`` two passes with independent dropout masks (SimCSE); ``"same_mask"`` one pass used twice, so the
#: pair is identical while dropout still acts (the paper's "fixed 0.1"); ``"none"`` dropout switched off
#: (the paper's "no dropout"), so every pass is the same.
NOISES = ("dropout", "same_mask", "none")


@contextlib.contextmanager
def dropout_off(module: nn.Module) -> Iterator[None]:
    """Inside the block every ``nn.Dropout`` of ``module`` is in eval mode (the identity); their modes come back
    after it."""
    dropouts = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    modes = [m.training for m in dropouts]
    try:
        for m in dropouts:
            m.eval()
        yield
    finally:
        for m, mode in zip(dropouts, modes):
            m.train(mode)


class SimCSE(Method):
    r"""SimCSE on token ids: the encoder, an MLP used only in training, and :func:`clkit.losses.simcse_loss`.

    Unsupervised (a :class:`~clkit.data.TextSet`, tokens (N, L))::

        h_i, h_i⁺ = g(f(x_i)), g(f(x_i))          two passes, two dropout masks
        ℓ_i = −log e^{sim(h_i, h_i⁺)/τ} / Σ_j e^{sim(h_i, h_j⁺)/τ}

    Supervised (a :class:`~clkit.data.SentenceTriples`, tokens (N, 3, L): premise, entailment, contradiction)::

        ℓ_i = −log e^{sim(h_i, h_i⁺)/τ} / Σ_j (e^{sim(h_i, h_j⁺)/τ} + e^{sim(h_i, h_j⁻)/τ})

    Args:
        backbone: the sentence encoder f, e.g. ``clkit.models.text_transformer(len(tokenizer))``; its dropout is
            the noise.
        temperature: τ > 0 (the paper: 0.05).
        supervised: train on triples with hard negatives instead of on single sentences.
        noise: where the unsupervised positive's noise comes from, one of :data:`NOISES`; ``"none"`` also
            switches dropout off in the supervised variant.
        mlp: the training-time MLP g (SimCSE's Linear + tanh over the pooled features); False trains h itself.
    """

    modality = "tokens"

    def __init__(self, backbone: Encoder, temperature: float = 0.05, supervised: bool = False, noise: str = "dropout",
                 mlp: bool = True):
        super().__init__()
        check_temperature(temperature)
        if noise not in NOISES:
            raise ValueError(f"unknown noise {noise!r}; valid values are {', '.join(NOISES)}")
        if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in backbone.modules()) and noise != "none":
            raise ValueError(f"noise={noise!r} needs dropout in the backbone, and it has none (build the encoder with "
                             "dropout > 0, e.g. 0.1), or pass noise='none'")
        self.backbone = backbone
        self.temperature, self.supervised, self.noise = temperature, supervised, noise
        dim = backbone.dim
        # SimCSE's MLPLayer: "dense" then tanh, over the sentence vector; thrown away after training.
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.Tanh()) if mlp else nn.Identity()

    def embed(self, tokens: Tensor) -> Tensor:
        """Sentence features h = f(tokens), without the MLP: tokens (N, L) int64 → (N, backbone.dim)."""
        return self.backbone(tokens)

    def project(self, tokens: Tensor) -> Tensor:
        """Embeddings the loss sees, g(f(tokens)): tokens (N, L) int64 → (N, backbone.dim)."""
        return self.head(self.backbone(tokens))

    def collapsed_loss(self, batch_size: int) -> float | None:
        """The loss when every embedding is one point: log N unsupervised, log 2N with hard negatives."""
        return collapsed_simcse(batch_size, self.supervised) if batch_size >= 2 else None

    def forward(self, batch: Batch) -> StepOutput:
        tokens = self.input_of(batch)
        expected = 3 if self.supervised else 2
        if tokens.ndim != expected:
            shape = "(N, 3, L) triples (anchor, positive, hard negative)" if self.supervised else "(N, L) sentences"
            raise ValueError(f"{'supervised' if self.supervised else 'unsupervised'} SimCSE trains on {shape}, got "
                             f"tokens of shape {tuple(tokens.shape)}; build SimCSE(supervised="
                             f"{not self.supervised}) for the other kind of data")
        noise = dropout_off(self.backbone) if self.noise == "none" else contextlib.nullcontext()
        with noise:
            if self.supervised:
                n, _, length = tokens.shape
                z = self.project(tokens.transpose(0, 1).reshape(3 * n, length))  # (3N, D): one mask per sentence
                anchors, positives, negatives = z.chunk(3)  # (N, D) each
            elif self.noise == "same_mask":
                anchors = positives = self.project(tokens)  # one pass: the pair is identical
                negatives = None
            else:
                # One batched pass over the batch twice: every row draws its own dropout mask.
                anchors, positives = self.project(torch.cat([tokens, tokens])).chunk(2)  # (N, D) each
                negatives = None
        logits = simcse_logits(anchors, positives, negatives, self.temperature)
        loss = F.cross_entropy(*logits)
        positive_cos = F.cosine_similarity(anchors.detach().float(), positives.detach().float()).mean()
        return StepOutput(loss, {"contrastive_acc": pretext_accuracy(logits), "positive_cos": positive_cos})
