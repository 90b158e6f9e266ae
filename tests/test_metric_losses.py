"""Metric-learning losses against their papers' definitions, written out as slow loops in float64."""

import math

import pytest
import torch

from clkit import losses
from clkit.losses import batch_triplet, margin_contrastive, nt_xent, supcon, triplet

SEEDS = [0, 1, 2, 3]


def dist(a, b, squared=False):
    d2 = sum((float(x) - float(y)) ** 2 for x, y in zip(a, b))
    return d2 if squared else math.sqrt(d2)


def labelled_batch(seed, n=10, d=4, classes=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(classes, (n,), generator=g)


# --- references, from the definitions ---------------------------------------------------------------


def margin_contrastive_reference(z1, z2, same, margin):
    total = 0.0
    for i in range(len(z1)):
        d = dist(z1[i], z2[i])
        total += d**2 if same[i] else max(0.0, margin - d) ** 2
    return total / len(z1)


def triplet_reference(a, p, n, margin, squared):
    return sum(
        max(0.0, dist(a[i], p[i], squared) - dist(a[i], n[i], squared) + margin) for i in range(len(a))
    ) / len(a)


def batch_triplet_reference(z, labels, margin, mining, squared=False):
    """Brute force over every (a, p, n) triple of the batch."""
    n = len(z)
    labels = labels.tolist()
    D = [[dist(z[i], z[j], squared) for j in range(n)] for i in range(n)]
    triples = [
        (a, p, k)
        for a in range(n)
        for p in range(n)
        for k in range(n)
        if p != a and labels[p] == labels[a] and labels[k] != labels[a]
    ]
    ell = {t: max(0.0, D[t[0]][t[1]] - D[t[0]][t[2]] + margin) for t in triples}
    if mining == "all":
        positive = [v for v in ell.values() if v > 0]
        return sum(positive) / len(positive) if positive else 0.0
    if mining == "hard":
        per_anchor = []
        for a in sorted({t[0] for t in triples}):
            far_pos = max(D[a][p] for (a2, p, _) in triples if a2 == a)
            near_neg = min(D[a][k] for (a2, _, k) in triples if a2 == a)
            per_anchor.append(max(0.0, far_pos - near_neg + margin))
        return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0
    per_pair = []
    for a, p in sorted({(t[0], t[1]) for t in triples}):
        negatives = [k for (a2, p2, k) in triples if (a2, p2) == (a, p)]
        farther = [k for k in negatives if D[a][k] > D[a][p]]
        k = min(farther or negatives, key=lambda k: D[a][k])
        per_pair.append(ell[(a, p, k)])
    return sum(per_pair) / len(per_pair) if per_pair else 0.0


def supcon_reference(z, labels, tau):
    u = [row / row.norm() for row in z]
    labels = labels.tolist()
    n = len(u)
    per_anchor = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(u[i] @ u[a]) / tau) for a in range(n) if a != i)
        log_probs = [math.log(math.exp(float(u[i] @ u[p]) / tau) / denom) for p in positives]
        per_anchor.append(-sum(log_probs) / len(positives))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


# --- values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_margin_contrastive_matches_the_definition(seed, margin):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(2, 8, 3, generator=g, dtype=torch.float64)
    same = torch.randint(2, (8,), generator=g)
    value = margin_contrastive(z1, z2, same, margin)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(margin_contrastive_reference(z1, z2, same, margin), rel=1e-10)
    assert margin_contrastive(z1, z2, same.bool(), margin).item() == pytest.approx(value.item(), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_triplet_matches_the_definition(seed, squared, margin):
    a, p, n = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    value = triplet(a, p, n, margin, squared)
    assert value.item() == pytest.approx(triplet_reference(a, p, n, margin, squared), rel=1e-10, abs=1e-12)


def test_triplet_is_zero_when_every_negative_is_beyond_the_margin():
    a = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = a + 0.01
    n = a + torch.tensor([5.0, 0.0, 0.0], dtype=torch.float64)
    assert triplet(a, p, n, margin=0.2).item() == 0.0
    assert triplet(a, p, n, margin=0.2, squared=True).item() == 0.0
    assert triplet(a, n, p, margin=0.2).item() > 0  # and not when the roles are swapped


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mining", ["semi-hard", "hard", "all"])
@pytest.mark.parametrize("squared", [False, True])
def test_batch_triplet_matches_a_brute_force_over_all_triples(seed, mining, squared):
    z, labels = labelled_batch(seed)
    for margin in (0.2, 1.0):
        value = batch_triplet(z, labels, margin, mining, squared=squared)
        expected = batch_triplet_reference(z, labels, margin, mining, squared)
        assert value.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("mining", ["semi-hard", "hard", "all"])
def test_batch_triplet_skips_anchors_without_positive_or_negative(mining):
    z, _ = labelled_batch(5, n=7)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])  # classes 2 and 3 have a single member: no positive
    value = batch_triplet(z, labels, 0.5, mining)
    assert value.item() == pytest.approx(batch_triplet_reference(z, labels, 0.5, mining), rel=1e-9)


@pytest.mark.parametrize("mining", ["semi-hard", "hard", "all"])
@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [7, 7, 7, 7]], ids=["no positives", "no negatives"])
def test_batch_triplet_without_any_triplet_is_zero_on_the_graph(mining, labels):
    z = torch.randn(4, 3, requires_grad=True)
    value = batch_triplet(z, torch.tensor(labels), mining=mining)
    assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_batch_triplet_all_is_zero_when_every_triplet_is_satisfied():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    labels = torch.arange(3).repeat(3)
    noise = torch.randn(9, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = centres[labels] + 0.01 * noise
    for mining in ("semi-hard", "hard", "all"):
        assert batch_triplet(z, labels, 1.0, mining).item() == 0.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [0.07, 0.1, 0.5, 2.0])
def test_supcon_matches_the_definition(seed, tau):
    z, labels = labelled_batch(seed, n=9, d=5)
    labels[-1] = 99  # one anchor with no positive: skipped
    value = supcon(z, labels, tau)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(supcon_reference(z, labels, tau), rel=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_supcon_with_one_label_per_image_is_nt_xent(seed, tau):
    """SimCLR as the special case: each view's only positive is its partner, so L_out is NT-Xent."""
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(2, 6, 8, generator=g)
    labels = torch.arange(6).repeat(2)
    value = supcon(torch.cat([z1, z2]), labels, tau)
    assert value.item() == pytest.approx(nt_xent(z1, z2, tau).item(), rel=1e-5)
    exact = supcon(torch.cat([z1, z2]).double(), labels, tau).item()
    assert exact == pytest.approx(supcon_reference(torch.cat([z1, z2]).double(), labels, tau), rel=1e-10)


def test_supcon_without_positives_is_zero_on_the_graph():
    z = torch.randn(5, 3, requires_grad=True)
    for labels in (torch.arange(5), torch.tensor([3])):
        value = supcon(z[: len(labels)], labels)
        assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert torch.isfinite(z.grad).all()


def test_supcon_ignores_the_scale_of_each_embedding():
    z, labels = labelled_batch(0)
    scales = torch.linspace(0.1, 10, len(z), dtype=torch.float64)[:, None]
    assert supcon(scales * z, labels).item() == pytest.approx(supcon(z, labels).item(), rel=1e-10)


# --- gradients and inputs ----------------------------------------------------------------------------


def all_losses(z, labels):
    n = len(z) // 2
    same = (labels[:n] == labels[n:]).long()
    yield margin_contrastive(z[:n], z[n:], same, 1.0)
    yield triplet(z[:n], z[n:], z[n:].roll(1, 0))
    for mining in ("semi-hard", "hard", "all"):
        yield batch_triplet(z, labels, 0.2, mining)
        yield batch_triplet(z, labels, 0.2, mining, squared=True)
    yield supcon(z, labels)


@pytest.mark.parametrize("case", ["random", "coinciding points", "zeros"])
def test_gradients_are_finite(case):
    z, labels = labelled_batch(3, n=8)
    z = z.float()
    if case == "coinciding points":
        z = z[:1].expand_as(z).clone()
    elif case == "zeros":
        z = torch.zeros_like(z)
    for value in all_losses(z.requires_grad_(), labels):
        (grad,) = torch.autograd.grad(value, z)
        assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_half_precision_is_computed_in_float32():
    z, labels = labelled_batch(0)
    assert supcon(z.bfloat16(), labels).dtype == torch.float32
    assert batch_triplet(z.half(), labels).dtype == torch.float32


def test_exported_from_clkit_losses():
    for name in ("margin_contrastive", "triplet", "batch_triplet", "supcon"):
        assert name in losses.__all__ and getattr(losses, name).__module__ == "clkit.losses.metric"


z4, z3 = torch.zeros(4, 3), torch.zeros(3, 3)
BAD = [
    (lambda: margin_contrastive(z4, z3, torch.ones(4)), "same shape"),
    (lambda: margin_contrastive(z4, z4, torch.ones(3)), "one entry per row"),
    (lambda: margin_contrastive(z4, z4, torch.ones(4, 1)), "1-D"),
    (lambda: margin_contrastive(z4, z4, torch.ones(4), margin=-1.0), "margin"),
    (lambda: margin_contrastive(torch.zeros(0, 3), torch.zeros(0, 3), torch.ones(0)), "N = 0"),
    (lambda: triplet(z4, z4, z3), "same shape"),
    (lambda: triplet(z4, z4, z4, margin=-0.1), "margin"),
    (lambda: triplet(torch.zeros(4), torch.zeros(4), torch.zeros(4)), "2-D"),
    (lambda: batch_triplet(z4, torch.zeros(3)), "one entry per row"),
    (lambda: batch_triplet(z4, torch.zeros(4, 1)), "1-D"),
    (lambda: batch_triplet(torch.zeros(4), torch.zeros(4)), "2-D"),
    (lambda: batch_triplet(torch.zeros(0, 3), torch.zeros(0)), "N = 0"),
    (lambda: batch_triplet(z4, torch.zeros(4), margin=-1.0), "margin"),
    (lambda: batch_triplet(z4, torch.zeros(4), mining="easy"), "mining"),
    (lambda: supcon(z4, torch.zeros(3)), "one entry per row"),
    (lambda: supcon(z4, torch.zeros(4, 2)), "1-D"),
    (lambda: supcon(torch.zeros(0, 3), torch.zeros(0)), "N = 0"),
    (lambda: supcon(z4, torch.zeros(4), temperature=0.0), "temperature"),
]


@pytest.mark.parametrize("call, reason", BAD, ids=[reason for _, reason in BAD])
def test_bad_input_is_refused_with_the_reason(call, reason):
    with pytest.raises(ValueError, match=reason):
        call()
