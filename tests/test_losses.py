"""Losses against the formulas written out as slow loops."""

import math

import pytest
import torch

from clkit import losses
from clkit.losses import collapsed_nt_xent, info_nce, nt_xent


def nt_xent_reference(z1, z2, tau):
    """SimCLR's Algorithm 1, literally: views 2k-1 and 2k are a pair, loops over every anchor."""
    n = len(z1)
    views = []
    for k in range(n):
        views += [z1[k], z2[k]]

    def sim(u, v):
        return float(u @ v) / (float(u.norm()) * float(v.norm()))

    def ell(i, j):
        denom = sum(math.exp(sim(views[i], views[k]) / tau) for k in range(2 * n) if k != i)
        return -math.log(math.exp(sim(views[i], views[j]) / tau) / denom)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def info_nce_reference(q, k, negatives, tau):
    total = 0.0
    for i in range(len(q)):
        qi = q[i] / q[i].norm()
        keys = [k[j] for j in range(len(k))] if negatives is None else [k[i], *negatives]
        logits = [float(qi @ (key / key.norm())) / tau for key in keys]
        positive = logits[i] if negatives is None else logits[0]
        total += -positive + math.log(sum(math.exp(x) for x in logits))
    return total / len(q)


@pytest.mark.parametrize("tau", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("n, d", [(2, 3), (7, 16)])
def test_nt_xent_matches_the_papers_algorithm(n, d, tau):
    g = torch.Generator().manual_seed(n * 100 + d)
    z1, z2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(nt_xent_reference(z1, z2, tau), rel=1e-5)


def test_nt_xent_is_symmetric_in_the_views_and_scale_invariant():
    z1, z2 = torch.randn(5, 8), torch.randn(5, 8)
    torch.testing.assert_close(nt_xent(z1, z2), nt_xent(z2, z1))
    torch.testing.assert_close(nt_xent(3 * z1, 0.5 * z2), nt_xent(z1, z2))


@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_collapsed_batch_gives_log_2n_minus_1(tau):
    z = torch.ones(256, 16)
    assert nt_xent(z, z, tau).item() == pytest.approx(math.log(511), rel=1e-6)
    assert collapsed_nt_xent(256) == pytest.approx(6.2363, abs=1e-4)


def test_perfect_separation_drives_the_loss_to_zero_at_small_tau():
    z = torch.eye(4)
    assert nt_xent(z, z, 0.01).item() < 1e-6


@pytest.mark.parametrize("use_negatives", [False, True])
def test_info_nce_matches_the_formula(use_negatives):
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    neg = torch.randn(9, 5, generator=g) if use_negatives else None
    assert info_nce(q, k, neg, 0.2).item() == pytest.approx(info_nce_reference(q, k, neg, 0.2), rel=1e-5)


def test_learned_temperature_gets_a_gradient():
    tau = torch.tensor(0.3, requires_grad=True)
    nt_xent(torch.randn(4, 3), torch.randn(4, 3), tau).backward()
    assert tau.grad is not None and torch.isfinite(tau.grad)


@pytest.mark.parametrize("tau", [0.0, -0.1, float("nan"), float("inf"), torch.tensor(float("inf"))])
def test_temperatures_that_are_not_finite_and_positive_are_refused(tau):
    message = r"temperature must be > 0 and finite, got (-?0.0|-0.1|nan|inf).*τ = ∞ would make every candidate"
    with pytest.raises(ValueError, match=message):
        nt_xent(torch.randn(3, 4), torch.randn(3, 4), tau)
    with pytest.raises(ValueError, match=message):
        info_nce(torch.randn(3, 4), torch.randn(3, 4), temperature=tau)


def test_an_empty_batch_is_refused_instead_of_giving_nan():
    empty = torch.randn(0, 4)
    message = r"z1 and z2 hold no embeddings \(N = 0\).*it would be NaN"
    for loss in (nt_xent, losses.alignment):
        with pytest.raises(ValueError, match=message):
            loss(empty, empty)
    with pytest.raises(ValueError, match=r"query and key hold no embeddings \(N = 0\)"):
        info_nce(empty, empty)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match="2-D"):
        nt_xent(torch.randn(3), torch.randn(3))
    with pytest.raises(ValueError, match="negatives must be"):
        info_nce(torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 3))


class FakeGather:
    """Another process's rows, stitched in as torch.distributed's all-gather would (rank order)."""

    local = True  # this process's anchors against everyone's candidates

    def __init__(self, rank, others):
        self.rank, self.others = rank, others  # others: rank -> that process's rows, per call in order
        self.calls = 0

    def __call__(self, x):
        parts = dict(self.others[self.calls])
        parts[self.rank] = x
        self.calls += 1
        return torch.cat([parts[r] for r in sorted(parts)])


def test_gathered_nt_xent_averaged_over_processes_is_the_loss_of_the_whole_batch():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    unit = torch.nn.functional.normalize
    halves = [(z1[:4], z2[:4]), (z1[4:], z2[4:])]
    per_rank = []
    for rank in (0, 1):
        other = 1 - rank
        others = [{other: unit(halves[other][0], dim=1)}, {other: unit(halves[other][1], dim=1)}]
        per_rank.append(nt_xent(*halves[rank], 0.3, gather=FakeGather(rank, others)))
    assert (sum(per_rank) / 2).item() == pytest.approx(nt_xent(z1, z2, 0.3).item(), rel=1e-6)


def test_the_loss_reads_nothing_back_to_the_host():
    # Tensors on the meta device have shapes but no values: any read-back (.item(), float(), bool()) raises.
    z1, z2 = torch.randn(4, 3, device="meta"), torch.randn(4, 3, device="meta")
    tau = torch.tensor(0.2, device="meta")
    loss = nt_xent(z1, z2, tau)
    accuracy = losses.pretext_accuracy(losses.nt_xent_logits(z1, z2, tau))
    assert loss.shape == () and accuracy.shape == () and loss.device.type == "meta"
