"""The reward model's loss: Bradley–Terry on pairs, which is InfoNCE with one negative.

A reward model scores items, r(x) ∈ ℝ, and learns from pairs in which a person preferred one item (the
*chosen*, r⁺) to another (the *rejected*, r⁻). The Bradley–Terry model (Bradley & Terry 1952) says the
preferred item wins with probability σ(r⁺ − r⁻), and the loss is the negative log-likelihood of the choices.
Christiano et al. 2017 (arXiv:1706.03741) trained reward models this way from human comparisons, and
Ouyang et al. 2022 (InstructGPT, arXiv:2203.02155) on pairs taken from rankings of several answers.

Written as a softmax over the two scores, the same number is a cross-entropy with the chosen item as the
target class::

    −log σ(r⁺ − r⁻) = −log  e^{r⁺} / (e^{r⁺} + e^{r⁻})  = CE([r⁺, r⁻], target 0)

which is InfoNCE (van den Oord et al. 2018) with one positive and one negative: an anchor's logits are its
similarities to its positive and its negatives, a reward model's logits are its scores of the chosen and
the rejected item. :func:`preference_logits` returns those two logits in the form every contrastive loss
of the kit hands to ``F.cross_entropy``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import Logits, at_least_float32

__all__ = ["bradley_terry_loss", "check_rewards", "preference_logits"]


def check_rewards(r_chosen: Tensor, r_rejected: Tensor) -> None:
    """Refuse scores that are not two floating, non-empty, equal-length vectors (shapes only: no host sync)."""
    for name, r in (("r_chosen", r_chosen), ("r_rejected", r_rejected)):
        if not isinstance(r, Tensor) or not r.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor of rewards, got "
                            f"{getattr(r, 'dtype', type(r).__name__)}")
        if r.ndim != 1:
            raise ValueError(f"{name} must be 1-D (N,), one reward per pair, got shape {tuple(r.shape)}"
                             + ("; a head's (N, 1) output becomes (N,) with .squeeze(1)" if r.ndim == 2 else ""))
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen and r_rejected must have one reward per pair each (row i of both is pair i), "
                         f"got {tuple(r_chosen.shape)} and {tuple(r_rejected.shape)}")
    if len(r_chosen) == 0:
        raise ValueError("there are no pairs (N = 0): the loss is a mean over pairs, and an empty batch has none")


def bradley_terry_loss(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    r"""The Bradley–Terry negative log-likelihood of pairwise preferences, mean over the N pairs::

        L = −(1/N) Σ_i log σ(r⁺_i − r⁻_i)          σ(t) = 1 / (1 + e^{−t})

    (Bradley & Terry 1952; the reward-model loss of Christiano et al. 2017, arXiv:1706.03741, and of
    Ouyang et al. 2022, arXiv:2203.02155, eq. 1, there averaged over the K(K−1)/2 pairs of a ranking.)

    It is the cross-entropy of the two logits [r⁺, r⁻] with target 0 (:func:`preference_logits`): InfoNCE
    with one negative. Only the difference r⁺ − r⁻ matters: adding a constant to every reward changes
    nothing. Computed as softplus(r⁻ − r⁺), which stays finite for any gap (log σ of a large negative gap
    would underflow to log 0).

    Args:
        r_chosen: (N,) rewards of the preferred item of each pair.
        r_rejected: (N,) rewards of the other item, row-aligned with ``r_chosen``.
    Returns:
        0-d tensor in at least float32: log 2 ≈ 0.693 when the model cannot tell the items apart, 0 when
        every chosen item scores infinitely higher.
    """
    check_rewards(r_chosen, r_rejected)
    return F.softplus(at_least_float32(r_rejected) - at_least_float32(r_chosen)).mean()


def preference_logits(r_chosen: Tensor, r_rejected: Tensor) -> Logits:
    """The two logits of each pair, ``[r⁺, r⁻]`` (N, 2), and the target 0 (the chosen item) of every row:
    ``F.cross_entropy(*preference_logits(r⁺, r⁻))`` equals :func:`bradley_terry_loss` (r⁺, r⁻)."""
    check_rewards(r_chosen, r_rejected)
    logits = torch.stack([at_least_float32(r_chosen), at_least_float32(r_rejected)], dim=1)  # (N, 2)
    return Logits(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
