"""MoCo: its queue, its loss against slow references from the papers' pseudocode and lightly, and the method's step."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clkit import augment, models
from clkit.data import Batch, to_float
from clkit.losses.contrastive import info_nce
from clkit.losses.moco import collapsed_info_nce, moco_logits
from clkit.methods.moco import MoCo, split_batch_norm
from clkit.models.queue import NegativeQueue

SEEDS = [0, 1, 2]
SHAPES = [(1, 3, 1), (4, 5, 7), (6, 8, 2)]  # (N queries, D, K queued keys)


def random_case(seed: int, n: int, d: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    return q, 0.7 * q + torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(k, d, generator=g)


def moco(queue_size: int = 64, **options) -> MoCo:
    torch.manual_seed(0)
    return MoCo(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, queue_size=queue_size,
                **options)


def images(n: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def own_queries_and_keys(method: MoCo, x: torch.Tensor, seed: int) -> tuple[list, list]:
    """The queries and keys of ``method``'s step on ``x`` under ``seed``: views, then queries, then keys, as forward."""
    torch.manual_seed(seed)
    v1, v2 = augment.views(x, method.recipes)
    splits = method.splits(len(x))
    pairs = [(v1, v2), (v2, v1)] if method.symmetric else [(v1, v2)]
    queries = [method.queries(a, splits) for a, _ in pairs]
    return queries, [method.keys(b, splits) for _, b in pairs]


# --- the queue ---


def test_queue_wraps_around_overwriting_the_oldest_keys():
    queue = NegativeQueue(5, 3)
    first, second = torch.randn(3, 3), torch.randn(3, 3)
    queue.push(first)
    queue.push(second)  # slots 3, 4, then 0 again
    unit = lambda x: F.normalize(x, dim=1)  # noqa: E731
    torch.testing.assert_close(queue.keys, unit(torch.stack([second[2], first[1], first[2], second[0], second[1]])))
    assert int(queue.pointer) == 6 % 5
    queue.push(torch.randn(5, 3) + 1)  # exactly its size: every key replaced, the pointer back where it was
    assert int(queue.pointer) == 1 and torch.allclose(queue.keys.norm(dim=1), torch.ones(5))


def test_queue_refuses_a_batch_larger_than_itself_or_of_another_width():
    queue = NegativeQueue(4, 3)
    with pytest.raises(ValueError, match="cannot push 5 keys into a queue of 4"):
        queue.push(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"keys must be \(N, 3\)"):
        queue.push(torch.randn(2, 4))


def test_queue_stores_detached_unit_keys_and_is_saved_with_the_state():
    queue = NegativeQueue(4, 3)
    queue.push(torch.randn(2, 3, requires_grad=True) * 5)
    assert not queue.keys.requires_grad and torch.allclose(queue.keys.norm(dim=1), torch.ones(4))
    assert set(queue.state_dict()) == {"keys", "pointer"}


# --- the loss, against the papers' pseudocode ---


def reference_queue_loss(q, k, queue, tau):
    """MoCo, Algorithm 1, one query at a time: l_pos = q·k, l_neg = q·queue, cross-entropy with the positive at 0."""
    unit = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]  # noqa: E731
    q, k, queue = [unit(r) for r in q.tolist()], [unit(r) for r in k.tolist()], [unit(r) for r in queue.tolist()]
    total = 0.0
    for qi, ki in zip(q, k):
        logits = [sum(a * b for a, b in zip(qi, ki)) / tau] + [sum(a * b for a, b in zip(qi, n)) / tau for n in queue]
        top = max(logits)
        total += top + math.log(sum(math.exp(x - top) for x in logits)) - logits[0]
    return total / len(q)


def reference_in_batch_loss(q, k, tau):
    """MoCo v3, Algorithm 1: logits = q kᵀ / τ, labels = range(N), one query at a time."""
    unit = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]  # noqa: E731
    q, k = [unit(r) for r in q.tolist()], [unit(r) for r in k.tolist()]
    total = 0.0
    for i, qi in enumerate(q):
        logits = [sum(a * b for a, b in zip(qi, kj)) / tau for kj in k]
        total += math.log(sum(math.exp(x) for x in logits)) - logits[i]
    return total / len(q)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tau", [0.07, 0.2, 1.0])
def test_queue_loss_matches_moco_pseudocode_and_info_nce(seed, shape, tau):
    q, k, queue = random_case(seed, *shape)
    logits = moco_logits(q, k, queue, tau)
    assert logits.logits.shape == (shape[0], 1 + shape[2]) and bool((logits.targets == 0).all())
    loss = F.cross_entropy(*logits)
    assert loss.item() == pytest.approx(reference_queue_loss(q, k, queue, tau), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(loss, info_nce(q, k, queue, tau))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_in_batch_loss_matches_v3_pseudocode_and_info_nce(seed, shape):
    q, k, _ = random_case(seed, *shape)
    loss = F.cross_entropy(*moco_logits(q, k, None, 0.2))
    assert loss.item() == pytest.approx(reference_in_batch_loss(q, k, 0.2), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(loss, info_nce(q, k, None, 0.2))


class SlicedGather:
    """Two processes seen from one: ``gather(x)`` puts ``x`` at this rank among the other ranks' rows."""

    local = True

    def __init__(self, rows: list[torch.Tensor], rank: int):
        self.rows, self.rank = rows, rank

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        others = [F.normalize(part.float(), dim=1) for part in self.rows]  # as each rank's loss passes its keys
        return torch.cat([x if r == self.rank else part for r, part in enumerate(others)])


def test_in_batch_loss_across_processes_is_the_global_batch_loss():
    q, k, _ = random_case(0, 8, 5, 1)
    parts = list(zip(q.chunk(2), k.chunk(2)))
    per_rank = [F.cross_entropy(*moco_logits(qr, kr, None, 0.2, SlicedGather([p[1] for p in parts], rank)))
                for rank, (qr, kr) in enumerate(parts)]
    torch.testing.assert_close(sum(per_rank) / 2, info_nce(q, k, None, 0.2))


@pytest.mark.parametrize("seed", SEEDS)
def test_loss_invariants(seed):
    q, k, queue = random_case(seed, 6, 4, 9)
    loss = F.cross_entropy(*moco_logits(q, k, queue, 0.2))
    scale = torch.rand(6, 1, dtype=torch.float64) * 10 + 0.1
    torch.testing.assert_close(F.cross_entropy(*moco_logits(q * scale, k / scale, queue * 3, 0.2)), loss)
    perm, queue_perm = torch.randperm(6), torch.randperm(9)
    torch.testing.assert_close(F.cross_entropy(*moco_logits(q[perm], k[perm], queue[queue_perm], 0.2)), loss)
    assert loss.item() > 0


@pytest.mark.parametrize("tau", [0.05, 0.2, 5.0])
def test_collapsed_loss_is_log_of_the_number_of_candidates_whatever_tau(tau):
    point = torch.randn(1, 4)
    loss = F.cross_entropy(*moco_logits(point.repeat(3, 1), point.repeat(3, 1), point.repeat(7, 1) * 2, tau))
    assert loss.item() == pytest.approx(collapsed_info_nce(7), rel=1e-5) == pytest.approx(math.log(8))
    in_batch = F.cross_entropy(*moco_logits(point.repeat(3, 1), point.repeat(3, 1), None, tau))
    assert in_batch.item() == pytest.approx(collapsed_info_nce(2), rel=1e-5)


def test_loss_refuses_a_queue_of_another_width_and_bad_inputs():
    q, k, _ = random_case(0, 3, 4, 1)
    with pytest.raises(ValueError, match=r"queue must be \(K, 4\)"):
        moco_logits(q, k, torch.randn(5, 3))
    with pytest.raises(ValueError, match="same shape"):
        moco_logits(q, k[:2], torch.randn(5, 4))
    with pytest.raises(ValueError, match="temperature"):
        moco_logits(q, k, torch.randn(5, 4), 0.0)
    with pytest.raises(ValueError, match="at least one negative"):
        collapsed_info_nce(0)


def test_lightly_memory_bank_loss_and_update_match_ours():
    """lightly's NTXentLoss with a memory bank is MoCo's loss: each query against its key and the bank as it was
    before this batch, then the keys (``out1``) written at the bank's pointer. Exact while the pointer does not
    wrap: past the end lightly drops the keys that do not fit and restarts at 0, where ours wrap around."""
    loss_module = pytest.importorskip("lightly.loss")
    q, k, _ = random_case(0, 4, 8, 1)
    q, k = q.float().requires_grad_(), k.float()  # lightly updates its bank only when out0 has a gradient
    queue = NegativeQueue(16, 8)
    queue.push(torch.randn(6, 8))
    theirs = loss_module.NTXentLoss(temperature=0.2, memory_bank_size=(16, 8))
    theirs.memory_bank.bank.copy_(queue.keys)
    theirs.memory_bank.bank_ptr[0] = int(queue.pointer)
    expected = theirs(q, k)
    torch.testing.assert_close(F.cross_entropy(*moco_logits(q, k, queue.keys, 0.2)), expected)
    queue.push(k)
    torch.testing.assert_close(theirs.memory_bank.bank, queue.keys)
    assert int(theirs.memory_bank.bank_ptr[0]) == int(queue.pointer)


def test_pytorch_metric_learning_matches_the_in_batch_loss():
    """pytorch-metric-learning's NTXentLoss with the keys as reference embeddings is v3's in-batch InfoNCE."""
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    q, k, _ = random_case(1, 6, 5, 1)
    labels = torch.arange(6)  # the keys' labels must be another tensor: the same one means "drop the diagonal"
    theirs = pml.NTXentLoss(temperature=0.2)(q.float(), labels, ref_emb=k.float(), ref_labels=labels.clone())
    torch.testing.assert_close(F.cross_entropy(*moco_logits(q, k, None, 0.2)).float(), theirs, rtol=1e-4, atol=1e-5)


# --- shuffling BN on one device ---


def test_split_batch_norm_gives_each_slice_its_own_statistics_and_keeps_the_order():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).train()
    x = torch.randn(12, 3)
    torch.manual_seed(5)
    out = split_batch_norm(network, x, 3, shuffle=True)
    torch.manual_seed(5)
    order = torch.randperm(12)
    for part in order.tensor_split(3):  # row i is the network on the slice that held it
        torch.testing.assert_close(out[part], network(x[part]))
    torch.testing.assert_close(split_batch_norm(network, x, 3), torch.cat([network(p) for p in x.tensor_split(3)]))
    per_row = nn.Linear(3, 4)  # no BatchNorm: the slicing and the shuffle change nothing
    torch.testing.assert_close(split_batch_norm(per_row, x, 4, shuffle=True), per_row(x))


def test_bn_splits_follow_moco_with_a_queue_and_one_group_without():
    assert [moco().splits(n) for n in (8, 32, 64, 256, 1024)] == [1, 2, 4, 8, 8]
    assert moco(queue_size=0).splits(256) == 1
    assert moco(bn_splits=3).splits(6) == 3
    with pytest.raises(ValueError, match="cannot be split into bn_splits=4"):
        moco(bn_splits=4).splits(6)


# --- the method ---


SETTINGS = {
    "v2": {},
    "v2 split BN": {"bn_splits": 4},
    "v2 symmetric": {"symmetric": True},
    "v3": {"queue_size": 0, "symmetric": True, "predictor": True, "momentum_schedule": "cosine", "hidden_bn": True,
           "out_bn": True, "temperature": 1.0},
}


@pytest.mark.parametrize("options", SETTINGS.values(), ids=SETTINGS.keys())
def test_loss_is_info_nce_of_its_own_queries_and_keys_with_the_queue_before_the_push(options):
    method = moco(**{"queue_size": 64, **options})
    x = images()
    before = None if method.queue is None else method.queue.keys.clone()
    torch.manual_seed(1)
    out = method(Batch(x))
    queries, keys = own_queries_and_keys(method, x, 1)
    negatives = None if method.queue is None else method.queue.keys
    terms = [info_nce(q, k, negatives, method.temperature) for q, k in zip(queries, keys)]
    torch.testing.assert_close(out.loss, sum(terms) / len(terms))  # symmetric: the mean of the two directions
    expected_logs = {"contrastive_acc", "momentum"} | ({"loss_12", "loss_21"} if method.symmetric else set())
    assert set(out.logs) == expected_logs and all(v.ndim == 0 and not v.requires_grad for v in out.logs.values())
    if method.symmetric:
        torch.testing.assert_close(torch.stack([out.logs["loss_12"], out.logs["loss_21"]]), torch.stack(terms))
    if before is not None:
        torch.testing.assert_close(method.queue.keys, before)  # a forward alone leaves the queue as it was


def test_after_a_step_the_queue_holds_the_new_keys():
    for symmetric in (False, True):
        method = moco(symmetric=symmetric)
        x = images(16)
        torch.manual_seed(2)
        method(Batch(x))
        _, keys = own_queries_and_keys(method, x, 2)  # the key encoder is unchanged until the step
        start = int(method.queue.pointer)
        method.after_optimizer_step(0.5)
        pushed = torch.cat(keys)
        torch.testing.assert_close(method.queue.keys[start:start + len(pushed)], F.normalize(pushed, dim=1))
        assert int(method.queue.pointer) == (start + len(pushed)) % len(method.queue)
        assert method.pending_keys is None


def test_a_queue_shorter_than_a_step_s_keys_is_refused_at_the_first_step():
    with pytest.raises(ValueError, match="queue_size=16 cannot hold one step's 32 keys"):
        moco(queue_size=16)(Batch(images(32)))
    with pytest.raises(ValueError, match=r"queue_size=48 cannot hold one step's 64 keys \(32 images × 2 views"):
        moco(queue_size=48, symmetric=True)(Batch(images(32)))


def test_only_the_query_encoder_gets_gradients():
    method = moco(predictor=True, symmetric=True)
    method(Batch(images(16))).loss.backward()
    frozen = [*method.key_backbone.parameters(), *method.key_head.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in frozen)
    online = [*method.backbone.parameters(), *method.head.parameters(), *method.predictor.parameters()]
    assert all(p.grad is not None for p in online)


def test_momentum_update_against_a_hand_loop():
    method = moco()
    with torch.no_grad():  # an optimiser step, as far as the key encoder can tell
        for p in [*method.backbone.parameters(), *method.head.parameters()]:
            p.add_(torch.randn_like(p))
    online = [p.clone() for p in [*method.backbone.parameters(), *method.head.parameters()]]
    target = [p.clone() for p in [*method.key_backbone.parameters(), *method.key_head.parameters()]]
    method.after_optimizer_step(0.3)
    updated = [*method.key_backbone.parameters(), *method.key_head.parameters()]
    for new, old, theta in zip(updated, target, online):
        torch.testing.assert_close(new, 0.99 * old + 0.01 * theta)
    for key_buffer, buffer in zip(method.key_backbone.buffers(), method.backbone.buffers()):
        torch.testing.assert_close(key_buffer, buffer)  # BatchNorm's running statistics are copied
    assert method.current_momentum.item() == pytest.approx(0.99)


def test_cosine_momentum_schedule_runs_from_the_base_to_one():
    method = moco(momentum=0.9, momentum_schedule="cosine")
    assert [method.momentum_at(p) for p in (0.0, 0.5, 1.0)] == pytest.approx([0.9, 0.95, 1.0])
    assert moco(momentum=0.9).momentum_at(0.7) == 0.9
    frozen = [p.clone() for p in method.key_head.parameters()]
    with torch.no_grad():
        for p in method.head.parameters():
            p.add_(1.0)
    method.after_optimizer_step(1.0)  # m = 1: the key encoder stays where it was
    assert all(torch.equal(a, b) for a, b in zip(method.key_head.parameters(), frozen))
    assert method(Batch(images(8))).logs["momentum"].item() == 1.0


def test_embed_reads_the_query_backbone_and_the_head_has_moco_v2_shape():
    method = moco()
    with torch.no_grad():
        for p in method.key_backbone.parameters():
            p.mul_(-1)
    method.eval()
    x = images(4)
    torch.testing.assert_close(method.embed(x), method.backbone(to_float(x)))
    assert not any(isinstance(m, nn.BatchNorm1d) for m in method.head.modules())  # v2's head: no BatchNorm
    assert any(isinstance(m, nn.BatchNorm1d) for m in moco(hidden_bn=True).head.modules())
    assert method.predictor is None and moco(predictor=True).predictor is not None


def test_a_collapsed_moco_sits_at_log_k_plus_one_which_is_not_used_as_a_warning():
    method = moco(queue_size=48)
    with torch.no_grad():  # every image to one point: the head's last layer outputs its bias
        for head in (method.head, method.key_head):
            head.net[-1].weight.zero_()
            head.net[-1].bias.fill_(1.0)
        method.queue.push(torch.ones(48, 8))
    assert method(Batch(images(16))).loss.item() == pytest.approx(math.log(49), rel=1e-5)
    assert method.collapsed_loss(16) is None and moco(queue_size=0).collapsed_loss(16) is None


def test_state_dict_keeps_the_queue_and_the_key_encoder():
    trained = moco()
    optimiser = torch.optim.SGD([p for p in trained.parameters() if p.requires_grad], lr=0.1)
    trained(Batch(images(16))).loss.backward()
    optimiser.step()
    trained.after_optimizer_step(0.5)
    state = trained.state_dict()
    assert {"queue.keys", "queue.pointer"} <= set(state) and "current_momentum" not in state
    torch.manual_seed(123)
    fresh = MoCo(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, queue_size=64)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.queue.keys, trained.queue.keys) and int(fresh.queue.pointer) == 16
    for a, b in zip(fresh.key_backbone.state_dict().values(), trained.key_backbone.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(fresh.key_head.parameters(), trained.key_head.parameters()):
        assert torch.equal(a, b)
    torch.manual_seed(4)
    expected = trained(Batch(images(16))).loss
    torch.manual_seed(4)
    torch.testing.assert_close(fresh(Batch(images(16))).loss, expected)


def test_options_are_checked():
    cases = [({"momentum": 1.5}, "momentum must be in"), ({"momentum_schedule": "linear"}, "constant, cosine"),
             ({"queue_size": -1}, "queue_size"), ({"bn_splits": 0}, "bn_splits"), ({"temperature": 0.0}, "temperature")]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            moco(**options)
    with pytest.raises(ValueError, match="two views"):
        MoCo(models.encoder("small_cnn", width=4), [augment.simclr(32)] * 3)


@pytest.mark.parametrize("options", [{}, SETTINGS["v3"]], ids=["v2", "v3"])
def test_moco_trains_a_few_steps(options, small_shapes):
    from clkit import train

    train.seed_everything(0)
    method = MoCo(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16,
                  **{"queue_size": 64, **options})
    history = train.fit(method, small_shapes, epochs=1, batch_size=32, lr=1e-3, progress=False)
    last = history.epochs[-1]
    assert math.isfinite(history["loss"][-1]) and 0 <= last["contrastive_acc"] <= 1
    if method.momentum_schedule == "constant":
        assert last["momentum"] == pytest.approx(0.99)
    else:  # the epoch's mean of a cosine from 0.99 that ends at 1 after the last step
        assert 0.99 < last["momentum"] < 1.0 and method.current_momentum.item() == 1.0
    if method.queue is not None:
        assert int(method.queue.pointer) == (10 * 32) % 64  # ten steps of 32 keys
