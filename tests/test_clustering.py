"""SwAV and DINO: Sinkhorn, the two losses against slow loops from the papers' pseudocode and against lightly,
their invariants, and the two methods (multi-crop, prototypes, teacher, schedules, a few steps of training)."""

from __future__ import annotations

import math

import pytest
import torch

from clkit import augment, models
from clkit.losses.clustering import DINOTerms, SwAVTerms, dino_loss, sinkhorn, swav_loss, update_center
from clkit.methods.base import Batch
from clkit.methods.clustering import DINO, SwAV

SEEDS = [0, 1, 2]


def random_scores(seed: int, views: int, n: int, k: int, scale: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [scale * (2 * torch.rand(n, k, generator=g, dtype=torch.float64) - 1) for _ in range(views)]


# --- slow references, from the papers' pseudocode ---


def reference_sinkhorn(scores, epsilon=0.05, iterations=3):
    """Caron et al. 2020, Algorithm 1 (K × B, as the paper writes it), one entry at a time, in Python floats."""
    n, k = len(scores), len(scores[0])
    q = [[math.exp(scores[b][j] / epsilon) for b in range(n)] for j in range(k)]  # K × B
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        for j in range(k):  # each prototype: total weight 1/K
            mass = sum(q[j])
            q[j] = [x / mass / k for x in q[j]]
        for b in range(n):  # each sample: total weight 1/B
            mass = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / mass / n
    return [[q[j][b] * n for j in range(k)] for b in range(n)]  # B × K, rows summing to 1


def log_softmax_row(row, temperature):
    top = max(x / temperature for x in row)
    lse = top + math.log(sum(math.exp(x / temperature - top) for x in row))
    return [x / temperature - lse for x in row]


def reference_swav(scores, assign=(0, 1), temperature=0.1, epsilon=0.05, iterations=3):
    """The authors' main_swav.py loop: codes of each assigned view, predicted by every other view."""
    v, n = len(scores), len(scores[0])
    loss = 0.0
    for a in assign:
        q = reference_sinkhorn(scores[a], epsilon, iterations)
        subloss = 0.0
        for other in range(v):
            if other == a:
                continue
            for i in range(n):
                log_p = log_softmax_row(scores[other][i], temperature)
                subloss -= sum(qk * lp for qk, lp in zip(q[i], log_p)) / n
        loss += subloss / (v - 1)
    return loss / len(assign)


def reference_dino(student, teacher, center, student_temp=0.1, teacher_temp=0.04):
    """Caron et al. 2021, Algorithm 1 with multi-crop: H(P_t, P_s) over pairs of different views, then the mean."""
    n = len(student[0])
    terms = []
    for t, t_out in enumerate(teacher):
        for s, s_out in enumerate(student):
            if s == t:
                continue
            total = 0.0
            for i in range(n):
                p_t = [math.exp(x) for x in log_softmax_row([a - c for a, c in zip(t_out[i], center)], teacher_temp)]
                log_p_s = log_softmax_row(s_out[i], student_temp)
                total -= sum(p * lp for p, lp in zip(p_t, log_p_s))
            terms.append(total / n)
    return sum(terms) / len(terms)


# --- Sinkhorn ---


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 3), (6, 4), (5, 9), (12, 3)])
@pytest.mark.parametrize("epsilon, iterations", [(0.05, 3), (0.5, 1), (0.1, 10)])
def test_sinkhorn_matches_the_papers_algorithm(seed, shape, epsilon, iterations):
    (scores,) = random_scores(seed, 1, *shape)
    expected = torch.tensor(reference_sinkhorn(scores.tolist(), epsilon, iterations), dtype=torch.float64)
    codes = sinkhorn(scores, epsilon, iterations)
    assert codes.dtype == torch.float64 and codes.shape == shape
    torch.testing.assert_close(codes, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_sinkhorn_matches_lightly(seed):
    lightly_swav = pytest.importorskip("lightly.loss.swav_loss")
    (scores,) = random_scores(seed, 1, 16, 7)
    for iterations in (1, 3, 5):
        torch.testing.assert_close(sinkhorn(scores, 0.05, iterations),
                                   lightly_swav.sinkhorn(scores, iterations, 0.05), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_sinkhorn_rows_sum_to_one_and_columns_approach_an_equal_share(seed):
    (scores,) = random_scores(seed, 1, 24, 6)
    errors = []
    for iterations in (1, 2, 3, 5, 10, 30, 100, 1000):
        codes = sinkhorn(scores, 0.1, iterations)
        # After the last step (the samples' rescaling) every row is exactly one unit of mass...
        torch.testing.assert_close(codes.sum(dim=1), torch.ones(24, dtype=torch.float64), rtol=0, atol=1e-12)
        assert (codes >= 0).all()
        # ... and each prototype holds about N / K of it, the nearer the more rounds.
        errors.append((codes.sum(dim=0) - 24 / 6).abs().max().item())
    assert all(later <= earlier + 1e-12 for earlier, later in zip(errors, errors[1:])), errors
    assert errors[0] > 1e-2 and errors[-1] < 1e-9  # far from equal at first, equal at convergence


def test_sinkhorn_ignores_a_constant_added_to_a_prototypes_scores():
    (scores,) = random_scores(0, 1, 8, 5)
    shift = torch.tensor([0.3, -1.0, 2.0, 0.0, 0.7], dtype=torch.float64)
    torch.testing.assert_close(sinkhorn(scores + shift), sinkhorn(scores))  # exact: the first rescaling removes it
    # A constant per sample is removed only at convergence, where Q = diag(u) exp(S/ε) diag(v) is unique.
    per_sample = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    torch.testing.assert_close(sinkhorn(scores + per_sample, 0.1, 500), sinkhorn(scores, 0.1, 500))


def test_sinkhorn_is_equivariant_to_shuffling_the_samples():
    (scores,) = random_scores(1, 1, 10, 4)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sinkhorn(scores[order]), sinkhorn(scores)[order])


def test_uniform_scores_give_uniform_codes():
    torch.testing.assert_close(sinkhorn(torch.full((6, 4), 0.3)), torch.full((6, 4), 0.25))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("scale, epsilon", [(1e4, 1e-4), (50.0, 0.05), (1.0, 1e-6)])
def test_sinkhorn_is_finite_for_large_scores_and_small_epsilon(dtype, scale, epsilon):
    (scores,) = random_scores(0, 1, 32, 10, scale=scale)
    codes = sinkhorn(scores.to(dtype), epsilon)
    assert codes.dtype == torch.promote_types(dtype, torch.float32)
    assert torch.isfinite(codes).all()
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(32, dtype=codes.dtype))


def test_sinkhorn_gives_targets_without_gradient():
    scores = torch.randn(5, 3, requires_grad=True)
    assert not sinkhorn(scores).requires_grad


def test_sinkhorn_refuses_bad_settings_clearly():
    with pytest.raises(ValueError, match=r"\(N, K\) matrix"):
        sinkhorn(torch.randn(5))
    with pytest.raises(ValueError, match=r"\(N, K\) matrix"):
        sinkhorn(torch.randn(0, 3))
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        sinkhorn(torch.randn(4, 3), epsilon=0.0)
    with pytest.raises(ValueError, match="iterations must be an integer ≥ 1"):
        sinkhorn(torch.randn(4, 3), iterations=0)


# --- SwAV's loss ---


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("views, assign", [(2, (0, 1)), (4, (0, 1)), (3, (0,)), (4, (1, 2))])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_swav_loss_matches_the_authors_loop(seed, views, assign, temperature):
    scores = random_scores(seed, views, 6, 5)
    expected = reference_swav([s.tolist() for s in scores], assign, temperature)
    terms = swav_loss(scores, assign, temperature)
    assert isinstance(terms, SwAVTerms) and terms.loss.shape == () and terms.loss.dtype == torch.float64
    assert terms.loss.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert terms.codes.shape == (len(assign), 6, 5) and not terms.codes.requires_grad


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_local", [0, 2, 6])
def test_swav_loss_matches_lightly_with_and_without_a_queue(seed, n_local):
    loss_module = pytest.importorskip("lightly.loss")
    scores = random_scores(seed, 2 + n_local, 8, 6)
    queue = random_scores(seed + 10, 2, 12, 6)
    oracle = loss_module.SwaVLoss(temperature=0.1, sinkhorn_iterations=3, sinkhorn_epsilon=0.05)
    expected = oracle(scores[:2], scores[2:])
    assert swav_loss(scores).loss.item() == pytest.approx(expected.item(), rel=1e-9)
    expected = oracle(scores[:2], scores[2:], queue_outputs=queue)
    assert swav_loss(scores, queue=queue).loss.item() == pytest.approx(expected.item(), rel=1e-9)


def test_swav_codes_with_a_queue_are_the_batchs_rows_of_sinkhorn_over_queue_and_batch():
    scores, queue = random_scores(0, 2, 5, 4), random_scores(1, 2, 7, 4)
    codes = swav_loss(scores, queue=queue).codes
    for i in range(2):
        torch.testing.assert_close(codes[i], sinkhorn(torch.cat([queue[i], scores[i]]))[-5:])


class ShiftedWorld:
    """Two processes: this one is rank 1, and rank 0 holds ``shift(x)`` where this one holds x."""

    rank = 1
    local = True

    def __init__(self, shift):
        self.shift = shift

    def __call__(self, x):
        return torch.cat([self.shift(x), x])


def test_swav_codes_are_balanced_over_every_process_with_gather():
    scores = random_scores(2, 3, 6, 4)
    world = ShiftedWorld(lambda x: x.roll(1, dims=1))
    codes = swav_loss(scores, gather=world).codes
    for i in range(2):
        everyone = torch.cat([scores[i].roll(1, dims=1), scores[i]])
        torch.testing.assert_close(codes[i], sinkhorn(everyone)[6:])
    assert not torch.allclose(codes, swav_loss(scores).codes)  # the partition is over 12 rows, not 6


def test_swav_loss_is_log_k_for_uniform_scores_and_symmetric_in_two_views():
    flat = [torch.zeros(4, 7), torch.zeros(4, 7)]
    assert swav_loss(flat).loss.item() == pytest.approx(math.log(7))
    a, b = random_scores(3, 2, 6, 5)
    assert swav_loss([a, b]).loss.item() == pytest.approx(swav_loss([b, a]).loss.item(), rel=1e-12)


def test_swav_gradient_reaches_only_the_predictions():
    scores = [s.requires_grad_() for s in random_scores(0, 3, 6, 5)]
    swav_loss(scores, assign_views=(0,)).loss.backward()
    assert torch.count_nonzero(scores[0].grad) == 0  # view 0 gives the codes and predicts nothing
    assert torch.count_nonzero(scores[1].grad) > 0 and torch.count_nonzero(scores[2].grad) > 0


def test_swav_loss_refuses_bad_inputs_clearly():
    scores = random_scores(0, 2, 4, 3)
    with pytest.raises(ValueError, match="at least 2 view"):
        swav_loss(scores[:1], assign_views=(0,))
    with pytest.raises(ValueError, match="one shape"):
        swav_loss([scores[0], torch.randn(4, 5)])
    with pytest.raises(ValueError, match="assign_views must be distinct view indices in 0..1"):
        swav_loss(scores, assign_views=(0, 2))
    with pytest.raises(ValueError, match="assign_views"):
        swav_loss(scores, assign_views=(1, 1))
    with pytest.raises(ValueError, match=r"queue must hold one \(L, 3\) tensor per assigned view"):
        swav_loss(scores, queue=[torch.randn(5, 3)])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        swav_loss(scores, temperature=0.0)


# --- DINO's loss and centre ---


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("views, teachers", [(2, 2), (4, 2), (3, 1), (2, 1)])
@pytest.mark.parametrize("temps", [(0.1, 0.04), (0.3, 0.07)])
def test_dino_loss_matches_the_papers_algorithm(seed, views, teachers, temps):
    student = random_scores(seed, views, 5, 6, scale=3.0)
    teacher = random_scores(seed + 100, teachers, 5, 6, scale=3.0)
    center = random_scores(seed + 200, 1, 1, 6)[0][0]
    expected = reference_dino([s.tolist() for s in student], [t.tolist() for t in teacher], center.tolist(), *temps)
    terms = dino_loss(student, teacher, center, *temps)
    assert isinstance(terms, DINOTerms) and terms.loss.shape == () and terms.loss.dtype == torch.float64
    assert terms.loss.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_local", [0, 3])
def test_dino_loss_and_centre_match_lightly(seed, n_local):
    loss_module = pytest.importorskip("lightly.loss")
    student = [s.float() for s in random_scores(seed, 2 + n_local, 8, 10, scale=2.0)]
    teacher = [t.float() for t in random_scores(seed + 100, 2, 8, 10, scale=2.0)]
    center = torch.randn(10, generator=torch.Generator().manual_seed(seed))
    oracle = loss_module.DINOLoss(output_dim=10, warmup_teacher_temp=0.05, teacher_temp=0.05, student_temp=0.2,
                                  center_momentum=0.8)
    oracle.center.copy_(center.view(1, 1, 10))  # lightly keeps the centre as (1, 1, K), the same convention
    expected = oracle(teacher, student, teacher_temp=0.05)
    assert dino_loss(student, teacher, center, 0.2, 0.05).loss.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(update_center(center, teacher, momentum=0.8), oracle.center.view(10))


def test_update_center_is_the_moving_mean_of_every_teacher_row():
    teacher = random_scores(0, 2, 3, 4)
    center = torch.tensor([1.0, -1.0, 0.5, 0.0], dtype=torch.float64)
    rows = [row for view in teacher for row in view.tolist()]
    mean = [sum(r[k] for r in rows) / len(rows) for k in range(4)]
    expected = torch.tensor([0.9 * c + 0.1 * m for c, m in zip(center.tolist(), mean)], dtype=torch.float64)
    torch.testing.assert_close(update_center(center, teacher), expected)
    torch.testing.assert_close(update_center(center, teacher, momentum=1.0), center)
    torch.testing.assert_close(update_center(center, teacher, momentum=0.0), torch.tensor(mean, dtype=torch.float64))
    world = ShiftedWorld(lambda x: x + 1)  # the other process's rows are these plus one: the mean moves by 1/2
    torch.testing.assert_close(update_center(center, teacher, 0.0, gather=world), torch.tensor(mean).double() + 0.5)
    with pytest.raises(ValueError, match="momentum must be in"):
        update_center(center, teacher, momentum=1.5)


def test_dino_centring_and_constant_shifts_leave_the_targets_unchanged():
    student, teacher = random_scores(0, 3, 4, 5), random_scores(1, 2, 4, 5)
    center = torch.zeros(5, dtype=torch.float64)
    base = dino_loss(student, teacher, center).loss
    shift = torch.tensor([0.5, -0.2, 1.0, 0.0, 0.3], dtype=torch.float64)
    # A bias the teacher adds to one dimension for every image is what the centre takes away.
    assert dino_loss(student, [t + shift for t in teacher], center + shift).loss.item() == pytest.approx(base.item())
    # A constant added to every dimension of a row leaves every softmax as it was.
    assert dino_loss([s + 2 for s in student], [t - 3 for t in teacher], center).loss.item() == pytest.approx(
        base.item())


def test_dino_entropies_tell_the_two_collapses_apart():
    k = 8
    student = random_scores(0, 3, 6, k)
    uniform = dino_loss(student, student[:2], torch.zeros(k), teacher_temp=1e6)  # targets ≈ uniform
    assert uniform.entropy.item() == pytest.approx(math.log(k), rel=1e-6)
    assert uniform.marginal_entropy.item() == pytest.approx(math.log(k), rel=1e-6)
    one_dim = [torch.zeros(6, k, dtype=torch.float64).index_fill_(1, torch.tensor([3]), 5.0)] * 2
    sharp = dino_loss(student, one_dim, torch.zeros(k))  # every image sent to dimension 3
    assert sharp.entropy.item() < 1e-6 and sharp.marginal_entropy.item() < 1e-6
    for terms in (uniform, sharp):
        assert terms.kl.item() == pytest.approx(terms.loss.item() - terms.entropy.item()) and terms.kl.item() >= 0
    # KL vanishes when the student already predicts the targets: identical views at equal temperatures.
    same = dino_loss([student[0]] * 3, [student[0]] * 2, torch.zeros(k), student_temp=0.1, teacher_temp=0.1)
    assert same.kl.item() == pytest.approx(0.0, abs=1e-12)
    assert dino_loss(student[:2], student[:2], torch.zeros(k), 0.1, 0.1).kl.item() > 1e-3  # the views differ


def test_dino_teacher_gets_no_gradient_and_a_tensor_temperature_is_a_float_one():
    student = [s.requires_grad_() for s in random_scores(0, 3, 4, 5)]
    teacher = [t.requires_grad_() for t in random_scores(1, 2, 4, 5)]
    terms = dino_loss(student, teacher, torch.zeros(5), 0.1, torch.tensor(0.05, dtype=torch.float64))
    terms.loss.backward()
    assert all(t.grad is None for t in teacher) and all(s.grad is not None for s in student)
    assert terms.loss.item() == pytest.approx(dino_loss(student, teacher, torch.zeros(5), 0.1, 0.05).loss.item())
    assert not (terms.entropy.requires_grad or terms.kl.requires_grad or terms.marginal_entropy.requires_grad)


def test_dino_loss_refuses_bad_inputs_clearly():
    student, teacher = random_scores(0, 2, 4, 5), random_scores(1, 3, 4, 5)
    with pytest.raises(ValueError, match="at most as many views as student_out"):
        dino_loss(student, teacher, torch.zeros(5))
    with pytest.raises(ValueError, match="student_out must hold at least 2 view"):
        dino_loss(student[:1], teacher[:1], torch.zeros(5))
    with pytest.raises(ValueError, match="center must hold one value per output dimension"):
        dino_loss(student, teacher[:2], torch.zeros(4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dino_loss(student, teacher[:2], torch.zeros(5), teacher_temp=-1.0)


def test_clustering_losses_compute_half_precision_in_float32():
    scores = [s.to(torch.bfloat16) for s in random_scores(0, 3, 4, 5)]
    assert swav_loss(scores).loss.dtype == torch.float32
    assert dino_loss(scores, scores[:2], torch.zeros(5)).loss.dtype == torch.float32


# --- the methods ---


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def crops(n_local: int = 2) -> list:
    return augment.multi_crop(32, 16, n_local=n_local)


def swav(**options) -> SwAV:
    return SwAV(models.encoder("small_cnn", width=4), options.pop("augment", crops()),
                **{"n_prototypes": 10, "projection_dim": 8, **options})


def dino(backbone: str = "small_cnn", **options) -> DINO:
    encoder = models.encoder("small_cnn", width=4) if backbone == "small_cnn" else \
        models.encoder("small_vit", dim=16, depth=1, heads=2)
    return DINO(encoder, options.pop("augment", crops()),
                **{"out_dim": 16, "projection_dim": 8, "hidden_dim": 16, **options})


def test_swav_trains_on_its_loss_of_its_own_scores():
    torch.manual_seed(0)
    method = swav(temperature=0.2, epsilon=0.1, sinkhorn_iterations=2)
    x = images()
    torch.manual_seed(1)
    out = method(Batch(x))
    torch.manual_seed(1)
    views = augment.views(x, method.recipes)
    z = [*method.head(method.backbone(torch.cat(views[:2]))).chunk(2),  # BatchNorm sees each resolution together
         *method.head(method.backbone(torch.cat(views[2:]))).chunk(2)]
    expected = swav_loss([method.prototypes(v) for v in z], (0, 1), 0.2, 0.1, 2)
    torch.testing.assert_close(out.loss, expected.loss)
    assert set(out.logs) == {"prototypes_used"} and not out.logs["prototypes_used"].requires_grad
    assert 0 < out.logs["prototypes_used"].item() <= 6 / 10


def test_dino_trains_on_its_loss_of_its_own_outputs_and_then_moves_its_centre():
    torch.manual_seed(0)
    method = dino(student_temp=0.2, warmup_teacher_temp=0.05)
    x = images()
    with torch.no_grad():
        method.center.normal_()  # a centre that is not zero, so that using it shows
    center = method.center.clone()
    torch.manual_seed(1)
    out = method(Batch(x))
    torch.manual_seed(1)
    views = augment.views(x, method.recipes)
    student, teacher = method._student(), method.teacher

    def output(parts, batch):
        return parts["last_layer"](parts["head"](parts["backbone"](batch)))

    s = [*output(student, torch.cat(views[:2])).chunk(2), *output(student, torch.cat(views[2:])).chunk(2)]
    with torch.no_grad():
        t = output(teacher, torch.cat(views[:2])).chunk(2)
    expected = dino_loss(s, t, center, 0.2, 0.05)
    torch.testing.assert_close(out.loss, expected.loss)
    torch.testing.assert_close(method.center, update_center(center, t, 0.9))
    assert set(out.logs) == {"teacher_entropy", "marginal_entropy", "kl", "momentum", "teacher_temp"}
    assert all(v.ndim == 0 and not v.requires_grad for v in out.logs.values())
    torch.testing.assert_close(out.logs["teacher_entropy"], expected.entropy)
    method.eval()
    method(Batch(x))
    torch.testing.assert_close(method.center, update_center(center, t, 0.9))  # eval mode: the centre stays


def test_multi_crop_runs_one_pass_per_resolution_and_the_teacher_sees_the_global_views_only():
    torch.manual_seed(0)
    method = dino(augment=crops(n_local=3))
    seen = {"student": [], "teacher": []}
    method.backbone.register_forward_hook(lambda m, inputs, out: seen["student"].append(tuple(inputs[0].shape)))
    method.teacher["backbone"].register_forward_hook(lambda m, inputs, out: seen["teacher"].append(
        tuple(inputs[0].shape)))
    method(Batch(images(5)))
    assert seen == {"student": [(10, 3, 32, 32), (15, 3, 16, 16)], "teacher": [(10, 3, 32, 32)]}
    z = method.encode(method.views(Batch(images(5))))
    assert [tuple(v.shape) for v in z] == [(5, 8)] * 5


def test_swav_prototypes_are_frozen_early_then_trained_and_kept_on_the_sphere():
    torch.manual_seed(0)
    method = swav(freeze_prototypes=0.25)
    opt = torch.optim.AdamW(method.parameters(), lr=0.1, weight_decay=0.1)
    for progress, frozen in ((0.1, True), (0.25, True), (0.5, False)):
        before = method.prototypes.weight.detach().clone()
        conv = next(method.backbone.parameters()).detach().clone()
        opt.zero_grad()
        method(Batch(images())).loss.backward()
        method.before_optimizer_step(progress)
        opt.step()
        method.after_optimizer_step(progress)
        # Frozen, not even weight decay moves them (renormalising a unit vector may change its last bit).
        assert torch.allclose(method.prototypes.weight, before, rtol=0, atol=1e-6) == frozen
        assert not torch.equal(next(method.backbone.parameters()), conv)  # the rest trains all along
        torch.testing.assert_close(method.prototypes.weight.norm(dim=1), torch.ones(10))


def test_swav_queue_fills_newest_first_and_joins_sinkhorn_once_full():
    torch.manual_seed(0)
    method = swav(queue_length=10)  # two batches of 6 fill it
    assert method.queue.shape == (2, 10, 8) and method._queue_scores() is None
    method(Batch(images(6, seed=0)))
    assert method._queue_scores() is None and torch.count_nonzero(method.queue[:, 6:]) == 0
    first = method.queue[:, :6].clone()
    method(Batch(images(6, seed=1)))
    torch.testing.assert_close(method.queue[:, 6:], first[:, :4])  # the older batch moved back, its tail dropped
    torch.testing.assert_close(method.queue.norm(dim=2), torch.ones(2, 10))
    scores = method._queue_scores()
    assert scores is not None and [tuple(s.shape) for s in scores] == [(10, 10)] * 2
    assert swav().queue.shape[1] == 0 and swav()._queue_scores() is None


def test_dino_teacher_follows_the_student_and_the_schedules_run():
    torch.manual_seed(0)
    method = dino(base_momentum=0.9, warmup_teacher_temp=0.04, teacher_temp=0.08, teacher_temp_warmup=0.5)
    with torch.no_grad():
        for p in method._student().parameters():
            p.add_(1.0)
    student = [p.detach().clone() for p in method._student().parameters()]
    teacher = [p.detach().clone() for p in method.teacher.parameters()]
    method.after_optimizer_step(0.0)  # m = 0.9 at the start of the cosine
    for s, t, new in zip(student, teacher, method.teacher.parameters()):
        torch.testing.assert_close(new, 0.9 * t + 0.1 * s)
    assert not any(p.requires_grad for p in method.teacher.parameters())
    assert method.momentum.item() == pytest.approx(0.9) and method.teacher_temp.item() == pytest.approx(0.04)
    method.after_optimizer_step(0.25)
    assert method.teacher_temp.item() == pytest.approx(0.06)  # halfway through the warm-up
    method.after_optimizer_step(0.75)
    assert method.teacher_temp.item() == pytest.approx(0.08)
    assert method.momentum.item() == pytest.approx(1 - 0.1 * (math.cos(math.pi * 0.75) + 1) / 2)


def test_dino_freezes_its_last_layer_early_and_clips_each_gradient():
    torch.manual_seed(0)
    method = dino(freeze_last_layer=0.2, clip_grad=1e-3)
    method(Batch(images())).loss.backward()
    method.before_optimizer_step(0.1)
    assert all(p.grad is None for p in method.last_layer.parameters())
    grads = [p.grad for p in method.parameters() if p.grad is not None]
    assert grads and all(g.norm() <= 1e-3 * (1 + 1e-5) for g in grads)
    method.zero_grad()
    method(Batch(images())).loss.backward()
    method.before_optimizer_step(0.5)
    assert method.last_layer.linear.parametrizations.weight.original1.grad is not None


def test_dino_evaluates_the_teacher_unless_told_otherwise():
    torch.manual_seed(0)
    method = dino().eval()
    x = images(4)
    with torch.no_grad():
        for p in method.teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))
        h, student_h = method.embed(x), method.backbone(x.float() / 255)
        torch.testing.assert_close(h, method.teacher["backbone"](x.float() / 255))
        assert not torch.allclose(h, student_h)
        method.evaluate_teacher = False
        torch.testing.assert_close(method.embed(x), student_h)


@pytest.mark.parametrize("build", [swav, dino], ids=["swav", "dino"])
def test_assignments_are_the_argmax_cluster_of_each_image(build):
    torch.manual_seed(0)
    method = build().eval()
    x = images(7)
    found = method.assignments(x)
    assert found.shape == (7,) and found.dtype == torch.int64
    with torch.no_grad():
        if isinstance(method, SwAV):
            expected = method.prototypes(method.project(x)).argmax(dim=1)
        else:
            method.center.normal_()
            found = method.assignments(x)
            expected = (method.teacher["last_layer"](method.project(x)) - method.center).argmax(dim=1)
    assert torch.equal(found, expected)


def test_methods_refuse_bad_settings_clearly():
    with pytest.raises(ValueError, match=r"assign_views must be distinct view indices in 0..3"):
        swav(assign_views=(0, 4))
    with pytest.raises(ValueError, match="freeze_prototypes must be in"):
        swav(freeze_prototypes=2.0)
    with pytest.raises(ValueError, match="queue_length must be ≥ 0"):
        swav(queue_length=-1)
    with pytest.raises(ValueError, match="global_views must be between 1 and the number of views"):
        dino(global_views=5)
    with pytest.raises(ValueError, match="clip_grad must be > 0"):
        dino(clip_grad=0.0)
    with pytest.raises(ValueError, match="base_momentum must be in"):
        dino(base_momentum=1.5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dino(student_temp=0.0)


@pytest.mark.parametrize("name", ["swav", "dino small_cnn", "dino small_vit"])
def test_a_few_steps_of_training(name, small_shapes):
    from clkit import train

    torch.manual_seed(0)
    method = swav() if name == "swav" else dino(name.split()[1], base_momentum=0.9)
    history = train.fit(method, small_shapes, epochs=1, batch_size=32, lr=1e-3, progress=False)
    record = history.epochs[-1]
    assert math.isfinite(record["loss"])
    logged = {"prototypes_used"} if name == "swav" else {"teacher_entropy", "marginal_entropy", "kl", "momentum",
                                                          "teacher_temp"}
    assert logged <= set(record) and all(math.isfinite(record[key]) for key in logged)
    if name == "swav":
        torch.testing.assert_close(method.prototypes.weight.norm(dim=1), torch.ones(10))
    else:
        assert 0.9 < record["momentum"] < 1 and 0.04 <= record["teacher_temp"] <= 0.07
        assert not torch.equal(method.center, torch.zeros(16))
