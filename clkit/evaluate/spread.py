"""The collapse numbers of the backbone features h alone, for methods with no projection head to measure.

:func:`clkit.evaluate.collapse_metrics` reads h and the head's z. A predictive method such as I-JEPA has no
head: what it trains and what we evaluate is h, so its collapse is read there, and so is a contrastive
method's when the two are compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from clkit.evaluate.features import embed, model_device
from clkit.evaluate.geometry import effective_rank, per_dimension_std

__all__ = ["h_spread", "spread_measure"]


def h_spread(h: Tensor) -> dict[str, float]:
    """``rankme_h``: the effective rank of h (1 … D); ``std_h·√D``: the mean std of h/‖h‖ per dimension times √D
    (about 1 when the features spread over the sphere, 0 when every image maps to one direction). h: (N, D)."""
    return {"rankme_h": effective_rank(h), "std_h·√D": float(per_dimension_std(h).mean()) * math.sqrt(h.shape[1])}


def spread_measure(images: Tensor) -> Callable[[nn.Module], dict[str, float]]:
    """A measure for ``fit(measures=[...])``: :func:`h_spread` of a method's h on fixed images (a few hundred)."""

    def measure(method: nn.Module) -> dict[str, float]:
        return h_spread(embed(method, images, device=model_device(method)))

    return measure
