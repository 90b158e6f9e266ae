"""A momentum (exponential moving average) copy of a network, and its schedule.

MoCo's key encoder, BYOL's target network and DINO's teacher are all the same object: a
copy of the online network that receives no gradient and follows it slowly after every
optimiser step::

    ξ ← m ξ + (1 − m) θ          (θ the online weights, ξ the copy's, 0 ≤ m ≤ 1)

MoCo keeps m fixed (0.999); BYOL and DINO raise it from a base value to 1 over training
with a cosine schedule (:func:`cosine_momentum`), so the target freezes as training ends.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(online: nn.Module) -> nn.Module:
    """A frozen deep copy of ``online`` (same weights, ``requires_grad=False``), to be updated by :func:`ema_update_`."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """ξ ← m ξ + (1 − m) θ for every parameter, in place; buffers (BatchNorm statistics) are copied.

    Args:
        target: the momentum copy (ξ), with the same structure as ``online``.
        online: the network trained by gradient descent (θ).
        momentum: m in [0, 1]; 1 leaves the target unchanged, 0 copies the online network.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    target_params = list(target.parameters())
    online_params = list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError("target and online networks must have the same parameters (build one with momentum_copy)")
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)  # ξ + (1 − m)(θ − ξ), one fused op
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


def cosine_momentum(progress: float, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's schedule: m = final − (final − base)(cos(π · progress) + 1) / 2, from ``base`` at 0 to ``final`` at 1.

    Args:
        progress: fraction of training done, in [0, 1].
        base, final: the momentum at the start and at the end (BYOL: 0.996 → 1).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
