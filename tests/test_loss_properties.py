"""Every loss, property-tested: one shared suite over a registry, which a new loss joins with one line.

Each entry of :data:`LOSSES` is a loss as a function of two row-aligned batches ``(z1, z2)`` (row i of
one is the positive of row i of the other) and the properties it promises:

- every loss: a finite value and finite gradients for any input, identical and all-zero embeddings
  included; a loss built on batch statistics declares ``min_rows`` and must refuse smaller batches
  with a ValueError (the other properties are checked on batches of at least ``min_rows``);
- ``SCALE``: the loss normalises each embedding, so scaling any row by a positive factor changes nothing;
- ``SYMMETRIC``: swapping the two batches changes nothing (the paper's loss treats both views alike);
- ``PERMUTATION``: shuffling the pairs (both batches by the same permutation) changes nothing.

Inputs are drawn on a coarse grid (multiples of 1/4 in [-2, 2]), so ties, repeated rows and zero
rows are common, and with some probability the two views are identical, every row is the same
point, or everything is zero. Examples are derandomised so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import Tensor

from clkit import losses

SCALE, SYMMETRIC, PERMUTATION = "scale", "symmetric", "permutation"


class Loss(NamedTuple):
    """A loss of two row-aligned batches and the properties it promises."""

    name: str
    fn: Callable[[Tensor, Tensor], Tensor]
    properties: frozenset[str]
    min_rows: int = 1


def promises(*properties: str) -> frozenset[str]:
    return frozenset(properties)


def two_views(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """The two views as one labelled batch: ``cat(z1, z2)`` with labels ``arange(N)`` twice."""
    return torch.cat([z1, z2]), torch.arange(len(z1)).repeat(2)


#: The registry: one line per loss.
LOSSES = [
    Loss("nt_xent", lambda z1, z2: losses.nt_xent(z1, z2, 0.1), promises(SCALE, SYMMETRIC, PERMUTATION)),
    Loss("info_nce", lambda q, k: losses.info_nce(q, k, temperature=0.1), promises(SCALE, PERMUTATION)),
    Loss("clip_loss", lambda u, v: losses.clip_loss(u, v, 1 / 0.07), promises(SCALE, SYMMETRIC, PERMUTATION)),
    # SimCSE: InfoNCE in one direction at τ = 0.05; the rolled positives stand in for the hard negatives (every one of
    # them is a negative of every anchor, so shuffling the pairs only reorders the denominator).
    Loss("simcse", lambda h, h_pos: losses.simcse_loss(h, h_pos), promises(SCALE, PERMUTATION)),
    Loss("simcse hard negatives", lambda h, h_pos: losses.simcse_loss(h, h_pos, h_pos.roll(1, 0)),
         promises(SCALE, PERMUTATION)),
    Loss("alignment", losses.alignment, promises(SCALE, SYMMETRIC, PERMUTATION)),
    Loss("alignment α=1", lambda z1, z2: losses.alignment(z1, z2, alpha=1), promises(SCALE, SYMMETRIC, PERMUTATION)),
    Loss("uniformity", lambda z1, z2: losses.uniformity(torch.cat([z1, z2])), promises(SCALE, SYMMETRIC, PERMUTATION)),
    # Batch statistics: no row-scaling invariance (Barlow Twins is invariant to scaling each *dimension*,
    # see tests/test_redundancy.py), and no loss for a batch of one.
    Loss("barlow_twins", lambda a, b: losses.barlow_twins(a, b).loss, promises(SYMMETRIC, PERMUTATION), 2),
    Loss("vicreg", lambda a, b: losses.vicreg(a, b).loss, promises(SYMMETRIC, PERMUTATION), 2),
    # Supervised losses, with row i of z1 and z2 as the one pair of class i (SupCon is then NT-Xent). The
    # distance-based ones use the embeddings as given, so they promise no scale invariance.
    Loss("supcon", lambda z1, z2: losses.supcon(*two_views(z1, z2)), promises(SCALE, SYMMETRIC, PERMUTATION)),
    Loss("margin_contrastive same", lambda z1, z2: losses.margin_contrastive(z1, z2, torch.ones(len(z1))),
         promises(SYMMETRIC, PERMUTATION)),
    Loss("triplet rolled negative", lambda z1, z2: losses.triplet(z1, z2, z2.roll(1, 0)), promises()),
    *(Loss(f"batch_triplet {m}", lambda z1, z2, m=m: losses.batch_triplet(*two_views(z1, z2), mining=m),
           promises(SYMMETRIC, PERMUTATION)) for m in ("semi-hard", "hard", "all")),
    Loss("negative_cosine", losses.negative_cosine, promises(SCALE, SYMMETRIC, PERMUTATION)),
    # Bradley–Terry on rewards read off the rows (their sums): a pair's order matters, so not symmetric.
    Loss("bradley_terry", lambda a, b: losses.bradley_terry_loss(a.sum(1), b.sum(1)), promises(PERMUTATION)),
    # I-JEPA's regression with every row one target token.
    Loss("jepa_loss", lambda p, t: losses.jepa_loss(p[:, None], t[:, None], torch.ones(len(p), 1, dtype=torch.bool)),
         promises(SYMMETRIC, PERMUTATION)),
    Loss("normalized_mse", losses.normalized_mse, promises(SCALE, SYMMETRIC, PERMUTATION)),
    # MoCo with a fixed queue (the D axes) as negatives; the query and key sides differ, so not symmetric.
    Loss("moco queue", lambda q, k: torch.nn.functional.cross_entropy(
        *losses.moco_logits(q, k, torch.eye(q.shape[1]), 0.1)), promises(SCALE, PERMUTATION)),
    Loss("batch_margin_contrastive", lambda z1, z2: losses.batch_margin_contrastive(*two_views(z1, z2)).loss,
         promises(SYMMETRIC, PERMUTATION)),
    # SimCLR's Table 2 losses normalise, so a row's scale is free; a mined triple is picked by comparing similarities,
    # and rescaling can round one of the grid's ties either way, so only "all" promises scale invariance.
    *(Loss(f"nt_logistic {m}", lambda z1, z2, m=m: losses.nt_logistic(z1, z2, 0.5, m).loss,
           promises(SCALE, SYMMETRIC, PERMUTATION) if m == "all" else promises(SYMMETRIC, PERMUTATION))
      for m in ("all", "semi-hard", "hard")),
    *(Loss(f"margin_triplet {m}", lambda z1, z2, m=m: losses.margin_triplet(z1, z2, 0.4, m).loss,
           promises(SCALE, SYMMETRIC, PERMUTATION) if m == "all" else promises(SYMMETRIC, PERMUTATION))
      for m in ("all", "semi-hard", "hard")),
    # Clustering losses read each row as scores against K prototypes (SwAV) or output dimensions (DINO, the views
    # their own teacher with a zero centre); the scores are not normalised, so no scale invariance.
    Loss("swav", lambda a, b: losses.swav_loss([a, b]).loss, promises(SYMMETRIC, PERMUTATION)),
    Loss("dino", lambda a, b: losses.dino_loss([a, b], [a, b], torch.zeros(a.shape[1])).loss,
         promises(SYMMETRIC, PERMUTATION)),
]

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, database=None)


def having(prop: str) -> list:
    return [pytest.param(loss, id=loss.name) for loss in LOSSES if prop in loss.properties]


@st.composite
def pairs(draw, max_rows: int = 6, max_dim: int = 5) -> tuple[Tensor, Tensor]:
    """Two (N, D) float32 batches: random grid values, or one of the degenerate cases."""
    n, d = draw(st.integers(1, max_rows)), draw(st.integers(1, max_dim))
    grid = st.integers(-8, 8).map(lambda v: v / 4)

    def batch() -> Tensor:
        return torch.tensor(draw(st.lists(grid, min_size=n * d, max_size=n * d)), dtype=torch.float32).view(n, d)

    case = draw(st.sampled_from(["random", "identical views", "one point", "zeros"]))
    z1 = batch()
    if case == "identical views":
        return z1, z1.clone()
    if case == "one point":
        return z1[:1].expand(n, d).clone(), z1[:1].expand(n, d).clone()
    if case == "zeros":
        return torch.zeros(n, d), torch.zeros(n, d)
    return z1, batch()


def close(a: Tensor, b: Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", [pytest.param(loss, id=loss.name) for loss in LOSSES])
@EXAMPLES
@given(views=pairs())
def test_value_and_gradients_are_finite_for_any_input(loss, views):
    z1, z2 = (z.requires_grad_() for z in views)
    if len(z1) < loss.min_rows:
        with pytest.raises(ValueError, match=f"N = {len(z1)}"):
            loss.fn(z1, z2)
        return
    value = loss.fn(z1, z2)
    value.backward()
    assert value.shape == () and torch.isfinite(value)
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


@pytest.mark.parametrize("loss", having(SCALE))
@EXAMPLES
@given(views=pairs(), data=st.data())
def test_scaling_any_embedding_changes_nothing(loss, views, data):
    z1, z2 = views
    assume(len(z1) >= loss.min_rows)
    factors = st.lists(st.integers(1, 400).map(lambda v: v / 20), min_size=len(z1), max_size=len(z1))
    s1, s2 = (torch.tensor(data.draw(factors))[:, None] for _ in range(2))
    assert close(loss.fn(s1 * z1, s2 * z2), loss.fn(z1, z2))


@pytest.mark.parametrize("loss", having(SYMMETRIC))
@EXAMPLES
@given(views=pairs())
def test_swapping_the_views_changes_nothing(loss, views):
    z1, z2 = views
    assume(len(z1) >= loss.min_rows)
    assert close(loss.fn(z2, z1), loss.fn(z1, z2))


@pytest.mark.parametrize("loss", having(PERMUTATION))
@EXAMPLES
@given(views=pairs(), data=st.data())
def test_shuffling_the_pairs_together_changes_nothing(loss, views, data):
    z1, z2 = views
    assume(len(z1) >= loss.min_rows)
    order = torch.tensor(data.draw(st.permutations(range(len(z1)))), dtype=torch.long)
    assert close(loss.fn(z1[order], z2[order]), loss.fn(z1, z2))
