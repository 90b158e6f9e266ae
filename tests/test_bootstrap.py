"""BYOL and SimSiam: their losses against slow loops from the papers, and the methods' target, predictor and switches."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from clkit import augment, models
from clkit.data import Batch
from clkit.losses.bootstrap import negative_cosine, normalized_mse
from clkit.losses.geometry import alignment
from clkit.methods import bootstrap
from clkit.methods.bootstrap import BYOL, SimSiam
from clkit.methods.collapse import PositivesOnly

SEEDS = [0, 1, 2, 3, 4]
SHAPES = [(1, 1), (1, 3), (4, 2), (7, 5)]
LOSSES = [negative_cosine, normalized_mse]


def reference_negative_cosine(p, z):
    """Chen & He 2021, Algorithm 1's D, one pair at a time: −(p / ‖p‖) · (z / ‖z‖), averaged."""
    total = 0.0
    for p_i, z_i in zip(p, z):
        norms = math.sqrt(sum(x * x for x in p_i)) * math.sqrt(sum(x * x for x in z_i))
        total += -sum(a * b for a, b in zip(p_i, z_i)) / norms
    return total / len(p)


def reference_normalized_mse(p, z):
    """Grill et al. 2020, section 3.1: ‖p̄ − z̄‖² with x̄ = x / ‖x‖, entry by entry, averaged over the pairs."""
    total = 0.0
    for p_i, z_i in zip(p, z):
        p_norm, z_norm = math.sqrt(sum(x * x for x in p_i)), math.sqrt(sum(x * x for x in z_i))
        total += sum((a / p_norm - b / z_norm) ** 2 for a, b in zip(p_i, z_i))
    return total / len(p)


def random_pair(seed: int, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, d, generator=g, dtype=torch.float64)
    return p, 0.5 * p + torch.randn(n, d, generator=g, dtype=torch.float64)  # correlated, as two views are


# --- the losses against the references and an independent implementation ---


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss, reference", [(negative_cosine, reference_negative_cosine),
                                             (normalized_mse, reference_normalized_mse)])
def test_losses_match_the_papers_pseudocode(loss, reference, seed, shape):
    p, z = random_pair(seed, *shape)
    value = loss(p, z)
    assert value.shape == () and value.dtype == torch.float64
    assert value.item() == pytest.approx(reference(p.tolist(), z.tolist()), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_losses_match_lightly(seed, shape):
    """lightly's NegativeCosineSimilarity is SimSiam's D, and its BYOL trains on it: BYOL's loss is 2 + 2·D."""
    lightly_loss = pytest.importorskip("lightly.loss")
    p, z = random_pair(seed, *shape)
    d = lightly_loss.NegativeCosineSimilarity()(p, z)
    torch.testing.assert_close(negative_cosine(p, z), d, rtol=0, atol=1e-14)
    torch.testing.assert_close(normalized_mse(p, z), 2 + 2 * d, rtol=0, atol=1e-14)
    zero = torch.zeros(3, 4, dtype=torch.float64)  # no direction: both count the pair as orthogonal
    torch.testing.assert_close(negative_cosine(zero, p[:3, :1].expand(3, 4)),
                               lightly_loss.NegativeCosineSimilarity()(zero, p[:3, :1].expand(3, 4)))


@pytest.mark.parametrize("seed", SEEDS)
def test_normalized_mse_is_the_alignment_of_positives_only(seed):
    """BYOL's loss is Wang & Isola's alignment (α = 2): the loss PositivesOnly collapses on. The asymmetry differs."""
    p, z = random_pair(seed, 6, 4)
    torch.testing.assert_close(normalized_mse(p.float(), z.float()), alignment(p.float(), z.float()))


# --- the losses' invariants ---


@pytest.mark.parametrize("seed", SEEDS)
def test_identical_or_collapsed_views_give_the_minimum(seed):
    p, _ = random_pair(seed, 6, 4)
    one_point = p[:1].expand(6, 4)  # a collapsed network: every view the same vector
    for z in (p.clone(), one_point):
        assert negative_cosine(z, z.clone()).item() == pytest.approx(-1.0, abs=1e-12)
        assert normalized_mse(z, z.clone()).item() == pytest.approx(0.0, abs=1e-12)
    # Opposite and orthogonal pairs: the other end of the range, and its middle.
    assert negative_cosine(p, -p).item() == pytest.approx(1.0) and normalized_mse(p, -p).item() == pytest.approx(4.0)
    e = torch.eye(4, dtype=torch.float64)
    assert negative_cosine(e, e.roll(1, 0)).item() == 0.0 and normalized_mse(e, e.roll(1, 0)).item() == 2.0


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_losses_ignore_each_rows_length(loss, seed):
    p, z = random_pair(seed, 6, 4)
    g = torch.Generator().manual_seed(100 + seed)
    scale = lambda: torch.rand(6, 1, generator=g, dtype=torch.float64) * 100 + 1e-3  # noqa: E731
    assert loss(scale() * p, scale() * z).item() == pytest.approx(loss(p, z).item(), rel=1e-12)
    assert loss(-p, -z).item() == pytest.approx(loss(p, z).item(), rel=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_losses_stay_in_their_range_and_are_one_up_to_an_affine_map(seed):
    p, z = (torch.randn(5, 3, generator=torch.Generator().manual_seed(seed)) for _ in range(2))
    d, mse = negative_cosine(p, z), normalized_mse(p, z)
    assert -1 <= d.item() <= 1 and 0 <= mse.item() <= 4
    torch.testing.assert_close(mse, 2 + 2 * d)
    assert d.item() == pytest.approx(negative_cosine(z, p).item())  # symmetric in its arguments


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("case", ["identical", "collapsed", "zeros"])
def test_gradients_are_finite_and_reach_both_arguments(loss, case):
    """The loss never detaches: the stop-gradient is the method's to apply."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g)
    z = {"identical": z, "collapsed": z[:1].expand(6, 4), "zeros": torch.zeros(6, 4)}[case]
    p, target = z.clone().requires_grad_(), (z + 0.1 * torch.randn(6, 4, generator=g)).requires_grad_()
    value = loss(p, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(p.grad).all() and torch.isfinite(target.grad).all()
    if case != "zeros":  # (a zero prediction has no direction to align the target with)
        assert target.grad.abs().sum() > 0


def test_half_precision_is_computed_in_float32():
    p, z = (t.to(torch.bfloat16) for t in random_pair(0, 6, 3))
    assert negative_cosine(p, z).dtype == torch.float32 and normalized_mse(p, z).dtype == torch.float32


@pytest.mark.parametrize("loss", LOSSES)
def test_bad_inputs_are_refused_clearly(loss):
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="N = 0"):
        loss(torch.randn(0, 3), torch.randn(0, 3))


# --- the methods ---


def byol(**options) -> BYOL:
    return BYOL(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, **options)


def simsiam(**options) -> SimSiam:
    return SimSiam(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, **options)


def images(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def step_and_views(method, seed: int = 1):
    """The method's step on a batch, and the same views drawn again as the method draws them."""
    x = images()
    torch.manual_seed(seed)
    out = method(Batch(x))
    torch.manual_seed(seed)
    return out, torch.cat(augment.views(x, method.recipes))


@pytest.mark.parametrize("predictor", [True, False])
def test_byol_trains_on_its_loss_of_its_own_predictions_and_targets(predictor):
    torch.manual_seed(0)
    method = byol(predictor=predictor)
    out, v = step_and_views(method)
    z1, z2 = method.head(method.backbone(v)).chunk(2)
    p1, p2 = method.predictor(torch.cat([z1, z2])).chunk(2) if predictor else (z1, z2)
    t1, t2 = method.target_head(method.target_backbone(v)).chunk(2)
    torch.testing.assert_close(out.loss, normalized_mse(p1, t2) + normalized_mse(p2, t1))
    assert set(out.logs) == {"z_std", "momentum"} and all(not t.requires_grad for t in out.logs.values())
    torch.testing.assert_close(out.logs["z_std"], bootstrap.z_std(z1, z2))


@pytest.mark.parametrize("predictor", [True, False])
@pytest.mark.parametrize("stop_gradient", [True, False])
def test_simsiam_trains_on_its_loss_of_its_own_predictions_and_projections(predictor, stop_gradient):
    torch.manual_seed(0)
    method = simsiam(predictor=predictor, stop_gradient=stop_gradient)
    out, v = step_and_views(method)
    z1, z2 = method.head(method.backbone(v)).chunk(2)
    p1, p2 = method.predictor(torch.cat([z1, z2])).chunk(2) if predictor else (z1, z2)
    torch.testing.assert_close(out.loss, negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2)
    assert set(out.logs) == {"z_std"} and not out.logs["z_std"].requires_grad


def test_byol_without_stop_gradient_has_no_target_and_uses_the_online_network():
    torch.manual_seed(0)
    method = byol(stop_gradient=False)
    assert not any(name.startswith("target_") for name, _ in method.named_parameters())
    out, v = step_and_views(method)
    z1, z2 = method.head(method.backbone(v)).chunk(2)
    p1, p2 = method.predictor(torch.cat([z1, z2])).chunk(2)
    torch.testing.assert_close(out.loss, normalized_mse(p1, z2) + normalized_mse(p2, z1))
    assert set(out.logs) == {"z_std"}
    method.after_optimizer_step(0.5)  # nothing to follow: a no-op


def test_byol_without_predictor_or_stop_gradient_is_positives_only_twice():
    torch.manual_seed(0)
    method = byol(stop_gradient=False, predictor=False)
    torch.manual_seed(0)
    positives = PositivesOnly(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
    byol_loss, _ = step_and_views(method)
    positives_loss, _ = step_and_views(positives)
    torch.testing.assert_close(byol_loss.loss, 2 * positives_loss.loss)


def test_default_heads_are_the_papers_shapes():
    # SimSiam: BatchNorm without affine parameters on the projector's output; a bottleneck predictor of a quarter.
    method = SimSiam(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16)
    last = method.head.net[-1]
    assert isinstance(last, nn.BatchNorm1d) and not last.affine
    assert [m.out_features for m in method.predictor.modules() if isinstance(m, nn.Linear)] == [4, 16]
    # BYOL: the predictor as wide as the projector's hidden layer, and no BatchNorm on the projector's output.
    method = BYOL(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16, hidden_dim=24)
    assert not isinstance(method.head.net[-1], nn.BatchNorm1d)
    assert [m.out_features for m in method.predictor.modules() if isinstance(m, nn.Linear)] == [24, 16]


@pytest.mark.parametrize("make", [byol, simsiam])
def test_predictor_false_removes_the_predictors_parameters(make):
    torch.manual_seed(0)
    with_predictor, without = make(), make(predictor=False)
    assert isinstance(without.predictor, nn.Identity)
    assert not any(name.startswith("predictor.") for name, _ in without.named_parameters())
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    assert count(with_predictor) - count(without) == count(with_predictor.predictor) > 0


# --- the target network and its schedule ---


@pytest.mark.parametrize("progress", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_byol_target_follows_the_online_network_on_the_cosine_schedule(progress):
    torch.manual_seed(0)
    method = byol(base_momentum=0.9)
    with torch.no_grad():  # move the online weights away from the target's, so the update shows
        for p in list(method.backbone.parameters()) + list(method.head.parameters()):
            p.add_(torch.randn_like(p))
    pairs = list(zip(method.target_backbone.parameters(), method.backbone.parameters()))
    pairs += list(zip(method.target_head.parameters(), method.head.parameters()))
    before = [(t.clone(), o.clone()) for t, o in pairs]
    method.after_optimizer_step(progress)
    m = 1 - (1 - 0.9) * (math.cos(math.pi * progress) + 1) / 2  # BYOL: 0.9 at the start, 1 at the end
    for (target, _), (old_target, online) in zip(pairs, before):
        torch.testing.assert_close(target, m * old_target + (1 - m) * online)
    out, _ = step_and_views(method)
    assert out.logs["momentum"].item() == pytest.approx(m)


def test_byol_target_gets_no_gradient_and_is_kept_in_the_checkpoint():
    torch.manual_seed(0)
    method = byol()
    out, _ = step_and_views(method)
    out.loss.backward()
    target = list(method.target_backbone.parameters()) + list(method.target_head.parameters())
    assert all(not p.requires_grad and p.grad is None for p in target)
    online = list(method.backbone.parameters()) + list(method.head.parameters()) + list(method.predictor.parameters())
    assert all(p.grad is not None for p in online)
    trainable = {id(p) for p in method.parameters() if p.requires_grad}
    assert not trainable & {id(p) for p in target}  # the optimiser never sees the target
    state = method.state_dict()
    assert any(k.startswith("target_backbone.") for k in state) and "momentum" not in state


def test_momentum_is_checked():
    with pytest.raises(ValueError, match=r"base_momentum must be in \[0, 1\]"):
        byol(base_momentum=1.5)
    with pytest.raises(ValueError, match=r"final_momentum must be in \[0, 1\]"):
        byol(final_momentum=-0.1)


# --- the stop-gradient switch: what gets a gradient ---


class Recorder:
    """Stands in for a loss: records whether its target argument carries a gradient path, then computes it."""

    def __init__(self, loss):
        self.loss, self.target_has_grad = loss, []

    def __call__(self, p, z):
        self.target_has_grad.append(z.requires_grad)
        return self.loss(p, z)


@pytest.mark.parametrize("make, loss_name", [(byol, "normalized_mse"), (simsiam, "negative_cosine")])
@pytest.mark.parametrize("stop_gradient", [True, False])
def test_stop_gradient_decides_whether_the_target_side_has_a_gradient_path(make, loss_name, stop_gradient,
                                                                           monkeypatch):
    recorder = Recorder(getattr(bootstrap, loss_name))
    monkeypatch.setattr(bootstrap, loss_name, recorder)
    torch.manual_seed(0)
    make(stop_gradient=stop_gradient)(Batch(images()))
    assert recorder.target_has_grad == [not stop_gradient] * 2  # both directions of the symmetric loss


def test_without_a_predictor_simsiams_stop_gradient_only_halves_the_gradient():
    """Chen & He 2021, Table 1a's reason: with h = identity, D(z1, sg(z2))/2 + D(z2, sg(z1))/2 has half the gradient
    of D(z1, z2), so the stop-gradient changes the step size, not the direction, and the run collapses."""
    grads = {}
    for stop_gradient in (True, False):
        torch.manual_seed(0)
        method = simsiam(predictor=False, stop_gradient=stop_gradient)
        out, _ = step_and_views(method)
        out.loss.backward()
        grads[stop_gradient] = [p.grad.clone() for p in method.parameters() if p.grad is not None]
    assert len(grads[True]) == len(grads[False]) > 0
    for halved, full in zip(grads[True], grads[False]):
        torch.testing.assert_close(halved, full / 2, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("make", [byol, simsiam])
def test_the_collapsed_loss_is_not_reported(make):
    """−1 (SimSiam) and 0 (BYOL) are also where a healthy run heads: no telltale."""
    assert make().collapsed_loss(32) is None


def test_two_views_only():
    with pytest.raises(ValueError, match="two views.*3 recipes"):
        SimSiam(models.encoder("small_cnn", width=4), [augment.simclr(32)] * 3)


# --- training ---


@pytest.mark.parametrize("make, logged", [(byol, {"z_std", "momentum"}), (simsiam, {"z_std"})])
def test_methods_train_a_few_steps(make, logged, small_shapes):
    from clkit import train

    train.seed_everything(0)
    history = train.fit(make(), small_shapes, epochs=1, batch_size=32, lr=1e-3, progress=False)
    record = history.epochs[-1]
    assert math.isfinite(history["loss"][-1]) and logged <= set(record)
    assert 0 < record["z_std"] <= 1


def test_simsiam_without_stop_gradient_collapses_within_thirty_steps(small_shapes):
    """SimSiam's Figure 2 at toy scale: z_std (1/√D spread, 0 collapsed) falls far below the stop-gradient run's.

    Without the projector's output BatchNorm: that BN standardises every dimension over the batch, which
    keeps z off a single point, so with it the collapse takes the longer road of fewer and fewer dimensions.
    """
    from clkit import train

    z_std = {}
    for stop_gradient in (True, False):
        train.seed_everything(0)
        method = SimSiam(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=32,
                         out_bn=False, stop_gradient=stop_gradient)
        history = train.fit(method, small_shapes, epochs=3, batch_size=32, lr=1e-2, warmup_epochs=0, progress=False)
        z_std[stop_gradient] = history.epochs[-1]["z_std"]
    assert z_std[True] > 0.5 / math.sqrt(32)  # the healthy run stays spread
    assert z_std[False] < 0.4 * z_std[True]
