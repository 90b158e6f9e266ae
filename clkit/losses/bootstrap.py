"""The losses of BYOL and SimSiam: one view's prediction against the other view's embedding, nothing else.

Neither loss has negatives or batch statistics: each is a mean over pairs of a function of one
angle, minimised when every prediction points where its target points. A network that maps every
image to one point minimises them too; what keeps BYOL and SimSiam away from that point is how the
methods use the losses (a predictor on one branch, a stop-gradient on the other, see
:mod:`clkit.methods.bootstrap`), not the losses themselves.

Both functions act on values only. The stop-gradient of the papers, ``D(p, stopgrad(z))``, is the
caller's: pass ``z.detach()``. Keeping it out of the loss lets a method switch it off to show what
it does, and keeps the loss a plain function of two batches.

The two losses are one up to an affine map: for unit vectors ‖p̄ − z̄‖² = 2 − 2 p̄·z̄, so
``normalized_mse = 2 + 2 · negative_cosine`` and their gradients differ by a factor of 2.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from clkit.losses.contrastive import at_least_float32, check_pair


def _unit_rows(p: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """The two checked batches, ℓ2-normalised row by row in at least float32 (a zero row stays zero)."""
    check_pair(p, z, ("p", "z"))
    return F.normalize(at_least_float32(p), dim=1), F.normalize(at_least_float32(z), dim=1)


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    r"""SimSiam's D (Chen & He 2021, arXiv:2011.10566, eq. 1): the negative cosine similarity, mean over pairs::

        D(p, z) = −(1/N) Σ_i  p_i / ‖p_i‖₂ · z_i / ‖z_i‖₂

    In [−1, 1]: −1 when every prediction points along its target (identical views, and also a
    collapsed network), 0 for orthogonal pairs, about 0 for unrelated random vectors in many
    dimensions. It ignores each row's length. A zero row has no direction and contributes 0.

    Args:
        p: (N, D) predictions of one view.
        z: (N, D) embeddings of the other view, row-aligned with ``p``. For SimSiam's
            ``D(p, stopgrad(z))`` pass ``z.detach()``: the loss never detaches anything itself.
    Returns:
        0-d tensor, in at least float32.
    """
    a, b = _unit_rows(p, z)
    return -(a * b).sum(dim=1).mean()


def normalized_mse(p: Tensor, z: Tensor) -> Tensor:
    r"""BYOL's regression loss (Grill et al. 2020, arXiv:2006.07733, section 3.1): the mean squared distance of the
    ℓ2-normalised prediction from the ℓ2-normalised target::

        L(p, z) = (1/N) Σ_i ‖ p_i / ‖p_i‖₂ − z_i / ‖z_i‖₂ ‖₂²  =  2 − 2 · (1/N) Σ_i cos(p_i, z_i)

    In [0, 4]: 0 when every prediction points along its target (identical views, and also a
    collapsed network), 2 for orthogonal pairs, 4 for opposite ones. It ignores each row's
    length. BYOL trains on the sum of the two directions, L(q1, z'2) + L(q2, z'1), in [0, 8].

    Computed as the squared difference rather than 2 − 2 cos, which loses the small
    distances of well-aligned pairs to cancellation. A zero row has no direction: its term is
    the other row's squared length (1, or 0 if both are zero).

    Args:
        p: (N, D) predictions of one view (BYOL's q_θ(z_θ)).
        z: (N, D) target projections of the other view (BYOL's z'_ξ), row-aligned with ``p``;
            pass ``z.detach()`` for the paper's stop-gradient.
    Returns:
        0-d tensor, in at least float32.
    """
    a, b = _unit_rows(p, z)
    return (a - b).pow(2).sum(dim=1).mean()
