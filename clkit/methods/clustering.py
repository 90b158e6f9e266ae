"""Methods that learn by clustering: SwAV and DINO.

Both map every view to a distribution over K learned directions and make the views of an image
agree on it; both train with multi-crop, two global views and several small local ones (pass
:func:`clkit.augment.multi_crop` as ``augment``), and :meth:`JointEmbedding.encode` runs each
resolution in one pass. They differ in where the targets come from (see
:mod:`clkit.losses.clustering`): SwAV balances them over the batch with Sinkhorn–Knopp, DINO takes
them from a momentum teacher, centred and sharpened.

Each answers ``assignments(images)``, the index of the cluster each image falls in, for the
lesson that reads what the clusters hold. Put the method in eval mode first, as for ``embed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data import Batch, to_float
from clkit.losses.clustering import dino_loss, swav_loss, update_center
from clkit.losses.contrastive import check_temperature
from clkit.methods.base import JointEmbedding, StepOutput
from clkit.models import NormalizedLinear, Prototypes, cosine_momentum, ema_update_, momentum_copy


class SwAV(JointEmbedding):
    r"""SwAV (Caron et al. 2020, arXiv:2006.09882): swap the assignments between views.

    Embeddings z = g(f(x)) are scored against K unit-length prototypes, S = ẑ Cᵀ. The global views'
    codes q = Sinkhorn(S) share the prototypes equally over the batch; every other view predicts them::

        L = (1/|A|) Σ_{a ∈ A} (1/(V − 1)) Σ_{v ≠ a} −Σ_k q_a,k log softmax(S_v / τ)_k

    As in the paper the prototypes stay on the unit sphere (renormalised after every optimiser
    step) and are frozen at first: while the network is random, moving them would only chase noise.

    Args:
        backbone: the encoder f.
        augment: a list of recipes, global views first: ``clkit.augment.multi_crop(32, 16)``; or one
            recipe for two views.
        n_prototypes: K (the paper: 3,000 for ImageNet's 1,000 classes). On a small set take about
            ten times the number of classes, and fewer than the batch: 100 for 10 classes.
        temperature: τ of the predictions (0.1).
        epsilon, sinkhorn_iterations: Sinkhorn's ε and rounds (0.05 and 3).
        assign_views: the views whose codes are predicted (the two global crops, 0 and 1).
        freeze_prototypes: the fraction of training during which the prototypes get no update
            (the paper: its first epoch, 313 steps, of 100 to 800; 0.01 is one epoch of 100).
        queue_length: embeddings of past batches kept per assigned view and added to the rows
            Sinkhorn balances once the queue is full (0: none). The paper uses 3,840 at batch 256
            with K = 3,000, from epoch 15 on, when the features have settled; here it fills from the
            first step, so keep it a few batches long. With K well below the batch size none is needed.
        head: the head's settings (``projection_dim``: 128 in the paper, ``hidden_dim``, ...).
    """

    def __init__(self, backbone: Any, augment: Any, *, n_prototypes: int = 3000, temperature: float = 0.1,
                 epsilon: float = 0.05, sinkhorn_iterations: int = 3, assign_views: Sequence[int] = (0, 1),
                 freeze_prototypes: float = 0.01, queue_length: int = 0, **head: Any):
        super().__init__(backbone, augment, **head)
        check_temperature(temperature)
        assign = tuple(assign_views)
        if not assign or len(set(assign)) != len(assign) or not all(0 <= a < len(self.recipes) for a in assign):
            raise ValueError(f"assign_views must be distinct view indices in 0..{len(self.recipes) - 1}, got {assign}")
        _check_fraction("freeze_prototypes", freeze_prototypes)
        if queue_length < 0:
            raise ValueError(f"queue_length must be ≥ 0 (0: no queue), got {queue_length}")
        self.prototypes = Prototypes(self.head.out_dim, n_prototypes)
        self.temperature, self.epsilon, self.sinkhorn_iterations = temperature, epsilon, sinkhorn_iterations
        self.assign_views, self.freeze_prototypes = assign, freeze_prototypes
        # Past embeddings, newest first; all zero until written, and used once the last slot is filled.
        self.register_buffer("queue", torch.zeros(len(assign), queue_length, self.head.out_dim))
        self._queue_full = False

    def forward(self, batch: Batch) -> StepOutput:
        z = self.encode(self.views(batch))  # one (N, projection_dim) per view
        scores = [self.prototypes(view) for view in z]  # (N, K) cosines
        terms = swav_loss(scores, self.assign_views, self.temperature, self.epsilon, self.sinkhorn_iterations,
                          queue=self._queue_scores(), gather=self.gather)
        if self.queue.shape[1] and self.training:
            self._push(torch.stack([z[a] for a in self.assign_views]))
        nearest = scores[self.assign_views[0]].detach().argmax(dim=1)
        used = F.one_hot(nearest, len(self.prototypes.weight)).amax(dim=0).float().mean()
        return StepOutput(terms.loss, {"prototypes_used": used})  # at most N / K: low means few clusters

    @torch.no_grad()
    def assignments(self, images: Tensor) -> Tensor:
        """The nearest prototype of each image: (N, C, H, W) → (N,) indices in 0..K − 1."""
        return self.prototypes(self.project(images)).argmax(dim=1)

    def before_optimizer_step(self, progress: float) -> None:
        if progress <= self.freeze_prototypes:
            self.prototypes.weight.grad = None  # the optimiser then skips them, weight decay included

    def after_optimizer_step(self, progress: float) -> None:
        self.prototypes.normalize_()

    @torch.no_grad()
    def _queue_scores(self) -> list[Tensor] | None:
        """The stored embeddings scored by the current prototypes, once the queue is full; else None."""
        if not self.queue.shape[1]:
            return None
        if not self._queue_full:  # one read per step until it fills (and once after a resume), then none
            self._queue_full = bool(self.queue[:, -1].any())
        return [self.prototypes(stored) for stored in self.queue] if self._queue_full else None

    @torch.no_grad()
    def _push(self, z: Tensor) -> None:
        """Put this batch's embeddings (A, N, D) at the front of the queue; the oldest fall off the end."""
        self.queue.copy_(torch.cat([F.normalize(z.float(), dim=2), self.queue], dim=1)[:, : self.queue.shape[1]])


class DINO(JointEmbedding):
    r"""DINO (Caron et al. 2021, arXiv:2104.14294): self-distillation with no labels.

    A student network g_s ∘ f_s (backbone, head, weight-normalised last layer of width K) learns to
    predict, from every view, the output of a momentum teacher on the *other* global views::

        P_t = softmax((g_t(x) − c) / τ_t),   P_s = softmax(g_s(x') / τ_s),   L = mean H(P_t, P_s)
        c ← m_c c + (1 − m_c) mean g_t(x)                (centring, every step)
        θ_t ← m θ_t + (1 − m) θ_s                        (teacher, after every optimiser step)

    with m rising from ``base_momentum`` to 1 by a cosine and τ_t warmed up linearly. Centring
    prevents one dimension from dominating, the low τ_t the uniform output: the logs show which
    way a failing run collapses (``teacher_entropy`` near log K: uniform; ``marginal_entropy``
    near 0: one dimension; ``kl`` near 0 in both).

    The head is DINO's: ``head_layers`` linear layers (3) without BatchNorm down to a bottleneck
    of width ``projection_dim`` (256), ℓ2-normalised, then the last layer to K. The paper's hidden
    width is 2,048; here it is the backbone's unless ``hidden_dim`` says otherwise, and the hidden
    activation is ReLU rather than GELU.

    Args:
        backbone: the encoder f (DINO was made for ViTs: ``clkit.models.encoder("small_vit")``).
        augment: a list of recipes, global views first; or one recipe for two views.
        out_dim: K, the width of the last layer (the paper: 65,536; small sets: a few hundred).
        student_temp: τ_s (0.1).
        teacher_temp, warmup_teacher_temp, teacher_temp_warmup: τ_t rises linearly from
            ``warmup_teacher_temp`` to ``teacher_temp`` over this fraction of training (the
            paper: 0.04 → 0.07 over the first 30 of 300 epochs, 0.1), then stays.
        center_momentum: m_c (0.9).
        base_momentum: m at the start (0.996 for the paper's 100+ epochs; a run of a few hundred
            steps needs less, e.g. 0.99, or the teacher barely leaves its random start).
        global_views: how many of the views, counted from the first, the teacher sees (2).
        freeze_last_layer: the fraction of training during which the last layer gets no update
            (the paper: its first epoch; 0.01 is one epoch of 100).
        clip_grad: each parameter's gradient norm is clipped to this (the paper: 3.0); None: no clipping.
        evaluate_teacher: ``embed``, ``project`` and ``assignments`` use the teacher, which the
            paper evaluates because it is the better network throughout training; False: the student.
        head: the head's settings (``projection_dim``, ``hidden_dim``, ``head_layers``, ``hidden_bn``).
    """

    def __init__(self, backbone: Any, augment: Any, *, out_dim: int = 65536, student_temp: float = 0.1,
                 teacher_temp: float = 0.07, warmup_teacher_temp: float = 0.04, teacher_temp_warmup: float = 0.1,
                 center_momentum: float = 0.9, base_momentum: float = 0.996, global_views: int = 2,
                 freeze_last_layer: float = 0.01, clip_grad: float | None = 3.0, evaluate_teacher: bool = True,
                 **head: Any):
        super().__init__(backbone, augment, **{"projection_dim": 256, "head_layers": 3, "hidden_bn": False, **head})
        for temperature in (student_temp, teacher_temp, warmup_teacher_temp):
            check_temperature(temperature)
        for name, value in (("teacher_temp_warmup", teacher_temp_warmup), ("center_momentum", center_momentum),
                            ("base_momentum", base_momentum), ("freeze_last_layer", freeze_last_layer)):
            _check_fraction(name, value)
        if not 1 <= global_views <= len(self.recipes):
            raise ValueError(f"global_views must be between 1 and the number of views ({len(self.recipes)}), "
                             f"got {global_views}")
        if clip_grad is not None and not clip_grad > 0:
            raise ValueError(f"clip_grad must be > 0 (a gradient norm), or None for no clipping; got {clip_grad}")
        self.last_layer = NormalizedLinear(self.head.out_dim, out_dim)
        self.teacher = momentum_copy(self._student())
        self.register_buffer("center", torch.zeros(out_dim))
        # The schedules' current values: buffers, so a resumed run continues them and reading them costs no sync.
        self.register_buffer("teacher_temp", torch.tensor(float(warmup_teacher_temp)))
        self.register_buffer("momentum", torch.tensor(float(base_momentum)))
        self.student_temp, self.center_momentum, self.global_views = student_temp, center_momentum, global_views
        self.teacher_temp_schedule = (warmup_teacher_temp, teacher_temp, teacher_temp_warmup)  # from, to, over
        self.base_momentum, self.freeze_last_layer, self.clip_grad = base_momentum, freeze_last_layer, clip_grad
        self.evaluate_teacher = evaluate_teacher

    def forward(self, batch: Batch) -> StepOutput:
        views = self.views(batch)
        student = self.encode(views, _through(self._student()))  # every view: (N, K) each
        with torch.no_grad():
            teacher = self.encode(views[: self.global_views], _through(self.teacher))
        terms = dino_loss(student, teacher, self.center, self.student_temp, self.teacher_temp)
        if self.training:  # after the loss, which used the centre of the steps before
            self.center.copy_(update_center(self.center, teacher, self.center_momentum, self.gather))
        return StepOutput(terms.loss, {"teacher_entropy": terms.entropy, "marginal_entropy": terms.marginal_entropy,
                                       "kl": terms.kl, "momentum": self.momentum.clone(),
                                       "teacher_temp": self.teacher_temp.clone()})

    def embed(self, inputs: Tensor) -> Tensor:
        """Backbone features h of the teacher (or the student, with ``evaluate_teacher=False``)."""
        return self._evaluated()["backbone"](to_float(inputs))

    def project(self, inputs: Tensor) -> Tensor:
        """The bottleneck embeddings z (before the last layer) of the evaluated network."""
        return self._evaluated()["head"](self.embed(inputs))

    @torch.no_grad()
    def assignments(self, images: Tensor) -> Tensor:
        """The largest output dimension of each image: (N, C, H, W) → (N,) indices in 0..K − 1.

        For the teacher the output is centred first, as the loss does: the centre shifts which dimension wins.
        """
        out = self._evaluated()["last_layer"](self.project(images))
        return (out - self.center if self.evaluate_teacher else out).argmax(dim=1)

    def before_optimizer_step(self, progress: float) -> None:
        if self.clip_grad is not None:  # per parameter, as the authors' clip_gradients; no host sync
            for p in self.parameters():
                if p.grad is not None:
                    p.grad.mul_((self.clip_grad / (p.grad.norm() + 1e-6)).clamp(max=1.0))
        if progress <= self.freeze_last_layer:
            for p in self.last_layer.parameters():
                p.grad = None

    def after_optimizer_step(self, progress: float) -> None:
        momentum = cosine_momentum(progress, self.base_momentum)
        ema_update_(self.teacher, self._student(), momentum)
        start, end, warmup = self.teacher_temp_schedule
        self.teacher_temp.fill_(end if progress >= warmup else start + (end - start) * progress / warmup)
        self.momentum.fill_(momentum)

    def _student(self) -> nn.ModuleDict:
        """The student's parts, in the order the teacher copies them (a view: nothing is registered twice)."""
        return nn.ModuleDict({"backbone": self.backbone, "head": self.head, "last_layer": self.last_layer})

    def _evaluated(self) -> nn.ModuleDict:
        return self.teacher if self.evaluate_teacher else self._student()


def _through(parts: nn.ModuleDict) -> Callable[[Tensor], Tensor]:
    """Backbone, head, then last layer: a network's output of width K."""
    return lambda x: parts["last_layer"](parts["head"](parts["backbone"](x)))


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
