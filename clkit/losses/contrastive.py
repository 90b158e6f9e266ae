"""Contrastive losses: InfoNCE and SimCLR's NT-Xent, as plain functions of embeddings.

Every loss here takes tensors and returns a scalar tensor; nothing holds state, so the
same function serves a notebook cell computing a loss by hand and a training run.
Embeddings are ℓ2-normalised inside each loss, and similarities are computed in float32
even under mixed precision (a softmax over 1/τ-scaled logits is where bf16 hurts).

No loss here reads a value back to the host: a Python-number τ is checked (that costs
nothing), a tensor τ (a learned one) is trusted, because the method that owns it is
where it is validated. That keeps a training step free of synchronisation points.

Across processes, a loss takes ``gather=``: a :class:`Gather` that returns every process's
rows, so each process contrasts its own anchors against the whole global batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


class Gather(Protocol):
    """How a loss sees the other processes' embeddings.

    ``gather(x)`` returns the rows of ``x`` from every process, concatenated in rank order
    ((world_size · N, D) for an (N, D) input, every process holding the same N), with a
    gradient that flows back to each process's own rows; ``rank`` is this process's index.

    ``local`` says which logits a process computes: True, only its own N anchors against every
    process's candidates (N × WN); False, the whole global batch's (WN × WN), the same loss on every
    process. The parameters' gradients, averaged over processes, are the same either way.
    """

    rank: int
    local: bool

    def __call__(self, x: Tensor) -> Tensor: ...


class Logits(NamedTuple):
    """Scaled similarities and the index of each row's positive: the loss is ``cross_entropy(logits, targets)``."""

    logits: Tensor
    targets: Tensor


def at_least_float32(z: Tensor) -> Tensor:
    """``z`` in float32 or wider: half precision loses what distances, softmaxes and batch statistics need."""
    return z.to(torch.promote_types(z.dtype, torch.float32))


def check_temperature(temperature: float | Tensor) -> None:
    """Refuse τ ≤ 0, τ = ∞ and NaN: the logits are divided by τ, so it must be a finite positive number.

    τ = ∞ would make every candidate equally likely whatever the embeddings, a loss of
    log(2N − 1) with a zero gradient: nothing would be learned.

    A tensor τ is checked only on the CPU; on an accelerator that would cost a host
    synchronisation per step, and a learned τ is kept positive by its parametrisation.
    """
    if isinstance(temperature, Tensor):
        if temperature.device.type != "cpu":
            return
        values = temperature.detach()
        bad = ~(torch.isfinite(values) & (values > 0))
        if not bool(bad.any()):
            return
        temperature = float(values[bad].flatten()[0])
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(
            f"temperature must be > 0 and finite, got {temperature}: logits are divided by τ (τ = ∞ would make "
            "every candidate equally likely and the gradient zero); typical values are 0.05–1.0 (SimCLR uses "
            "0.1–0.5, CLIP starts at 0.07)"
        )


def check_pair(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """Refuse embeddings that are not two row-aligned, non-empty (N, D) matrices (shapes only: no host sync)."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(
            f"{names[0]} and {names[1]} must be 2-D (N, D) embeddings, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (row i of one is the positive of row i of the "
            f"other), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if len(a) == 0:
        raise ValueError(
            f"{names[0]} and {names[1]} hold no embeddings (N = 0): the loss is a mean over pairs, and an empty "
            "batch has none (it would be NaN)"
        )


def nt_xent_logits(z1: Tensor, z2: Tensor, temperature: float | Tensor = 0.5, gather: Gather | None = None) -> Logits:
    r"""The logits of :func:`nt_xent`: each of this process's 2N views against every view of the (global) batch.

    Rows are the anchors ``[z1; z2]``; columns the candidates, ``[z1; z2]`` or, with ``gather``,
    ``[gather(z1); gather(z2)]`` (2WN columns for W processes). An anchor's own column is −∞;
    ``targets`` holds the column of its partner view.
    """
    check_pair(z1, z2, ("z1", "z2"))
    check_temperature(temperature)
    if gather is not None and not gather.local:
        z1, z2, gather = gather(z1), gather(z2), None  # the global batch's logits, the same on every process
    n = z1.shape[0]
    anchors = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2N, D)
    if gather is None:
        candidates, offset, total = anchors, 0, n
    else:
        a1, a2 = anchors.chunk(2)
        g1, g2 = gather(a1), gather(a2)  # (WN, D) each
        candidates, offset, total = torch.cat([g1, g2]), gather.rank * n, g1.shape[0]
    logits = anchors @ candidates.T / temperature  # (2N, 2·total)
    local = torch.arange(n, device=anchors.device) + offset  # this process's rows among the global ones
    own = torch.cat([local, local + total])  # (2N,) the anchor's own column
    partner = torch.cat([local + total, local])  # (2N,) its positive's column
    logits = logits.masked_fill(F.one_hot(own, logits.shape[1]).bool(), float("-inf"))
    return Logits(logits, partner)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float | Tensor = 0.5, gather: Gather | None = None) -> Tensor:
    r"""SimCLR's normalised temperature-scaled cross-entropy (NT-Xent).

    The 2N views are stacked, ``z = [z1; z2]``; view k's positive is its partner ``p(k)``
    and its denominator runs over the other 2N − 1 views::

        ℓ_k = −log  exp(sim(z_k, z_p(k)) / τ) / Σ_{j ≠ k} exp(sim(z_k, z_j) / τ)
        L   = (1 / 2N) Σ_k ℓ_k,           sim(u, v) = uᵀv / (‖u‖‖v‖)

    A batch where every view is the same vector gives L = log(2N − 1).

    Args:
        z1, z2: (N, D) embeddings of the two views; row i of ``z1`` and ``z2`` come from the same image.
        temperature: τ > 0 (a float, or a 0-d tensor when τ is learned).
        gather: contrast against every process's views (see :class:`Gather`); None for this batch alone.
    Returns:
        0-d float32 tensor, the mean over this process's 2N anchors (over all 2WN with a global ``gather``).
    """
    return F.cross_entropy(*nt_xent_logits(z1, z2, temperature, gather))


def pretext_accuracy(logits: Logits) -> Tensor:
    """The pretext task's accuracy from a loss's own logits: the fraction of rows whose largest logit is the positive.

    Returns a 0-d tensor on the logits' device (reading it is the caller's choice of sync point).
    """
    return (logits.logits.detach().argmax(dim=1) == logits.targets).float().mean()


def info_nce(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None = None,
    temperature: float | Tensor = 0.1,
) -> Tensor:
    r"""The general InfoNCE loss (van den Oord et al. 2018), as used by MoCo and CLIP.

    Each query i has one positive, ``key[i]``. Its negatives are the other keys in the batch
    when ``negatives`` is None (CLIP's image→text direction), or the rows of ``negatives``
    when given (MoCo's queue: then the other keys are not used)::

        ℓ_i = −log  exp(q_iᵀk_i / τ) / (exp(q_iᵀk_i / τ) + Σ_n exp(q_iᵀn / τ))

    Args:
        query: (N, D) anchors.
        key: (N, D) positives, row-aligned with ``query``.
        negatives: optional (M, D) shared negatives.
        temperature: τ > 0.
    Returns:
        0-d float32 tensor, the mean of ℓ_i over the N queries.
    """
    check_pair(query, key, ("query", "key"))
    check_temperature(temperature)
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.float(), dim=1)
    if negatives is None:
        logits = q @ k.T / temperature
        target = torch.arange(q.shape[0], device=q.device)
    else:
        if negatives.ndim != 2 or negatives.shape[1] != q.shape[1]:
            raise ValueError(
                f"negatives must be (M, {q.shape[1]}) to match the embedding width, got {tuple(negatives.shape)}"
            )
        n = F.normalize(negatives.float(), dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)
        logits = torch.cat([positive, q @ n.T], dim=1) / temperature
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)


def collapsed_nt_xent(batch_size: int) -> float:
    """NT-Xent of a fully collapsed batch (all 2N views identical): log(2N − 1), whatever τ is."""
    return math.log(2 * batch_size - 1)
