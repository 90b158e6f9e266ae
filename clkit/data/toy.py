"""A two-dimensional toy for the margin lesson: a few noisy clusters of points, and two noisy views of each.

Every loss of notebook 13 sees the same thing: N points in the plane, each an *instance* of its own, and
two views of every point, each the point plus a little Gaussian noise. A view's positive is the other view
of its point; every view of every other point is a negative. The clusters give the instances a class (drawn,
never used by a loss), and they make the negatives unequal: a neighbour in the same cluster can lie as close
as the point's own second view, a point of another cluster lies far away. That is what the lesson needs:
losses that disagree about which negatives to push.

The toy is small enough to train full batch in a second: :func:`make_toy` draws the points from a seed,
:func:`toy_views` the views from a generator.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor


class ToySet(NamedTuple):
    """Points in the plane with the cluster each was drawn from.

    Attributes:
        points: (N, 2) float32 coordinates.
        labels: (N,) int64 cluster of each point, 0 to K − 1.
        classes: the K cluster names, for legends.
    """

    points: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.points)


def make_toy(n: int = 128, clusters: int = 4, radius: float = 1.0, spread: float = 0.25,
             seed: int = 0) -> ToySet:
    """N points in K Gaussian clusters whose centres sit evenly on a circle.

    Cluster c is centred at ``radius · (cos 2πc/K, sin 2πc/K)`` with standard deviation ``spread`` in each
    coordinate; points are assigned to clusters in turn, so the clusters differ in size by at most one point.

    Args:
        n: number of points, ≥ 2 (an instance needs at least one other to be contrasted with).
        clusters: K ≥ 1.
        radius: distance of every centre from the origin, > 0.
        spread: standard deviation of a cluster, ≥ 0.
        seed: the points are a function of the arguments and this seed alone.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 (every point needs another point as its negative), got {n}")
    if clusters < 1:
        raise ValueError(f"clusters must be at least 1, got {clusters}")
    if not radius > 0 or not spread >= 0:
        raise ValueError(f"radius must be > 0 and spread ≥ 0, got radius {radius} and spread {spread}")
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % clusters
    angle = 2 * math.pi * labels.double() / clusters
    centres = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    points = centres + spread * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    classes = tuple(f"cluster {c + 1}" for c in range(clusters))
    return ToySet(points.float(), labels, classes)


def toy_views(points: Tensor, noise: float,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Two views of every point: the point plus independent Gaussian noise of standard deviation ``noise``.

    The noise plays the part of the image augmentations: it is what the positive pair does not share, so a
    loss that pulls the views together learns to ignore it.

    Args:
        points: (N, D) coordinates.
        noise: standard deviation of the noise, ≥ 0 (0 makes the two views identical).
        generator: the noise is drawn from it, so one generator seeded once gives a reproducible run.
    Returns:
        (v1, v2), each (N, D) with the dtype of ``points``; row i of both are views of point i.
    """
    if points.ndim != 2:
        raise ValueError(f"points must be 2-D (N, D), got shape {tuple(points.shape)}")
    if not noise >= 0:
        raise ValueError(f"noise must be ≥ 0 (a standard deviation), got {noise}")
    draw = [torch.randn(points.shape, generator=generator, dtype=points.dtype) for _ in range(2)]
    return points + noise * draw[0], points + noise * draw[1]
