"""The margin lesson's toy: its points and views, its three losses and the push each one puts on every
negative (against slow loops from the papers and against the kit's own losses), the τ → 0 limit of NT-Xent,
the full-batch trainer and its figures."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from clkit.data.toy import ToySet, make_toy, toy_views  # noqa: E402
from clkit.losses.contrastive import nt_xent  # noqa: E402
from clkit.losses.metric import batch_triplet, margin_contrastive  # noqa: E402
from clkit.losses.temperature import anchor_weights  # noqa: E402
from clkit.train.toy import (  # noqa: E402
    Push,
    ToyRun,
    fit_toy,
    margin_loss,
    mine_triplets,
    nt_xent_loss,
    toy_mlp,
    triplet_loss,
    zero_temperature_limit,
)
from clkit.viz import style  # noqa: E402
from clkit.viz.toy import (  # noqa: E402
    push_figure,
    toy_embeddings_figure,
    toy_figure,
    zero_temperature_figure,
)


def outputs(seed: int, n: int = 6, d: int = 2, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views' outputs in general position: no ties between distances."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- the toy's data


def test_make_toy_draws_balanced_clusters_around_a_circle_from_its_seed():
    toy = make_toy(400, clusters=4, radius=2.0, spread=0.1, seed=3)
    assert toy.points.shape == (400, 2) and toy.points.dtype == torch.float32 and len(toy) == 400
    assert toy.labels.dtype == torch.int64 and torch.bincount(toy.labels).tolist() == [100] * 4
    assert toy.classes == ("cluster 1", "cluster 2", "cluster 3", "cluster 4")
    centres = torch.stack([toy.points[toy.labels == c].mean(dim=0) for c in range(4)])
    torch.testing.assert_close(centres, torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]),
                               atol=0.05, rtol=0)  # 100 points of spread 0.1: the means lie within 0.01 or so
    torch.testing.assert_close(make_toy(400, 4, 2.0, 0.1, seed=3).points, toy.points, rtol=0, atol=0)
    assert not torch.equal(make_toy(400, 4, 2.0, 0.1, seed=4).points, toy.points)


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 1}, "at least 2"), ({"clusters": 0}, "clusters"), ({"radius": 0.0}, "radius"),
    ({"spread": -0.1}, "spread"), ({"spread": float("nan")}, "spread"),
])
def test_make_toy_refuses_impossible_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_toy(**kwargs)


def test_toy_views_add_independent_noise_of_the_given_size():
    points = torch.zeros(20000, 2)
    v1, v2 = toy_views(points, 0.3, torch.Generator().manual_seed(0))
    assert v1.shape == v2.shape == points.shape and v1.dtype == points.dtype
    assert abs(v1.std().item() - 0.3) < 0.01 and abs(v2.std().item() - 0.3) < 0.01
    assert abs(torch.corrcoef(torch.stack([v1[:, 0], v2[:, 0]]))[0, 1].item()) < 0.03  # independent draws
    same = toy_views(points[:5], 0.0)
    assert torch.equal(same[0], points[:5]) and torch.equal(same[1], points[:5])
    again = toy_views(points, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], v1) and torch.equal(again[1], v2)


def test_toy_views_refuse_negative_noise_and_flat_points():
    with pytest.raises(ValueError, match="noise"):
        toy_views(torch.zeros(3, 2), -0.1)
    with pytest.raises(ValueError, match="2-D"):
        toy_views(torch.zeros(3), 0.1)


# ----------------------------------------------------------------------------- the margin contrastive loss


def reference_margin(z1, z2, m):
    """Hadsell et al. 2006 without the ½, one pair at a time; similar and dissimilar pairs averaged apart."""
    n = len(z1)
    dist = lambda a, b: math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))  # noqa: E731
    pulled = sum(dist(z1[i], z2[i]) ** 2 for i in range(n)) / n
    pushed = sum(max(0.0, m - dist(z1[i], z2[j])) ** 2 for i in range(n) for j in range(n) if i != j)
    return pulled + pushed / (n * (n - 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
def test_margin_loss_matches_the_pairwise_formula(seed, margin):
    z1, z2 = outputs(seed)
    got = margin_loss(margin).loss(z1, z2)
    assert math.isclose(got.item(), reference_margin(z1.tolist(), z2.tolist(), margin), rel_tol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_margin_push_is_the_gradient_of_each_pairs_term(seed):
    # Autograd through the kit's margin_contrastive, one row per pair: each row's gradient is that pair's own.
    z1, z2 = outputs(seed, n=5)
    push = margin_loss(1.5).push(z1, z2)
    i, j = push.negative.nonzero(as_tuple=True)
    a = z1[i].clone().requires_grad_()
    margin_contrastive(a, z2[j], torch.zeros(len(i)), 1.5).backward()
    torch.testing.assert_close(a.grad.norm(dim=1) * len(i), push.weight[i, j])  # the mean divides by len(i)
    torch.testing.assert_close(push.x, torch.cdist(z1, z2))
    assert push.weight.diagonal().eq(0).all() and not push.negative.diagonal().any()
    assert (push.weight[push.negative & (push.x >= 1.5)] == 0).all()
    assert (push.weight[push.negative & (push.x < 1.5)] > 0).all()
    closest = torch.cdist(z1, z2).fill_diagonal_(math.inf).argmin(dim=1)
    assert push.boundary == 1.5 and torch.equal(push.hardest, closest)


# ----------------------------------------------------------------------------- the triplet loss


def reference_mined(z1, z2, margin, mining):
    """FaceNet's rule from its text, one anchor at a time: (anchor, positive, mined negative, violated)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1).tolist()
    n2 = len(z)
    dist = lambda a, b: math.sqrt(sum((x - y) ** 2 for x, y in zip(z[a], z[b])))  # noqa: E731
    out = []
    for a in range(n2):
        p = (a + n2 // 2) % n2
        negatives = [k for k in range(n2) if k not in (a, p)]
        closest = min(negatives, key=lambda k: dist(a, k))
        farther = [k for k in negatives if dist(a, k) > dist(a, p)]
        chosen = closest if mining == "hard" or not farther else min(farther, key=lambda k: dist(a, k))
        out.append((a, p, chosen, dist(a, p) - dist(a, chosen) + margin))
    return out


@pytest.mark.parametrize("mining", ["hard", "semi-hard"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_triplet_loss_is_batch_triplet_with_each_point_its_own_class(mining, seed):
    # batch_triplet, which builds every triplet of the batch, is the oracle: same value and same gradient.
    z1, z2 = (t.requires_grad_() for t in outputs(seed, n=7))
    ours = triplet_loss(0.3, mining).loss(z1, z2)
    ours_grad = torch.autograd.grad(ours, (z1, z2))
    labels = torch.arange(7).repeat(2)
    theirs = batch_triplet(F.normalize(torch.cat([z1, z2]), dim=1), labels, 0.3, mining)
    theirs_grad = torch.autograd.grad(theirs, (z1, z2))
    torch.testing.assert_close(ours, theirs)
    for g, h in zip(ours_grad, theirs_grad):
        torch.testing.assert_close(g, h)


@pytest.mark.parametrize("mining", ["hard", "semi-hard"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_push_falls_on_the_mined_negative_only_while_it_violates(mining, seed):
    z1, z2 = outputs(seed, n=6)
    push = triplet_loss(0.4, mining).push(z1, z2)
    expected = torch.zeros(12, 12, dtype=torch.float64)
    for a, _, n, slack in reference_mined(z1, z2, 0.4, mining):
        expected[a, n] = float(slack > 0)
    torch.testing.assert_close(push.weight, expected)
    partner, mined = mine_triplets(z1, z2, mining)
    assert mined.tolist() == [n for _, _, n, _ in reference_mined(z1, z2, 0.4, mining)]
    assert partner.tolist() == [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]
    # Summing each pushed pair's slack gives the loss back: the push names every triplet that costs anything.
    slack = 0.4 - push.x  # d_ap − d_an + α
    loss = triplet_loss(0.4, mining).loss(z1, z2).item()
    assert math.isclose((push.weight * slack).sum().item() / 12, loss, rel_tol=1e-9, abs_tol=1e-12)
    assert (push.weight > 0).sum(dim=1).max() <= 1 and not push.weight[~push.negative].any()


def test_the_toy_losses_refuse_settings_they_cannot_use():
    with pytest.raises(ValueError, match="one negative per anchor"):
        triplet_loss(0.2, "all")  # a mining that pushes many negatives per anchor
    with pytest.raises(ValueError, match="one negative per anchor"):
        mine_triplets(torch.ones(2, 2), torch.ones(2, 2), "all")
    for make in (margin_loss, triplet_loss):
        with pytest.raises(ValueError, match="margin must be ≥ 0"):
            make(-0.1)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(0.0)


# ----------------------------------------------------------------------------- NT-Xent


@pytest.mark.parametrize("tau", [0.05, 0.5, 2.0])
def test_nt_xent_push_is_each_anchors_softmax_weight_over_tau(tau):
    z1, z2 = outputs(0, n=5, d=3)
    loss = nt_xent_loss(tau)
    torch.testing.assert_close(loss.loss(z1, z2), nt_xent(z1, z2, tau))
    push = loss.push(z1, z2)
    for anchor in range(10):
        w = anchor_weights(z1, z2, anchor, tau)  # the kit's one-anchor softmax, an independent computation
        row = torch.zeros(10, dtype=torch.float64)
        row[w.candidates[w.negatives]] = w.gradient[w.negatives]
        torch.testing.assert_close(push.weight[anchor], row)
        s_ap = w.similarities[w.positive]
        torch.testing.assert_close(push.x[anchor, w.candidates], w.similarities - s_ap)
        assert int(push.hardest[anchor]) == int(w.candidates[w.hardest_negatives(1)[0]])
    assert push.idle_share() == 0.0  # a softmax gives every negative some weight


def test_the_push_sharpens_onto_the_hardest_negative_as_tau_falls():
    z1, z2 = outputs(1, n=8, d=2)
    shares = [nt_xent_loss(tau).push(z1, z2).hardest_share() for tau in (10.0, 1.0, 0.1, 0.01, 0.001)]
    assert all(a < b for a, b in zip(shares, shares[1:]))
    assert abs(shares[0] - 1 / 14) < 0.02 and shares[-1] > 0.95  # uniform over 14 negatives → nearly all on 1


def test_push_shares_on_a_hand_made_push():
    weight = torch.tensor([[0.0, 3.0, 1.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]], dtype=torch.float64)
    negative = ~torch.eye(3, dtype=torch.bool)
    push = Push(torch.zeros(3, 3), weight, negative, torch.tensor([1, 2, 0]), "x", 0.0)
    assert push.idle_share() == pytest.approx(2 / 6)  # (1, 0) and (1, 2)
    assert push.hardest_share() == pytest.approx((3 / 4 + 2 / 4) / 2)  # the idle anchor 1 is left out


# ----------------------------------------------------------------------------- the τ → 0 limit


def reference_limit(z1, z2):
    """(1/2N) Σ_a max(0, max_n s_an − s_ap), one anchor at a time on normalised rows."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1).tolist()
    n2 = len(z)
    s = lambda a, b: sum(x * y for x, y in zip(z[a], z[b]))  # noqa: E731
    total = 0.0
    for a in range(n2):
        p = (a + n2 // 2) % n2
        total += max(0.0, max(s(a, k) for k in range(n2) if k not in (a, p)) - s(a, p))
    return total / n2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tau_times_nt_xent_converges_to_the_hardest_negative_limit(seed):
    z1, z2 = outputs(seed, n=6, d=3, dtype=torch.float32)
    limit = zero_temperature_limit(z1, z2).item()
    assert math.isclose(limit, reference_limit(z1, z2), rel_tol=1e-5, abs_tol=1e-6) and limit > 0
    gaps = []
    for tau in (1.0, 0.1, 0.01, 1e-3, 1e-4):
        gap = tau * nt_xent(z1, z2, tau).item() - limit
        assert -1e-6 <= gap <= tau * math.log(11) + 1e-6  # 0 ≤ τℓ − limit ≤ τ log(2N − 1), at every τ
        gaps.append(gap)
    # The gap shrinks with τ until it reaches float32's resolution of the loss.
    assert gaps[-1] < 1e-5 and all(a > b or b < 1e-6 for a, b in zip(gaps, gaps[1:]))


def test_the_limit_cannot_tell_a_collapsed_batch_from_a_perfect_one():
    same = torch.ones(4, 3)
    assert zero_temperature_limit(same, same).item() == 0.0
    separated = torch.eye(4)
    assert zero_temperature_limit(separated, separated).item() == 0.0
    with pytest.raises(ValueError, match="N ≥ 2"):
        zero_temperature_limit(torch.ones(1, 2), torch.ones(1, 2))


# ----------------------------------------------------------------------------- the trainer


@pytest.fixture(scope="module")
def toy() -> ToySet:
    return make_toy(16, clusters=2, seed=0)


def test_fit_toy_is_reproducible_and_leaves_the_global_random_state_alone(toy):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    run = fit_toy(nt_xent_loss(0.5), toy, steps=30, seed=1)
    assert torch.rand(1).item() == before.item()
    again = fit_toy(nt_xent_loss(0.5), toy, steps=30, seed=1)
    assert isinstance(run, ToyRun) and run.losses == again.losses and len(run.losses) == 30
    assert run.losses[-1] < run.losses[0]  # the views come together and apart as asked
    assert run.embed(toy.points).shape == (16, 2) and not run.model.training
    assert fit_toy(nt_xent_loss(0.5), toy, steps=30, seed=2).losses != run.losses


@pytest.mark.parametrize("loss", [margin_loss(1.0), triplet_loss(0.05, "semi-hard"),
                                  triplet_loss(0.05, "hard")], ids=lambda loss: loss.name)
def test_every_toy_loss_trains_to_a_finite_loss(toy, loss):
    run = fit_toy(loss, toy, steps=10)
    assert all(math.isfinite(v) for v in run.losses) and run.loss is loss


def test_fit_toy_refuses_zero_steps(toy):
    with pytest.raises(ValueError, match="steps"):
        fit_toy(nt_xent_loss(0.5), toy, steps=0)


def test_toy_mlp_maps_points_to_the_plane():
    assert toy_mlp(hidden=8)(torch.zeros(5, 2)).shape == (5, 2)


# ----------------------------------------------------------------------------- figures


def readable(fig) -> None:
    """What every figure of the kit keeps: notebook width, text ≥ 11 pt, visible markers."""
    from matplotlib.collections import PathCollection

    fig.canvas.draw()
    assert fig.dpi == style.DPI and fig.get_figwidth() <= style.MAX_WIDTH
    small = [t.get_text() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < style.MIN_FONT]
    assert not small, small
    assert all(np.all(s.get_sizes() >= 12) for s in fig.findobj(PathCollection) if len(s.get_offsets()))


@pytest.fixture(scope="module")
def runs(toy):
    return {loss.name: fit_toy(loss, toy, steps=3) for loss in (margin_loss(1.0), nt_xent_loss(0.2))}


def test_toy_figure_shows_the_whole_toy_and_one_cluster_close_up(toy):
    v1, v2 = toy_views(toy.points, 0.05, torch.Generator().manual_seed(0))
    fig = toy_figure(toy, v1, v2, cluster=1)
    whole, close = fig.axes
    assert whole.get_title() == "16 points in 2 clusters" and close.get_title() == "cluster 2, close up"
    assert len(close.lines) == 8 + 1  # one segment per point of the cluster, one for the legend
    readable(fig)


def test_embeddings_figure_draws_one_panel_per_run(toy, runs):
    fig = toy_embeddings_figure(runs, toy)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 2 and shown[0].get_title().startswith("margin, m = 1\nloss")
    assert shown[1].lines and not shown[1].axison  # the circle is drawn, the axes are not
    readable(fig)


def test_push_figure_draws_every_pair_and_the_rules_boundary(toy, runs):
    v1, v2 = toy_views(toy.points, 0.05, torch.Generator().manual_seed(0))
    pushes = {name: run.loss.push(run.embed(v1), run.embed(v2)) for name, run in runs.items()}
    fig = push_figure(pushes)
    margin_ax = fig.axes[0]
    assert len(margin_ax.collections[0].get_offsets()) == 16 * 15  # every (anchor, negative) pair
    assert margin_ax.lines[0].get_xdata()[0] == 1.0  # the margin
    assert len(fig.axes[1].collections[0].get_offsets()) == 32 * 30
    readable(fig)


def test_zero_temperature_figure_runs_tau_downwards_on_log_axes():
    taus = (1.0, 0.1, 0.01)
    scaled, shares = {t: 0.5 + t for t in taus}, {t: 1 - t / 2 for t in taus}
    fig = zero_temperature_figure(scaled, shares, 0.5, candidates=11)
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert fig.axes[1].get_yscale() == "log"
    readable(fig)
