"""I-JEPA's loss: predict the target encoder's features of the hidden parts of an image, in feature space.

A joint-embedding predictive architecture (LeCun 2022, "A Path Towards Autonomous Machine Intelligence")
does not reconstruct pixels and has no negatives: a predictor reads the features of the visible part of an
image (the *context*) and predicts the features that a target encoder gives the hidden parts (the
*targets*). I-JEPA (Assran et al. 2023, arXiv:2301.08243) does it with patch tokens: the loss is the mean
squared distance between predicted and target tokens over the hidden patches.

Like BYOL's, the loss alone is minimised by a network that maps everything to one vector; the moving-average
target encoder and the predictor keep a run away from it (see :mod:`clkit.methods.jepa`). The loss acts on
values only: the target's stop-gradient and its layer normalisation are the method's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from clkit.losses.contrastive import at_least_float32

__all__ = ["check_tokens", "jepa_loss"]


def check_tokens(predicted: Tensor, target: Tensor, mask: Tensor) -> None:
    """Refuse tokens and masks that do not line up (shapes and dtype only: no host sync)."""
    if predicted.ndim != 3 or predicted.shape != target.shape:
        raise ValueError(f"predicted and target must be (N, K, D) tokens of the same shape (K positions of D "
                         f"features), got {tuple(predicted.shape)} and {tuple(target.shape)}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True where a token is a target), got {mask.dtype}")
    if mask.shape != predicted.shape[:2]:
        raise ValueError(f"mask must be (N, K) = {tuple(predicted.shape[:2])}, one flag per token, "
                         f"got {tuple(mask.shape)}")


def jepa_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    r"""I-JEPA's regression in feature space (Assran et al. 2023, arXiv:2301.08243, eq. 1), over the hidden tokens::

        L = (1 / |M|) Σ_{(n, k) ∈ M} (1/D) ‖ ŝ_{n,k} − s_{n,k} ‖²₂

    with M the (image, position) pairs of the target tokens, ŝ the predictions and s the target encoder's
    tokens (I-JEPA layer-normalises them first, in the method). The paper's equation sums squared L2
    distances over the target blocks; the 1/D makes the value a mean over features, as in its code, so that
    it does not grow with the width.

    Args:
        predicted: (N, K, D) the predictor's tokens at every position (only the masked ones count).
        target: (N, K, D) the target encoder's tokens; pass them detached for the stop-gradient.
        mask: (N, K) bool, True at the target positions (a batch without any has loss 0).
    Returns:
        0-d tensor in at least float32.
    """
    check_tokens(predicted, target, mask)
    error = (at_least_float32(predicted) - at_least_float32(target)).pow(2).mean(dim=2)  # (N, K)
    # The count is clamped rather than checked: checking it would read it back to the host every step.
    return (error * mask).sum() / mask.sum().clamp(min=1)
