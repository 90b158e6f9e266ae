r"""Linear readout of a continuous property: how much of a nuisance (size, rotation, position, brightness) a
representation still carries, as the R² of a ridge regression from frozen features.

An R² near 1 means the property can be read off the features with a linear map; near 0, that the features
have discarded it (for a linear reader). Comparing the same property across two feature sets (the backbone's
h and the head's z) measures what the head throws away.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

#: The ridge strengths :func:`ridge_r2` chooses among.
ALPHA_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    mean, std = train.mean(0), train.std(0).nan_to_num(0.0).clamp_min(1e-8)
    return [(x - mean) / std for x in (train, *others)]


def _ridge(x: Tensor, t: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """Weights and intercept minimising ‖t − (x w + b)‖² + α‖w‖² (the intercept is not penalised)."""
    x_mean, t_mean = x.mean(0), t.mean()
    xc, tc = x - x_mean, t - t_mean
    w = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ tc)
    return w, t_mean - x_mean @ w


def r2_score(target: Tensor, predicted: Tensor) -> float:
    """The coefficient of determination 1 − Σ(t − p)² / Σ(t − t̄)² (1: perfect, 0: no better than the mean)."""
    target, predicted = target.double(), predicted.double()
    total = ((target - target.mean()) ** 2).sum()
    if total == 0:
        raise ValueError("the target is constant: R² is undefined")
    return float(1 - ((target - predicted) ** 2).sum() / total)


def ridge_r2(
    train_z: Tensor, train_t: Tensor, test_z: Tensor, test_t: Tensor, alpha: float | str = "auto",
    grid: tuple[float, ...] = ALPHA_GRID, fraction: float = 0.2, seed: int = 0,
) -> float:
    """Test R² of a ridge regression from standardised features to a continuous target.

    Args:
        train_z: (N, D) and train_t: (N,) fit the regression; test_z: (M, D), test_t: (M,) score it.
        alpha: the ridge strength, or ``"auto"``: the value of ``grid`` with the best R² on a random
            ``fraction`` of the training rows held out (drawn with ``seed``), then refitted on all of them.
    Returns:
        R² on the test rows (can be negative when the fit is worse than predicting the mean).
    """
    if train_z.ndim != 2 or test_z.ndim != 2 or train_z.shape[1] != test_z.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {tuple(train_z.shape)} and {tuple(test_z.shape)}")
    if len(train_z) != len(train_t) or len(test_z) != len(test_t):
        raise ValueError("one target per feature row")
    x, xt = _standardise(train_z.double().cpu(), test_z.double().cpu())
    t, tt = train_t.double().cpu(), test_t.double().cpu()
    if alpha == "auto":
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        n_val = max(1, round(fraction * len(x)))
        val, fit = order[:n_val], order[n_val:]
        scores = {}
        for a in grid:
            w, b = _ridge(x[fit], t[fit], a)
            scores[a] = r2_score(t[val], x[val] @ w + b)
        alpha = max(grid, key=lambda a: scores[a])
    if isinstance(alpha, str) or alpha < 0:
        raise ValueError(f"alpha must be ≥ 0 or 'auto', got {alpha!r}")
    w, b = _ridge(x, t, float(alpha))
    return r2_score(tt, xt @ w + b)


def readout_report(
    features: Mapping[str, tuple[Tensor, Tensor]], train_attributes: Mapping[str, Tensor],
    test_attributes: Mapping[str, Tensor],
) -> dict[str, dict[str, float]]:
    """:func:`ridge_r2` of every attribute from every feature set.

    Args:
        features: name → (train features, test features), e.g. ``{"h": …, "z": …}``.
        train_attributes, test_attributes: attribute name → one value per row of the train and test features.
    Returns:
        feature name → {attribute: R²}.
    """
    return {name: {attr: ridge_r2(tr, train_attributes[attr], te, test_attributes[attr]) for attr in train_attributes}
            for name, (tr, te) in features.items()}
