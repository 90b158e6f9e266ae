"""What a clustering method's clusters hold: their sizes, how pure they are, and how much they say about the classes.

SwAV's prototypes and DINO's output dimensions assign every image to one of K clusters, without labels. Three
numbers read those assignments against the classes (never used in training):

- **clusters used**: how many of the K hold at least one image (a collapsed run uses one; a uniform one all K);
- **purity** = (1/N) Σ_k max_c n_kc, the share of images whose cluster's most common class is their own
  (n_kc: images of class c in cluster k). It rewards many small clusters, so read it with the count above;
- **normalised mutual information** NMI = I(A; Y) / ((H(A) + H(Y)) / 2) between assignments A and classes Y,
  in [0, 1]: 0 when the clusters say nothing about the classes, 1 when they are the classes under other names
  (scikit-learn's ``normalized_mutual_info_score`` with its default arithmetic mean).

NMI is not corrected for chance: K clusters and a factor cut into G groups share some information by accident alone,
more as K and G grow against N. :func:`chance_nmi` measures that floor, the NMI with the factor shuffled.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["ClusterReport", "border_hue", "chance_nmi", "cluster_members", "cluster_report", "contingency",
           "normalized_mutual_information", "quantile_bins"]


def _check(assignments: Tensor, labels: Tensor) -> None:
    if assignments.ndim != 1 or labels.shape != assignments.shape:
        raise ValueError(f"assignments and labels must be 1-D of the same length, got {tuple(assignments.shape)} "
                         f"and {tuple(labels.shape)}")
    if not len(assignments):
        raise ValueError("assignments are empty: there is nothing to measure")
    if assignments.is_floating_point() or labels.is_floating_point():
        raise TypeError("assignments and labels must be integer indices (use .argmax(dim=1) on scores)")
    if int(assignments.min()) < 0 or int(labels.min()) < 0:
        raise ValueError("assignments and labels must be indices ≥ 0")


def contingency(assignments: Tensor, labels: Tensor, n_clusters: int | None = None,
                n_classes: int | None = None) -> Tensor:
    """n_kc, the number of images of class c assigned to cluster k.

    Args:
        assignments: (N,) int cluster indices; labels: (N,) int class indices.
        n_clusters, n_classes: the table's size (default: one past the largest index seen).
    Returns:
        (K, C) int64 counts.
    """
    _check(assignments, labels)
    a, y = assignments.cpu().long(), labels.cpu().long()
    k = n_clusters or int(a.max()) + 1
    c = n_classes or int(y.max()) + 1
    if int(a.max()) >= k or int(y.max()) >= c:
        raise ValueError(f"indices exceed the table: clusters up to {int(a.max())} for n_clusters={k}, "
                         f"classes up to {int(y.max())} for n_classes={c}")
    return torch.bincount(a * c + y, minlength=k * c).reshape(k, c)


def _entropy(counts: Tensor) -> Tensor:
    p = counts[counts > 0].double() / counts.sum()
    return -(p * p.log()).sum()


def normalized_mutual_information(assignments: Tensor, labels: Tensor) -> float:
    """NMI = I(A; Y) / ((H(A) + H(Y)) / 2) of two labellings of the same N items, in [0, 1] (natural logs cancel).

    Two labellings that each put everything in one group agree perfectly (1.0); one that does and one that
    does not share nothing (0.0), as in scikit-learn.
    """
    table = contingency(assignments, labels).double()
    n = table.sum()
    h_a, h_y = _entropy(table.sum(1)), _entropy(table.sum(0))
    if h_a == 0 and h_y == 0:
        return 1.0
    if h_a == 0 or h_y == 0:
        return 0.0
    joint = table[table > 0] / n
    outer = (table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / n**2)[table > 0]
    mutual = (joint * (joint / outer).log()).sum()
    return float((mutual / ((h_a + h_y) / 2)).clamp(0.0, 1.0))


def chance_nmi(assignments: Tensor, labels: Tensor, permutations: int = 20, seed: int = 0) -> float:
    """The NMI that ``assignments`` reach with ``labels`` by chance: the mean over shuffles of the labels.

    A shuffle keeps every cluster's and every group's size, so it keeps both entropies and destroys only what the
    clusters know of the labels; an NMI near this floor says nothing about them, whatever its size.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    generator = torch.Generator().manual_seed(seed)
    shuffled = (labels[torch.randperm(len(labels), generator=generator)] for _ in range(permutations))
    return sum(normalized_mutual_information(assignments, y) for y in shuffled) / permutations


class ClusterReport(NamedTuple):
    """The clusters of one run against the classes (see the module docstring).

    Attributes:
        used: clusters holding at least one image.
        purity: the share of images in a cluster whose majority class is their own.
        nmi: normalised mutual information between clusters and classes.
        sizes: (K,) images per cluster.
        majority: (K,) each cluster's most common class (−1 for an empty cluster).
        share: (K,) the fraction of a cluster's images in its majority class (0 for an empty one).
    """

    used: int
    purity: float
    nmi: float
    sizes: Tensor
    majority: Tensor
    share: Tensor


def cluster_report(assignments: Tensor, labels: Tensor, n_clusters: int | None = None,
                   n_classes: int | None = None) -> ClusterReport:
    """Sizes, purity and NMI of ``assignments`` (N,) against ``labels`` (N,); see :class:`ClusterReport`."""
    table = contingency(assignments, labels, n_clusters, n_classes)
    sizes = table.sum(1)
    top, majority = table.max(dim=1)
    empty = sizes == 0
    return ClusterReport(
        used=int((~empty).sum()),
        purity=float(top.sum() / sizes.sum()),
        nmi=normalized_mutual_information(assignments, labels),
        sizes=sizes,
        majority=torch.where(empty, -1, majority),
        share=torch.where(empty, 0.0, top / sizes.clamp_min(1)),
    )


def cluster_members(assignments: Tensor, clusters: list[int], per_cluster: int, seed: int = 0) -> list[Tensor]:
    """Up to ``per_cluster`` images of each cluster in ``clusters``, drawn at random (the same for a seed).

    Returns:
        one (≤ per_cluster,) int64 index tensor per cluster, in the order of ``clusters``.
    """
    if per_cluster < 1:
        raise ValueError(f"per_cluster must be ≥ 1, got {per_cluster}")
    g = torch.Generator().manual_seed(seed)
    a = assignments.cpu()
    picked = []
    for k in clusters:
        members = (a == k).nonzero().squeeze(1)
        picked.append(members[torch.randperm(len(members), generator=g)[:per_cluster]].sort().values)
    return picked


def quantile_bins(values: Tensor, n_bins: int = 5) -> Tensor:
    """A continuous factor cut into ``n_bins`` groups of (nearly) equal size at its quantiles, so its NMI with
    the clusters can be set beside the classes': (N,) float → (N,) int64 in 0..n_bins − 1."""
    if values.ndim != 1 or not len(values):
        raise ValueError(f"values must be a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be ≥ 2, got {n_bins}")
    v = values.double().cpu()
    edges = torch.quantile(v, torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)[1:-1])
    return torch.bucketize(v, edges, right=True)


def border_hue(images: Tensor) -> Tensor:
    """The hue of each image's background, read from the mean colour of its one-pixel border: (N, 3, H, W) uint8
    or float → (N,) hue in turns, [0, 1) (0 red, 1/3 green, 2/3 blue; HSV's hue, as :func:`colorsys.rgb_to_hsv`).

    On ``shapes`` the shape never touches the border, so this is the background's colour, the nuisance no crop
    removes and colour jitter shifts by at most a tenth of a turn (hue 0.1 at the kit's strength 0.5)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) colour images, got shape {tuple(images.shape)}")
    x = images.double() / (255 if images.dtype == torch.uint8 else 1)
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], dim=-1).mean(-1)  # (N, 3)
    r, g, b = border.unbind(1)
    top, bottom = border.max(1).values, border.min(1).values
    span = (top - bottom).clamp_min(1e-12)
    hue = torch.where(top == r, (g - b) / span, torch.where(top == g, 2 + (b - r) / span, 4 + (r - g) / span))
    return torch.where(top == bottom, 0.0, (hue / 6) % 1.0).float()
