"""Metric-learning losses against their papers' definitions, written out as slow loops in float64, and against
the peer libraries that implement the same losses (pytorch-metric-learning, lightly) where the definitions meet."""

import math
from collections import defaultdict

import pytest
import torch

from clkit import losses
from clkit.losses import batch_triplet, margin_contrastive, nt_xent, supcon, triplet
from clkit.losses.metric import batch_margin_contrastive, margin_triplet, nt_logistic, pairwise_distances

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


def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def view_similarities(z1, z2, normalize):
    """uᵀv between every two of the 2N views [z1; z2], as Python floats."""
    rows = [row / row.norm() if normalize else row for row in torch.cat([z1, z2])]
    return [[float(a @ b) for b in rows] for a in rows]


def kept_triples(sim, image_labels, mining):
    """The (a, p, n) triples of the 2N views that a mining keeps, by brute force over every triple."""
    y = image_labels.tolist() * 2
    m = len(y)
    triples = [(a, p, k) for a in range(m) for p in range(m) for k in range(m)
               if p != a and y[p] == y[a] and y[k] != y[a]]
    if mining == "all":
        return triples
    kept = []
    if mining == "hard":  # per anchor: its least similar positive with its most similar negative
        for a in sorted({t[0] for t in triples}):
            p = min((t[1] for t in triples if t[0] == a), key=lambda p: sim[a][p])
            k = max((t[2] for t in triples if t[0] == a), key=lambda k: sim[a][k])
            kept.append((a, p, k))
        return kept
    for a, p in sorted({t[:2] for t in triples}):  # semi-hard: per (a, p), as FaceNet
        negatives = [t[2] for t in triples if t[:2] == (a, p)]
        less_similar = [k for k in negatives if sim[a][k] < sim[a][p]]
        kept.append((a, p, max(less_similar or negatives, key=lambda k: sim[a][k])))
    return kept


def nt_logistic_reference(z1, z2, tau, mining, normalize, image_labels):
    """SimCLR Table 2: −log σ(uᵀv⁺/τ) − log σ(−uᵀv⁻/τ) for each kept triple, averaged; (loss, positive, negative)."""
    sim = view_similarities(z1, z2, normalize)
    kept = kept_triples(sim, image_labels, mining)
    if not kept:
        return 0.0, 0.0, 0.0
    positive = sum(softplus(-sim[a][p] / tau) for a, p, _ in kept) / len(kept)
    negative = sum(softplus(sim[a][k] / tau) for a, _, k in kept) / len(kept)
    return positive + negative, positive, negative


def margin_triplet_reference(z1, z2, margin, mining, normalize, image_labels):
    """SimCLR Table 2: max(uᵀv⁻ − uᵀv⁺ + m, 0) for each kept triple, averaged; (loss, share above 0)."""
    sim = view_similarities(z1, z2, normalize)
    hinges = [max(0.0, sim[a][k] - sim[a][p] + margin) for a, p, k in kept_triples(sim, image_labels, mining)]
    if not hinges:
        return 0.0, 0.0
    return sum(hinges) / len(hinges), sum(h > 0 for h in hinges) / len(hinges)


def batch_margin_contrastive_reference(z, labels, margin, normalize):
    """Hadsell et al.'s pair terms, the similar and the dissimilar pairs averaged apart; (loss, pos, neg, active)."""
    rows = [row / row.norm() if normalize else row for row in z]
    labels = labels.tolist()
    pairs = [(i, j) for i in range(len(z)) for j in range(len(z)) if i != j]
    pulls = [dist(rows[i], rows[j]) ** 2 for i, j in pairs if labels[i] == labels[j]]
    gaps = [margin - dist(rows[i], rows[j]) for i, j in pairs if labels[i] != labels[j]]
    positive = sum(pulls) / len(pulls) if pulls else 0.0
    negative = sum(max(0.0, g) ** 2 for g in gaps) / len(gaps) if gaps else 0.0
    active = sum(g > 0 for g in gaps) / len(gaps) if gaps else 0.0
    return positive + negative, positive, negative, active


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


MININGS = ["all", "semi-hard", "hard"]


def two_views(seed, n=6, d=4, classes=None):
    """Two views of n images, and one label per image (None: each image its own class)."""
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(2, n, d, generator=g, dtype=torch.float64)
    return z1, z2, None if classes is None else torch.randint(classes, (n,), generator=g)


def own_classes(z1, labels):
    return torch.arange(len(z1)) if labels is None else labels


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("classes", [None, 3], ids=["views", "labels"])
def test_nt_logistic_matches_the_definition(seed, mining, normalize, classes):
    z1, z2, labels = two_views(seed, classes=classes)
    for tau in (0.1, 0.5, 2.0):
        terms = nt_logistic(z1, z2, tau, mining, normalize, labels)
        expected = nt_logistic_reference(z1, z2, tau, mining, normalize, own_classes(z1, labels))
        got = (terms.loss.item(), terms.positive.item(), terms.negative.item())
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)
        assert terms.active is None and terms.loss.dtype == torch.float64


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("classes", [None, 3], ids=["views", "labels"])
def test_margin_triplet_matches_the_definition(seed, mining, normalize, classes):
    z1, z2, labels = two_views(seed, classes=classes)
    for margin in (0.0, 0.4, 1.6):
        terms = margin_triplet(z1, z2, margin, mining, normalize, labels)
        expected = margin_triplet_reference(z1, z2, margin, mining, normalize, own_classes(z1, labels))
        assert (terms.loss.item(), terms.active.item()) == pytest.approx(expected, rel=1e-10, abs=1e-12)
        assert terms.positive is None and terms.negative is None and not terms.active.requires_grad


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize", [True, False])
def test_batch_margin_contrastive_matches_the_definition(seed, normalize):
    z, labels = labelled_batch(seed)
    for margin in (0.5, 1.0, 3.0):
        terms = batch_margin_contrastive(z, labels, margin, normalize)
        expected = batch_margin_contrastive_reference(z, labels, margin, normalize)
        got = (terms.loss.item(), terms.positive.item(), terms.negative.item(), terms.active.item())
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("classes", [None, 2], ids=["views", "labels"])
def test_margin_triplet_on_the_sphere_is_half_facenet_on_squared_distances(seed, mining, classes):
    """‖u − v‖² = 2 − 2uᵀv: batch_triplet(squared, α = 2m) = 2·L, over the active triplets only for "all"."""
    z1, z2, labels = two_views(seed, classes=classes)
    unit = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    terms = margin_triplet(z1, z2, 0.3, mining, labels=labels)
    facenet = batch_triplet(unit, own_classes(z1, labels).repeat(2), 0.6, mining, squared=True).item()
    expected = terms.loss.item() / terms.active.item() if mining == "all" else terms.loss.item()
    assert facenet / 2 == pytest.approx(expected, rel=1e-9)


def test_semi_hard_falls_back_to_the_most_similar_negative_when_none_is_less_similar_than_the_positive():
    z1, _, _ = two_views(0)
    opposite = -z1  # every positive at cosine −1: no negative is less similar
    for loss in (lambda m: margin_triplet(z1, opposite, 0.2, m), lambda m: nt_logistic(z1, opposite, 0.5, m)):
        assert loss("semi-hard").loss.item() == pytest.approx(loss("hard").loss.item(), rel=1e-12)
        assert loss("semi-hard").loss.item() != pytest.approx(loss("all").loss.item(), rel=1e-3)


@pytest.mark.parametrize("mining", MININGS)
def test_margin_triplet_is_zero_once_every_positive_leads_by_the_margin(mining):
    one_hot = torch.eye(6, dtype=torch.float64)  # views agree (cosine 1), images orthogonal (cosine 0)
    terms = margin_triplet(one_hot, one_hot, 0.9, mining)
    assert terms.loss.item() == 0.0 and terms.active.item() == 0.0
    assert margin_triplet(one_hot, one_hot, 1.1, mining).active.item() == 1.0


@pytest.mark.parametrize("mining", MININGS)
def test_at_collapse_every_loss_takes_its_telltale_value(mining):
    point = torch.ones(8, 5)
    tau, margin = 0.5, 0.3
    logistic = nt_logistic(point, point, tau, mining)
    assert logistic.loss.item() == pytest.approx(softplus(-1 / tau) + softplus(1 / tau), rel=1e-6)
    assert margin_triplet(point, point, margin, mining).loss.item() == pytest.approx(margin, rel=1e-6)
    assert batch_margin_contrastive(point, torch.arange(8) % 4, 1.5).loss.item() == pytest.approx(1.5**2)


@pytest.mark.parametrize("mining", MININGS)
def test_the_two_view_losses_are_symmetric_in_the_views_and_scale_free_when_normalised(mining):
    z1, z2, labels = two_views(1, classes=3)
    scales = torch.linspace(0.2, 5, len(z1), dtype=torch.float64)[:, None]
    for loss in (lambda a, b, **k: nt_logistic(a, b, 0.2, mining, labels=labels, **k),
                 lambda a, b, **k: margin_triplet(a, b, 0.4, mining, labels=labels, **k)):
        value = loss(z1, z2).loss.item()
        assert loss(z2, z1).loss.item() == pytest.approx(value, rel=1e-12)
        assert loss(scales * z1, z2).loss.item() == pytest.approx(value, rel=1e-10)
        assert loss(scales * z1, z2, normalize=False).loss.item() != pytest.approx(
            loss(z1, z2, normalize=False).loss.item(), rel=1e-3)


@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("classes", [None, 2], ids=["views", "labels"])
def test_the_two_view_losses_have_their_analytic_gradient(mining, classes):
    """Sorting, the suffix sums of "all" and the mining's gathers carry the gradient of Table 2's formulas."""
    z1, z2, labels = two_views(2, n=5, d=3, classes=classes)
    inputs = (z1.clone().requires_grad_(), z2.clone().requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: nt_logistic(a, b, 0.3, mining, labels=labels).loss, inputs)
    assert torch.autograd.gradcheck(lambda a, b: margin_triplet(a, b, 0.4, mining, labels=labels).loss, inputs)


@pytest.mark.parametrize("mining", MININGS)
def test_one_image_has_no_negative_and_a_zero_loss_on_the_graph(mining):
    z1, z2 = torch.randn(2, 1, 3, requires_grad=True)
    for terms in (nt_logistic(z1, z2, mining=mining), margin_triplet(z1, z2, mining=mining)):
        assert terms.loss.item() == 0.0 and terms.loss.requires_grad
        grads = torch.autograd.grad(terms.loss, (z1, z2))
        assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


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
    yield batch_margin_contrastive(z, labels, 1.0).loss
    yield batch_margin_contrastive(z, labels, 1.0, normalize=True).loss
    for mining in ("semi-hard", "hard", "all"):
        for normalize in (True, False):
            yield nt_logistic(z[:n], z[n:], 0.1, mining, normalize, labels[:n]).loss
            yield margin_triplet(z[:n], z[n:], 0.4, mining, normalize).loss


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
    assert batch_margin_contrastive(z.half(), labels).loss.dtype == torch.float32
    assert nt_logistic(z[:5].bfloat16(), z[5:].bfloat16()).loss.dtype == torch.float32
    assert margin_triplet(z[:5].half(), z[5:].half()).active.dtype == torch.float32


def test_under_bf16_autocast_similarities_and_distances_stay_float32():
    """bf16 keeps 3 digits: mined similarities would tie, and distances near 0 would be noise."""
    z, labels = labelled_batch(0)
    z = z.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert pairwise_distances(z).dtype == torch.float32
        torch.testing.assert_close(pairwise_distances(z), pairwise_distances(z.double()).float())
        value = margin_triplet(z[:5], z[5:], mining="semi-hard").loss
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(margin_triplet(z[:5].double(), z[5:].double(), mining="semi-hard").loss.item(),
                                         rel=1e-5)


def test_exported_from_clkit_losses():
    for name in ("margin_contrastive", "triplet", "batch_triplet", "supcon", "nt_logistic", "margin_triplet",
                 "batch_margin_contrastive", "MetricTerms"):
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
    (lambda: batch_margin_contrastive(z4, torch.zeros(3)), "one entry per row"),
    (lambda: batch_margin_contrastive(z4, torch.zeros(4), margin=-0.5), "margin"),
    (lambda: nt_logistic(z4, z3), "same shape"),
    (lambda: nt_logistic(z4, z4, temperature=0.0), "temperature"),
    (lambda: nt_logistic(z4, z4, mining="semihard"), "mining"),
    (lambda: nt_logistic(z4, z4, labels=torch.zeros(8)), "one entry per row"),
    (lambda: nt_logistic(torch.zeros(0, 3), torch.zeros(0, 3)), "N = 0"),
    (lambda: margin_triplet(z4, z4, margin=-0.1), "margin"),
    (lambda: margin_triplet(z4, z4, mining="easy"), "mining"),
    (lambda: margin_triplet(torch.zeros(4), torch.zeros(4)), "2-D"),
]


@pytest.mark.parametrize("call, reason", BAD, ids=[reason for _, reason in BAD])
def test_bad_input_is_refused_with_the_reason(call, reason):
    with pytest.raises(ValueError, match=reason):
        call()


# --- peer oracles: lightly and pytorch-metric-learning --------------------------------------------------
# Each comparison is exact where the definitions meet; where they differ, the test says how and transforms the
# peer's output to the kit's definition rather than loosening the tolerance.


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_lightly(seed, tau):
    lightly_loss = pytest.importorskip("lightly.loss")
    z1, z2, _ = two_views(seed, n=8, d=5)
    expected = lightly_loss.NTXentLoss(temperature=tau)(z1.float(), z2.float())
    assert nt_xent(z1.float(), z2.float(), tau).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_supcon_matches_pytorch_metric_learning(seed, tau):
    """PML's SupConLoss averages the anchors with a non-zero loss: those with a positive, as L_out does."""
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z, labels = labelled_batch(seed, n=9, d=5)
    labels[-1] = 99  # an anchor without positives: both skip it
    expected = pml.SupConLoss(temperature=tau)(z, labels).item()
    assert supcon(z, labels, tau).item() == pytest.approx(expected, rel=1e-10)


def pml_pair_losses(z, labels=None, indices_tuple=None, margin=1.0, normalize=False):
    """PML's ContrastiveLoss per pair, unreduced: relu(d − 0) for similar pairs, relu(m − d) for dissimilar.

    Hadsell et al. square both terms and PML does not, so the kit's terms are the squares of PML's."""
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.reducers import DoNothingReducer

    loss = losses.ContrastiveLoss(pos_margin=0, neg_margin=margin, distance=LpDistance(normalize_embeddings=normalize),
                                  reducer=DoNothingReducer())
    out = loss(z, labels, indices_tuple)
    return out["pos_loss"]["losses"], out["neg_loss"]["losses"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_margin_contrastive_matches_pytorch_metric_learning_squared(seed, margin):
    z1, z2, _ = two_views(seed, n=8)
    same = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0])
    rows = torch.arange(8)
    pairs = (rows[same == 1], rows[same == 1] + 8, rows[same == 0], rows[same == 0] + 8)  # (a1, p, a2, n)
    pulls, pushes = pml_pair_losses(torch.cat([z1, z2]), indices_tuple=pairs, margin=margin)
    expected = (pulls.pow(2).sum() + pushes.pow(2).sum()).item() / 8
    assert margin_contrastive(z1, z2, same, margin).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize", [True, False])
def test_batch_margin_contrastive_matches_pytorch_metric_learning_squared(seed, normalize):
    """PML's MeanReducer also averages the two kinds of pair apart and adds the means; the terms are squared."""
    z, labels = labelled_batch(seed)
    pulls, pushes = pml_pair_losses(z, labels, margin=1.0, normalize=normalize)
    terms = batch_margin_contrastive(z, labels, 1.0, normalize)
    assert terms.positive.item() == pytest.approx(pulls.pow(2).mean().item(), rel=1e-10)
    assert terms.negative.item() == pytest.approx(pushes.pow(2).mean().item(), rel=1e-10, abs=1e-14)
    assert terms.active.item() == pytest.approx((pushes > 0).double().mean().item(), rel=1e-12)


def pml_distance(kind, squared=False):
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance

    return CosineSimilarity() if kind == "cosine" else LpDistance(normalize_embeddings=False, power=2 if squared else 1)


def pml_triplet_loss(z, labels, margin, mining, distance):
    """PML's TripletMarginLoss on the triplets the kit's mining keeps, each found with PML's own miners.

    - "all": no miner, every triplet; PML averages the non-zero ones (AvgNonZeroReducer), as batch_triplet does,
      and margin_triplet averages them all (MeanReducer).
    - "hard": BatchHardMiner, each anchor's hardest positive and negative; the kit averages over the anchors.
    - "semi-hard": PML's TripletMarginMiner "semihard" returns every triplet with 0 < d_an − d_ap ≤ m, where the
      kit keeps one per (a, p): the closest negative farther than p. That is the closest of PML's semi-hard ones;
      with none, an "easy" one (beyond the margin: loss 0); with neither, the closest "hard" one (the kit's fallback).
    """
    from pytorch_metric_learning import losses, miners
    from pytorch_metric_learning.reducers import AvgNonZeroReducer, MeanReducer

    if mining == "all":
        reducer = MeanReducer() if distance.is_inverted else AvgNonZeroReducer()
        return losses.TripletMarginLoss(margin, distance=distance, reducer=reducer)(z, labels).item()
    if mining == "hard":
        triplets = miners.BatchHardMiner(distance=distance)(z, labels)
    else:
        mat = distance(z)
        closeness = mat if distance.is_inverted else -mat
        by_pair = {kind: defaultdict(list) for kind in ("semihard", "easy", "hard")}
        for kind, found in by_pair.items():
            for a, p, n in zip(*miners.TripletMarginMiner(margin, kind, distance=distance)(z, labels)):
                found[(int(a), int(p))].append(int(n))
        chosen = []
        for a, p in sorted(set().union(*by_pair.values())):
            negatives = next(found[(a, p)] for found in by_pair.values() if found[(a, p)])
            chosen.append((a, p, max(negatives, key=lambda n: closeness[a, n])))
        triplets = tuple(torch.tensor(column) for column in zip(*chosen))
    return losses.TripletMarginLoss(margin, distance=distance, reducer=MeanReducer())(z, labels, triplets).item()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("squared", [False, True])
def test_batch_triplet_matches_pytorch_metric_learning(seed, mining, squared):
    pytest.importorskip("pytorch_metric_learning")
    z, labels = labelled_batch(seed)
    for margin in (0.2, 1.0):
        expected = pml_triplet_loss(z, labels, margin, mining, pml_distance("lp", squared))
        assert batch_triplet(z, labels, margin, mining, squared).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("classes", [None, 3], ids=["views", "labels"])
def test_margin_triplet_matches_pytorch_metric_learning_on_cosines(seed, mining, classes):
    """PML's TripletMarginLoss with CosineSimilarity hinges s_an − s_ap + m: SimCLR's Table 2 exactly."""
    pytest.importorskip("pytorch_metric_learning")
    z1, z2, labels = two_views(seed, classes=classes)
    per_view = own_classes(z1, labels).repeat(2)
    for margin in (0.1, 0.8):
        expected = pml_triplet_loss(torch.cat([z1, z2]), per_view, margin, mining, pml_distance("cosine"))
        assert margin_triplet(z1, z2, margin, mining, labels=labels).loss.item() == pytest.approx(expected, rel=1e-9)
