"""The margin lesson's toy, trained: three losses side by side, and where each one pushes the negatives.

An MLP maps the points of :mod:`clkit.data.toy` to the plane; every step draws two fresh noisy views of every
point and takes one full-batch gradient step, so a run of a few hundred steps takes a second or two. Three
families of loss decide differently which negatives to push, and how hard:

- :func:`margin_loss`, the margin contrastive loss (Hadsell, Chopra & LeCun 2006), on the raw 2-D outputs:
  a negative closer than the margin m is pushed with force 2(m − d); one beyond it, not at all;
- :func:`triplet_loss`, FaceNet's triplet loss (Schroff et al. 2015, arXiv:1503.03832) on the unit circle,
  with triplets mined in the batch: one negative per anchor, and only while it violates the margin α;
- :func:`nt_xent_loss`, SimCLR's NT-Xent (InfoNCE) on the unit circle: every negative, each with its softmax
  weight P/τ, which a small τ concentrates on the most similar ones.

Each :class:`ToyLoss` carries its :class:`Push`: for every (anchor, negative) pair, the size of the derivative
of the anchor's loss term with respect to that pair's distance or similarity. :func:`zero_temperature_limit`
is where NT-Xent ends as τ → 0: τ·ℓ → max(0, max_n s_n − s_p), a triplet loss on the hardest negative with
margin 0 in similarity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data.toy import ToySet, toy_views
from clkit.losses.contrastive import check_pair, check_temperature, nt_xent, nt_xent_logits
from clkit.losses.metric import margin_contrastive, pairwise_distances, triplet

MININGS = ("hard", "semi-hard")  # the minings that pick one negative per anchor


class Push(NamedTuple):
    """How one loss pushes each anchor's negatives, at one set of embeddings.

    Rows are anchors, columns candidates; only the cells where ``negative`` is True are (anchor, negative)
    pairs. ``weight`` is |∂ℓ_a/∂x| for the pair's distance or similarity x, taken from anchor a's own loss
    term before the loss averages over anchors (or pairs), so the weights of different anchors compare.

    Attributes:
        x: (A, C) what the pair's push depends on, as ``x_label`` names it.
        weight: (A, C) ≥ 0, zero outside the negatives.
        negative: (A, C) bool, the (anchor, negative) pairs.
        hardest: (A,) column of each anchor's hardest negative, the one closest to it in the loss's space.
        x_label: what ``x`` is, for an axis label.
        boundary: the x at which the rule changes (the margin, or 0), for a reference line.
    """

    x: Tensor
    weight: Tensor
    negative: Tensor
    hardest: Tensor
    x_label: str
    boundary: float

    def idle_share(self) -> float:
        """The share of (anchor, negative) pairs that get no push at all."""
        return float((self.weight[self.negative] == 0).double().mean())

    def hardest_share(self) -> float:
        """The share of each anchor's total push that lands on its hardest negative, averaged over the
        anchors that push anything (an anchor whose negatives all get zero has no share to speak of)."""
        total = self.weight.sum(dim=1)
        on_hardest = self.weight.gather(1, self.hardest[:, None])[:, 0]
        pushing = total > 0
        return float((on_hardest[pushing] / total[pushing]).mean()) if bool(pushing.any()) else 0.0


class ToyLoss(NamedTuple):
    """A loss on the two views' outputs, with the analysis of its push and the space it acts in.

    Attributes:
        name: a short label for figures.
        loss: (z1, z2) → 0-d loss, z1 and z2 the (N, 2) outputs of the two views.
        push: (z1, z2) → :class:`Push` at those outputs.
        on_circle: whether the loss normalises the outputs (then the embedding is each output's angle).
    """

    name: str
    loss: Callable[[Tensor, Tensor], Tensor]
    push: Callable[[Tensor, Tensor], Push]
    on_circle: bool


def _instances(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """For the 2N stacked views [z1; z2]: each view's partner, and the (2N, 2N) mask of its negatives."""
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(device)
    negative = ~torch.eye(2 * n, dtype=torch.bool, device=device)
    negative[torch.arange(2 * n, device=device), partner] = False
    return partner, negative


def _closest(distance: Tensor, negative: Tensor) -> Tensor:
    return distance.masked_fill(~negative, float("inf")).argmin(dim=1)


def _check_margin(margin: float) -> None:
    if not margin >= 0:
        raise ValueError(f"margin must be ≥ 0 (a distance a negative should keep), got {margin}")


def _check_mining(mining: str) -> None:
    if mining not in MININGS:
        raise ValueError(f"mining must be 'hard' or 'semi-hard' (one negative per anchor), got {mining!r}")


def margin_loss(margin: float = 1.0) -> ToyLoss:
    r"""The margin contrastive loss of Hadsell, Chopra & LeCun (2006) on the raw outputs, over cross-view
    pairs.

    Pair (i, j) is (z1_i, z2_j) at distance d_ij: similar for i = j, dissimilar otherwise. The two kinds of
    pair are averaged apart, so that the N(N − 1) dissimilar pairs do not drown the N similar ones::

        L = mean_i d_ii²  +  mean_{i≠j} max(0, m − d_ij)²

    Each term is :func:`clkit.losses.margin_contrastive`. The push on a negative pair is
    |∂/∂d (m − d)₊²| = 2 (m − d)₊: linear inside the margin, exactly zero beyond it.
    """
    _check_margin(margin)

    def loss(z1: Tensor, z2: Tensor) -> Tensor:
        n = len(z1)
        i, j = (~torch.eye(n, dtype=torch.bool, device=z1.device)).nonzero(as_tuple=True)
        pulled = margin_contrastive(z1, z2, torch.ones(n, device=z1.device), margin)
        pushed = margin_contrastive(z1[i], z2[j], torch.zeros(len(i), device=z1.device), margin)
        return pulled + pushed

    def push(z1: Tensor, z2: Tensor) -> Push:
        check_pair(z1, z2, ("z1", "z2"))
        d = torch.cdist(z1.detach().double(), z2.detach().double())  # (N, N): anchors z1_i, candidates z2_j
        negative = ~torch.eye(len(z1), dtype=torch.bool)
        weight = torch.where(negative, 2 * (margin - d).clamp_min(0), 0.0)
        return Push(d, weight, negative, _closest(d, negative), "d(a, n)", margin)

    return ToyLoss(f"margin, m = {margin:g}", loss, push, on_circle=False)


def mine_triplets(z1: Tensor, z2: Tensor, mining: str) -> tuple[Tensor, Tensor]:
    """Each stacked view's positive (its partner) and its mined negative, as :func:`triplet_loss` picks them.

    Returns (partner, mined), each (2N,) indices into [z1; z2]. The choice reads distances only and carries no
    gradient (an argmin has none), so the loss on the mined triplets has batch_triplet's gradient.
    """
    _check_mining(mining)
    with torch.no_grad():
        d = pairwise_distances(F.normalize(torch.cat([z1, z2]).double(), dim=1))
        partner, negative = _instances(len(z1), d.device)
        closest = _closest(d, negative)
        if mining == "hard":
            return partner, closest
        farther = negative & (d > d.gather(1, partner[:, None]))  # semi-hard: beyond the positive, and the
        # closest of those; when no negative is farther, the closest overall (as batch_triplet does).
        return partner, torch.where(farther.any(dim=1), _closest(d, farther), closest)


def triplet_loss(margin: float = 0.2, mining: str = "semi-hard") -> ToyLoss:
    r"""FaceNet's triplet loss (Schroff et al. 2015, arXiv:1503.03832) on the unit circle, mined in the
    batch.

    The 2N views are stacked; a view's positive is its partner, its negatives every view of another point.
    With d the distance between normalised outputs, each anchor a gets one triplet,

        ℓ_a = max(0, d_ap − d_an* + α),      L = mean_a ℓ_a  (:func:`clkit.losses.triplet`)

    with n* its closest negative (``"hard"``) or its closest negative farther than the positive
    (``"semi-hard"``, FaceNet's choice; the closest overall when none is farther), found by
    :func:`mine_triplets`. With each point its own class this is :func:`clkit.losses.batch_triplet` on
    [z1; z2], mined without its (2N)³ table of triplets. The push is 1 on n* while the triplet violates
    the margin (d_an* < d_ap + α), 0 on every other negative.
    """
    _check_margin(margin)
    _check_mining(mining)

    def loss(z1: Tensor, z2: Tensor) -> Tensor:
        check_pair(z1, z2, ("z1", "z2"))
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        partner, mined = mine_triplets(z1, z2, mining)
        return triplet(z, z[partner], z[mined], margin)

    def push(z1: Tensor, z2: Tensor) -> Push:
        check_pair(z1, z2, ("z1", "z2"))
        d = pairwise_distances(F.normalize(torch.cat([z1, z2]).detach().double(), dim=1))
        partner, mined = mine_triplets(z1, z2, mining)
        _, negative = _instances(len(z1), d.device)
        d_ap = d.gather(1, partner[:, None])  # (2N, 1)
        chosen = torch.zeros_like(negative).scatter_(1, mined[:, None], True)
        weight = (chosen & (d < d_ap + margin)).double()
        return Push(d - d_ap, weight, negative, _closest(d, negative), "d(a, n) − d(a, p)", margin)

    return ToyLoss(f"triplet, {mining}", loss, push, on_circle=True)


def nt_xent_loss(temperature: float = 0.5) -> ToyLoss:
    r"""SimCLR's NT-Xent (InfoNCE over the 2N views, :func:`clkit.losses.nt_xent`) on the unit circle.

    With s the cosine similarities and P_an = exp(s_an/τ) / Σ_{j≠a} exp(s_aj/τ), the push on a negative is
    ∂ℓ_a/∂s_an = P_an/τ (Wang & Liu 2021, arXiv:2012.09740): every negative is pushed, each by a softmax
    weight that grows exponentially with its similarity, more sharply the smaller τ is.
    """
    check_temperature(temperature)

    def loss(z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(z1, z2, temperature)

    def push(z1: Tensor, z2: Tensor) -> Push:
        check_pair(z1, z2, ("z1", "z2"))
        u = F.normalize(torch.cat([z1, z2]).detach().double(), dim=1)
        s = u @ u.T
        partner, negative = _instances(len(z1), u.device)
        p = torch.softmax((s / temperature).fill_diagonal_(float("-inf")), dim=1)
        weight = torch.where(negative, p / temperature, 0.0)
        s_ap = s.gather(1, partner[:, None])
        return Push(s - s_ap, weight, negative, _closest(-s, negative), "s(a, n) − s(a, p)", 0.0)

    return ToyLoss(f"NT-Xent, τ = {temperature:g}", loss, push, on_circle=True)


def zero_temperature_limit(z1: Tensor, z2: Tensor) -> Tensor:
    r"""The τ → 0 limit of τ · NT-Xent: a triplet loss on each anchor's hardest negative, with margin 0.

    For anchor a with positive similarity s_ap and candidates j ≠ a, τ ℓ_a = τ log Σ_j exp((s_aj − s_ap)/τ).
    The largest exponent wins as τ → 0, and it is max(0, max_n s_an − s_ap) (the positive's is 0)::

        lim_{τ→0} τ · NT-Xent = (1 / 2N) Σ_a max(0, max_{n ≠ a, p} s_an − s_ap)

    For every τ the gap is bounded, 0 ≤ τ · NT-Xent − limit ≤ τ log(2N − 1): each of the 2N − 1 terms of the
    sum lies between 0 and exp(limit_a / τ), and one of them reaches it.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned, N ≥ 2 (normalised here, as NT-Xent does).
    Returns:
        0-d float32 tensor.
    """
    if len(z1) < 2:
        raise ValueError(f"the limit needs a negative, so N ≥ 2 pairs; got N = {len(z1)}")
    s, partner = nt_xent_logits(z1, z2, 1.0)  # at τ = 1 the logits are the similarities (−∞ on the anchor)
    s_ap = s.gather(1, partner[:, None])
    hardest = s.scatter(1, partner[:, None], float("-inf")).amax(dim=1, keepdim=True)
    return (hardest - s_ap).clamp_min(0).mean()


def toy_mlp(hidden: int = 64, inputs: int = 2, outputs: int = 2) -> nn.Sequential:
    """The toy's encoder: two hidden ReLU layers of ``hidden`` units, ``inputs`` coordinates in, ``outputs``
    out."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))


class ToyRun(NamedTuple):
    """A trained toy encoder and its loss at every step."""

    model: nn.Module
    losses: list[float]
    loss: ToyLoss

    @torch.no_grad()
    def embed(self, points: Tensor) -> Tensor:
        """The outputs for ``points`` (N, 2), raw: a loss on the circle sees their angle."""
        return self.model(points)


def fit_toy(loss: ToyLoss, toy: ToySet, *, steps: int, lr: float = 1e-2, noise: float = 0.05,
            hidden: int = 64, seed: int = 0) -> ToyRun:
    """Train a fresh :func:`toy_mlp` on ``loss``, full batch: each step draws two new views of every point.

    Args:
        loss: the :class:`ToyLoss` to minimise.
        toy: the points (:func:`clkit.data.toy.make_toy`).
        steps: gradient steps (Adam), ≥ 1.
        lr: Adam's learning rate.
        noise: the views' standard deviation (:func:`clkit.data.toy.toy_views`).
        hidden: width of the MLP's hidden layers.
        seed: fixes the initial weights and every view; the global random state is left as it was.
    Returns:
        :class:`ToyRun`.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = toy_mlp(hidden)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        v1, v2 = toy_views(toy.points, noise, generator)
        value = loss.loss(model(v1), model(v2))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        history.append(float(value.detach()))
    return ToyRun(model.eval(), history, loss)
