"""The geometry of an embedding: alignment and uniformity, effective rank, collapse.

- :func:`alignment`, :func:`uniformity` (Wang & Isola 2020; the same functions as the losses);
- :func:`effective_rank` (RankMe, Garrido et al. 2023), :func:`covariance_spectrum`, :func:`per_dimension_std`;
- :func:`contrastive_accuracy`: the pretext task's accuracy on given pairs;
- :func:`view_geometry` (a measure for ``fit``) and :func:`geometry_report` (one row per model).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data import to_float
from clkit.evaluate.features import embed, project
from clkit.evaluate.probes import knn_accuracy
from clkit.losses import alignment, nt_xent_logits, pretext_accuracy, uniformity


def singular_values(z: Tensor, center: bool = True) -> Tensor:
    """Singular values of the (N, D) embedding matrix, largest first (centred by default)."""
    x = z.double()
    if center:
        x = x - x.mean(0)
    return torch.linalg.svdvals(x).float()


def effective_rank(z: Tensor, eps: float = 1e-7) -> float:
    r"""RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values.

    With σ the singular values of the (N, D) embedding matrix (not centred, as in RankMe)
    and p_k = σ_k / Σσ + ε, the effective rank is exp(−Σ p_k log p_k): D for a perfectly
    isotropic embedding, 1 when it lies on one line. Compare runs of the same method only.
    """
    sigma = singular_values(z, center=False).double()
    p = sigma / sigma.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def contrastive_accuracy(z1: Tensor, z2: Tensor) -> Tensor:
    """The pretext task's accuracy: the fraction of the 2N views whose most similar other view is their partner.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
    Returns:
        0-d tensor in [0, 1].
    """
    return pretext_accuracy(nt_xent_logits(z1, z2, temperature=1.0))


def covariance_spectrum(z: Tensor, normalize: bool = True) -> Tensor:
    r"""Eigenvalues of the embeddings' covariance matrix, largest first (Jing et al. 2022's collapse plot).

    With X the centred (N, D) matrix of embeddings (ℓ2-normalised first when ``normalize``), the
    covariance C = XᵀX / (N − 1) has eigenvalues λ_k = σ_k² / (N − 1), σ the singular values of X.
    Dimensional collapse shows as a tail of λ_k near zero; after normalisation Σλ_k = 1 − ‖mean‖² ≤ 1,
    so spectra of different runs share one scale.

    Returns:
        (min(N, D),) float32.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"the covariance needs (N, D) embeddings with N ≥ 2, got {tuple(z.shape)}")
    x = F.normalize(z.double(), dim=1) if normalize else z.double()
    return (singular_values(x).double() ** 2 / (len(x) - 1)).float()


def per_dimension_std(z: Tensor) -> Tensor:
    """Standard deviation of each dimension of the ℓ2-normalised embeddings, (N, D) → (D,).

    Isotropic embeddings give about 1/√D in every dimension; a collapsed output gives 0
    (SimSiam, Chen & He 2021, watch this to catch collapse).
    """
    return F.normalize(z.float(), dim=1).std(dim=0)


def collapse_metrics(h: Tensor, z: Tensor) -> dict[str, float]:
    """Numbers of the collapse dashboard for backbone features h (N, D_h) and projections z (N, D_z).

    Returns:
        ``rankme_h``, ``rankme_z``: :func:`effective_rank` (1 … D); ``std_z·√D``: the mean of
        :func:`per_dimension_std` of z times √D_z (about 1 when z spreads over the sphere, 0 when
        collapsed); ``uniform_z``: :func:`uniformity` of z.
    """
    return {
        "rankme_h": effective_rank(h),
        "rankme_z": effective_rank(z),
        "std_z·√D": float(per_dimension_std(z).mean()) * math.sqrt(z.shape[1]),
        "uniform_z": float(uniformity(z)),
    }


def view_geometry(
    images: Tensor,
    augment: Callable[..., Tensor],
    space: str = "z",
    seed: int = 0,
    batch_size: int = 512,
) -> Callable[[nn.Module], dict[str, float]]:
    r"""A measure for ``fit(measures=[...])``: alignment and uniformity (Wang & Isola 2020) on fixed views.

    Two views of every image are drawn once, from ``seed``, so each call measures the same pairs::

        alignment  = E ‖f(v1) − f(v2)‖²                      (α = 2; 0 = aligned, 2 = unrelated)
        uniformity = log E_{i<j} exp(−2 ‖f(x_i) − f(x_j)‖²)    (t = 2; averaged over the two views,
                                                               as in Wang & Isola's own training loss)

    and the pretext task's accuracy on the same pairs, :func:`contrastive_accuracy` (it depends on
    the number of images: an anchor picks its partner out of 2N − 1 candidates)

    on ℓ2-normalised f = the projection z (``space="z"``, what the loss sees) or the backbone
    features h (``space="h"``).

    Args:
        images: (N, C, H, W) uint8 images (a few hundred is plenty).
        augment: the view recipe, e.g. ``method.augment``.
    Returns:
        a function ``method -> {"alignment": float, "uniformity": float, "contrastive_acc": float}``.
    """
    if space not in ("z", "h"):
        raise ValueError(f"space must be 'z' (after the head) or 'h' (the backbone), got {space!r}")
    x, generator = to_float(images), torch.Generator().manual_seed(seed)
    v1, v2 = augment(x, generator), augment(x, generator)  # drawn once, as clkit.augment.two_views draws them
    features = project if space == "z" else embed

    def measure(method: nn.Module) -> dict[str, float]:
        a, b = features(method, v1, batch_size=batch_size), features(method, v2, batch_size=batch_size)
        return {"alignment": float(alignment(a, b)), "uniformity": float((uniformity(a) + uniformity(b)) / 2),
                "contrastive_acc": float(contrastive_accuracy(a, b))}

    return measure


def geometry_report(
    models: dict[str, nn.Module],
    images: Tensor,
    labels: Tensor,
    bank_images: Tensor,
    bank_labels: Tensor,
    measure: Callable[[nn.Module], dict[str, float]] | None = None,
    k: int = 20,
) -> dict[str, dict[str, float]]:
    """One row of numbers per model: how well its features classify, and the shape of its space.

    Each row holds ``knn`` (:func:`knn_accuracy` of h, ``images`` against the labelled
    ``bank_images``, k neighbours), what ``measure`` returns (e.g. :func:`view_geometry`'s
    alignment and uniformity) and :func:`collapse_metrics` of h and z on ``images`` (z = h for a
    model without a projection head). Print it with :func:`format_table` (``percent=False``).

    Args:
        models: name → method or encoder.
        images: (N, C, H, W) held-out images; labels: (N,).
        bank_images: (M, C, H, W) labelled images for the kNN classifier; bank_labels: (M,).
    """
    rows = {}
    for name, model in models.items():
        h = embed(model, images)
        z = project(model, images) if hasattr(model, "project") else h
        row = {"knn": knn_accuracy(embed(model, bank_images), bank_labels, h, labels, k=k)}
        if measure is not None:
            row.update(measure(model))
        row.update(collapse_metrics(h, z))
        rows[name] = row
    return rows
