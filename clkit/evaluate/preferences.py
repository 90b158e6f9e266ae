"""Measuring a reward model against the truth the simulated person used: held-out pairs and the hidden utility.

- :func:`preference_accuracy`: how often a reward agrees with the labels of pairs it never saw;
- :func:`pearson` and :func:`~clkit.evaluate.similarity.spearman`: how closely the reward follows the hidden utility, linearly and in rank;
- :func:`preference_report`: all of them for a reward model on held-out
  :class:`~clkit.data.preferences.PreferencePairs`.

The accuracy has a ceiling below 1: the labels are noisy, and even the true utility only reaches the Bayes
accuracy (:func:`clkit.data.preferences.bayes_accuracy`). The correlation has none: a reward recovered up to
a shift and a scale correlates perfectly with the utility.
"""

from __future__ import annotations

import torch
from torch import Tensor

from clkit.data.preferences import PreferencePairs
from clkit.evaluate.similarity import spearman  # Spearman's ρ, one definition for the kit
from clkit.methods.preference import RewardModel, rewards

__all__ = ["pearson", "preference_accuracy", "preference_report", "spearman"]


def _check_paired(x: Tensor, y: Tensor) -> None:
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"need two 1-D tensors of the same length ≥ 2, got {tuple(x.shape)} and {tuple(y.shape)}")


def pearson(x: Tensor, y: Tensor) -> float:
    """Pearson's correlation r = cov(x, y) / (σ_x σ_y) of two (N,) tensors, in float64; nan if one is constant."""
    _check_paired(x, y)
    a, b = x.double() - x.double().mean(), y.double() - y.double().mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def preference_accuracy(r_chosen: Tensor, r_rejected: Tensor) -> float:
    """The fraction of pairs whose chosen item has the higher reward, ties counting one half.

    r_chosen, r_rejected: (N,) rewards of each pair's two items.
    """
    if r_chosen.shape != r_rejected.shape or r_chosen.ndim != 1 or len(r_chosen) == 0:
        raise ValueError(f"need two non-empty (N,) tensors, got {tuple(r_chosen.shape)} and {tuple(r_rejected.shape)}")
    gap = r_chosen.double() - r_rejected.double()
    return float(((gap > 0).double() + 0.5 * (gap == 0).double()).mean())


def preference_report(model: RewardModel, pairs: PreferencePairs) -> dict[str, float]:
    """A reward model on (held-out) pairs: its accuracy on their labels and its agreement with the hidden utility.

    Returns:
        ``accuracy`` (:func:`preference_accuracy` on the pairs' labels); ``utility_accuracy``, the same
        for the hidden utility itself on the same labels (the realised counterpart of the Bayes accuracy);
        ``agreement``, how often the reward orders a pair as the utility does (the noiseless preference);
        ``pearson`` and ``spearman``, the reward against the utility over the pool's items; ``slope``, the
        least-squares slope of the reward on the utility (1 when the reward has the utility's scale, as a
        well-specified Bradley–Terry fit should at β = 1).
    """
    r = rewards(model, pairs.items.images)  # (M,) every item once
    u = pairs.utility.cpu().double()
    chosen, rejected = pairs.chosen.cpu(), pairs.rejected.cpu()
    centred = u - u.mean()
    return {
        "accuracy": preference_accuracy(r[chosen], r[rejected]),
        "utility_accuracy": preference_accuracy(u[chosen], u[rejected]),
        "agreement": preference_accuracy(torch.sign(r[chosen] - r[rejected]) * torch.sign(u[chosen] - u[rejected]),
                                         torch.zeros(len(chosen), dtype=torch.float64)),
        "pearson": pearson(r, u),
        "spearman": spearman(r, u),
        "slope": float((centred * (r.double() - r.double().mean())).sum() / centred.pow(2).sum()),
    }
