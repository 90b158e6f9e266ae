"""Clustering losses: SwAV's swapped prediction of Sinkhorn codes, and DINO's self-distillation.

Both score every view of an image against K learned directions (SwAV's prototypes, DINO's last
layer) and ask the views to agree on a distribution over the K: a target from one view, with no
gradient, predicted by the softmax of another. What stops every image from landing on the same
one of the K is where they differ:

- SwAV (:func:`swav_loss`): the targets are balanced by :func:`sinkhorn`, so that in every batch
  each prototype receives the same total mass;
- DINO (:func:`dino_loss`): the teacher's output is centred (a running mean, :func:`update_center`,
  is subtracted, so no dimension can dominate) and sharpened (a low temperature, so the target
  cannot go uniform).

Scores are (N, K) tensors, one per view; views are listed in one order throughout, global views
first (as :func:`clkit.augment.multi_crop` returns them). Everything is computed in at least
float32, and no function reads a value back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import Gather, at_least_float32, check_temperature


class SwAVTerms(NamedTuple):
    """SwAV's loss and the codes it predicted (see :func:`swav_loss`).

    Attributes:
        loss: 0-d tensor, the swapped prediction loss (it carries the gradient).
        codes: (len(assign_views), N, K) Sinkhorn codes of the assigned views, detached; each row sums to 1.
    """

    loss: Tensor
    codes: Tensor


class DINOTerms(NamedTuple):
    """DINO's loss and the two entropies that tell its two collapses apart (see :func:`dino_loss`).

    Attributes:
        loss: 0-d tensor, the cross-entropy H(P_t, P_s) averaged over the view pairs (it carries the gradient).
        entropy: 0-d, the mean entropy H(P_t) of the teacher's targets: log K when they collapse to the
            uniform distribution, 0 when they are one-hot.
        kl: 0-d, ``loss − entropy`` = the mean KL(P_t ‖ P_s): near 0 when the student has nothing left to
            learn, which both collapses cause.
        marginal_entropy: 0-d, the entropy of the teacher's targets averaged over the batch: near 0 when
            every image is sent to the same dimension, log K when the dimensions are used evenly.
    """

    loss: Tensor
    entropy: Tensor
    kl: Tensor
    marginal_entropy: Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    r"""Sinkhorn–Knopp codes: soft assignments of N samples to K prototypes that share the mass equally.

    SwAV (Caron et al. 2020, arXiv:2006.09882, section 3.1 and Algorithm 1) looks for the codes Q in
    the transportation polytope, where every prototype receives N/K samples' worth of mass and every
    sample is one unit of it, that best agree with the scores::

        max_Q  Tr(Qᵀ S) + ε H(Q)   subject to   Q 1_K = 1_N,   Qᵀ 1_N = (N/K) 1_K

    The solution is Q = diag(u) exp(S/ε) diag(v): start from exp(S/ε) and, ``iterations`` times,
    rescale the columns (each prototype to mass N/K), then the rows (each sample to mass 1), as the
    authors' ``distributed_sinkhorn`` does. The rows end at exactly 1; the columns reach N/K as
    ``iterations`` grows (3 is the paper's choice: a few steps give balanced enough targets).

    The rescalings run on log Q (a log-sum-exp per row and column), which equals the authors'
    algorithm in exact arithmetic and cannot overflow or underflow, whatever ε and the scores.

    Args:
        scores: (N, K) similarities of N samples to K prototypes (SwAV: cosines in [−1, 1]).
        epsilon: ε > 0, the entropy weight: small ε gives nearly one-hot codes (SwAV: 0.05).
        iterations: ≥ 1 rounds of rescaling.
    Returns:
        (N, K) codes in at least float32, rows summing to 1; no gradient (they are targets).
    """
    if scores.ndim != 2 or scores.numel() == 0:
        raise ValueError(f"scores must be a non-empty (N, K) matrix of samples against prototypes, "
                         f"got shape {tuple(scores.shape)}")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be > 0 and finite, got {epsilon}: the scores are divided by it "
                         "(SwAV uses 0.05; smaller gives sharper codes)")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an integer ≥ 1 (SwAV uses 3), got {iterations!r}")
    n, k = scores.shape
    log_q = at_least_float32(scores) / epsilon
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(k)  # each prototype: mass 1/K
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(n)  # each sample: mass 1/N
    return torch.exp(log_q + math.log(n))  # each sample: mass 1, an assignment


def swav_loss(
    scores: Sequence[Tensor],
    assign_views: Sequence[int] = (0, 1),
    temperature: float = 0.1,
    epsilon: float = 0.05,
    iterations: int = 3,
    queue: Sequence[Tensor] | None = None,
    gather: Gather | None = None,
) -> SwAVTerms:
    r"""SwAV's swapped prediction (Caron et al. 2020, arXiv:2006.09882, equations 1–3).

    Each view a in ``assign_views`` (the global crops) gets codes q_a = sinkhorn(S_a) with no
    gradient; every other view v predicts them with the softmax of its scores at temperature τ::

        ℓ(a, v) = −(1/N) Σ_n Σ_k q_a[n, k] · log softmax(S_v[n] / τ)_k
        L       = (1/|A|) Σ_{a ∈ A} (1/(V − 1)) Σ_{v ≠ a} ℓ(a, v)

    averaged as the authors' ``main_swav.py`` does: over the V − 1 other views, then over the
    assigned ones. With two views it is the paper's ℓ(z_t, q_s) + ℓ(z_s, q_t), halved.

    Small batches: the equal partition is imposed on the N rows Sinkhorn sees, so with N not much
    larger than K it forces an image onto a prototype just to fill it. The authors then add the
    embeddings of recent batches (a queue of 3,840 for batches of 256 and K = 3,000) to the rows
    Sinkhorn sees, scored by the current prototypes, and keep only the batch's codes: ``queue``.
    With K a few times smaller than N (e.g. 100 prototypes for 10 classes at N = 256) none is needed.

    Args:
        scores: V ≥ 2 tensors (N, K), each view's similarities to the prototypes, in the views' order.
        assign_views: indices of the views whose codes are predicted (SwAV: the two global crops, 0 and 1).
        temperature: τ > 0 of the predictions (SwAV: 0.1).
        epsilon, iterations: Sinkhorn's ε and number of rounds (SwAV: 0.05 and 3).
        queue: optional scores of stored embeddings, one (L, K) tensor per assigned view, used only as
            extra rows for Sinkhorn.
        gather: compute the codes over every process's rows (see :class:`~clkit.losses.Gather`), as the
            authors' distributed Sinkhorn does; None for this process's batch alone.
    Returns:
        :class:`SwAVTerms`: the loss (0-d, float32 or wider) and the codes.
    """
    views = _check_views(scores, "scores")
    check_temperature(temperature)
    n, v = len(views[0]), len(views)
    assign = list(assign_views)
    if not assign or len(set(assign)) != len(assign) or not all(isinstance(a, int) and 0 <= a < v for a in assign):
        raise ValueError(f"assign_views must be distinct view indices in 0..{v - 1}, got {tuple(assign_views)}")
    if queue is not None and (len(queue) != len(assign) or any(q.ndim != 2 or q.shape[1] != views[0].shape[1]
                                                                for q in queue)):
        raise ValueError(f"queue must hold one (L, {views[0].shape[1]}) tensor per assigned view ({len(assign)}), "
                         f"got shapes {[tuple(q.shape) for q in queue]}")

    codes = []
    for i, a in enumerate(assign):
        rows = views[a].detach() if queue is None else torch.cat([queue[i].detach(), views[a].detach()])
        end = len(rows)  # this batch's rows are the last n
        if gather is not None:
            end += gather.rank * len(rows)
            rows = gather(rows)  # every process's rows, in rank order: one partition shared by all
        codes.append(sinkhorn(rows, epsilon, iterations)[end - n : end])
    codes_t = torch.stack(codes)  # (A, N, K)

    log_p = torch.stack([F.log_softmax(s / temperature, dim=1) for s in views])  # (V, N, K)
    loss = log_p.new_zeros(())
    for q, a in zip(codes_t, assign):
        cross_entropy = -(q * log_p).sum(dim=2).mean(dim=1)  # (V,): each view's prediction of q_a
        loss = loss + (cross_entropy.sum() - cross_entropy[a]) / (v - 1)
    return SwAVTerms(loss / len(assign), codes_t)


def dino_loss(
    student_out: Sequence[Tensor],
    teacher_out: Sequence[Tensor],
    center: Tensor,
    student_temp: float = 0.1,
    teacher_temp: float | Tensor = 0.04,
) -> DINOTerms:
    r"""DINO's self-distillation loss (Caron et al. 2021, arXiv:2104.14294, equation 3 and Algorithm 1).

    The teacher's targets are centred and sharpened, the student's predictions softened less::

        P_t = softmax((g_t(x) − c) / τ_t)            for each global view (no gradient)
        P_s = softmax(g_s(x') / τ_s)                 for every view
        L   = mean over pairs (t, s), s ≠ t, of  −(1/N) Σ_n Σ_k P_t[n, k] log P_s[n, k]

    The teacher sees the G global views, the student all V views (global first, so that teacher
    view t and student view t are the same crop): the G·(V − 1) pairs of different views count
    equally, as in the authors' ``DINOLoss``. Centring alone would push the targets towards the
    uniform distribution, sharpening alone towards one dimension; together they balance.

    Args:
        student_out: V ≥ 2 tensors (N, K), the student's outputs for every view.
        teacher_out: G ≤ V tensors (N, K), the teacher's outputs for the first G (global) views.
        center: (K,) the running mean of the teacher's outputs (:func:`update_center`).
        student_temp: τ_s > 0 (DINO: 0.1).
        teacher_temp: τ_t > 0, a float or a 0-d tensor (DINO: 0.04, warmed up to 0.07 for ViT-S).
    Returns:
        :class:`DINOTerms`: the loss and the targets' entropies.
    """
    students, teachers = _check_views(student_out, "student_out"), _check_views(teacher_out, "teacher_out", least=1)
    check_temperature(student_temp)
    check_temperature(teacher_temp)
    v, g, k = len(students), len(teachers), students[0].shape[1]
    if g > v or teachers[0].shape != students[0].shape:
        raise ValueError(f"teacher_out must hold at most as many views as student_out ({v}), each of the students' "
                         f"shape {tuple(students[0].shape)}; got {g} of shape {tuple(teachers[0].shape)}")
    if center.numel() != k:
        raise ValueError(f"center must hold one value per output dimension ({k}), got shape {tuple(center.shape)}")

    targets = F.softmax((torch.stack(teachers).detach() - center.reshape(k)) / teacher_temp, dim=2)  # (G, N, K)
    log_p = torch.stack([F.log_softmax(s / student_temp, dim=1) for s in students])  # (V, N, K)
    cross_entropy = -torch.einsum("tnk,snk->ts", targets, log_p) / len(students[0])  # (G, V): pair t → s
    pairs = ~torch.eye(g, v, dtype=torch.bool, device=cross_entropy.device)  # a view does not predict itself
    loss = cross_entropy[pairs].mean()

    entropy = torch.special.entr(targets).sum(dim=2).mean()  # entr(p) = −p log p, and 0 at p = 0
    marginal_entropy = torch.special.entr(targets.mean(dim=(0, 1))).sum()
    return DINOTerms(loss, entropy, loss.detach() - entropy, marginal_entropy)


@torch.no_grad()
def update_center(center: Tensor, teacher_out: Sequence[Tensor], momentum: float = 0.9,
                  gather: Gather | None = None) -> Tensor:
    r"""DINO's centre, one step on: c ← m c + (1 − m) · mean of the teacher's outputs over the views and the batch.

    The mean is over every global view of every image (and, with ``gather``, of every process),
    of the raw outputs before centring, as in the authors' ``update_center``.

    Args:
        center: (K,) the current centre.
        teacher_out: G tensors (N, K), the teacher's outputs this step.
        momentum: m in [0, 1] (DINO: 0.9); 1 keeps the centre, 0 replaces it with this batch's mean.
        gather: average over every process's rows; None for this process's batch.
    Returns:
        the new centre, with ``center``'s shape and dtype.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    rows = torch.cat(_check_views(teacher_out, "teacher_out", least=1)).detach()  # (G·N, K)
    if center.numel() != rows.shape[1]:
        raise ValueError(f"center must hold one value per output dimension ({rows.shape[1]}), "
                         f"got shape {tuple(center.shape)}")
    if gather is not None:
        rows = gather(rows)
    batch_center = at_least_float32(rows).mean(dim=0).reshape(center.shape)
    return (momentum * center + (1 - momentum) * batch_center).to(center.dtype)


def _check_views(views: Sequence[Tensor], name: str, least: int = 2) -> list[Tensor]:
    """``views`` as a list of at least ``least`` non-empty (N, K) tensors of one shape, in at least float32."""
    views = list(views) if not isinstance(views, Tensor) else list(views.unbind())
    if len(views) < least:
        raise ValueError(f"{name} must hold at least {least} view(s), one (N, K) tensor each, got {len(views)}")
    shape = views[0].shape
    if len(shape) != 2 or 0 in shape or any(view.shape != shape for view in views):
        raise ValueError(f"{name} must be non-empty (N, K) tensors of one shape, got shapes "
                         f"{[tuple(view.shape) for view in views]}")
    return [at_least_float32(view) for view in views]
