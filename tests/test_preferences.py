"""Preference pairs, the Bradley–Terry loss and the reward model: the data against its definition, the loss against
a slow loop from the formula, against the two-logit softmax and InfoNCE with one negative, and against scikit-learn's
logistic regression (a linear reward fitted by Bradley–Terry is logistic regression on feature differences)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clkit import models, train
from clkit.data import make_shapes, shape_attributes
from clkit.data.preferences import (
    PREFERENCE_SPLITS,
    UTILITY_CENTRE,
    UTILITY_WEIGHTS,
    PreferencePairs,
    bayes_accuracy,
    draw_pairs,
    load_preferences,
    make_preferences,
    utility,
)
from clkit.evaluate.preferences import pearson, preference_accuracy, preference_report, spearman
from clkit.losses import info_nce
from clkit.losses.preference import bradley_terry_loss, preference_logits
from clkit.methods.preference import RewardModel, rewards

SEEDS = [0, 1, 2, 3]


# --- the data ---


def test_the_same_seed_gives_the_same_pairs_bit_for_bit():
    a, b = make_preferences(30, rounds=3, seed=5), make_preferences(30, rounds=3, seed=5)
    assert torch.equal(a.items.images, b.items.images) and torch.equal(a.chosen, b.chosen)
    assert torch.equal(a.rejected, b.rejected) and torch.equal(a.utility, b.utility)
    c = make_preferences(30, rounds=3, seed=5, pair_seed=6)
    assert torch.equal(c.items.images, a.items.images) and not torch.equal(c.chosen, a.chosen)


def test_every_item_meets_rounds_others_so_the_pairs_are_as_class_balanced_as_the_items():
    pairs = make_preferences(50, rounds=3, seed=0)
    assert len(pairs) == 3 * 25
    appearances = torch.bincount(torch.cat([pairs.chosen, pairs.rejected]), minlength=50)
    assert torch.equal(appearances, torch.full((50,), 3))
    assert (pairs.chosen != pairs.rejected).all()
    per_class = torch.bincount(pairs.items.labels[torch.cat([pairs.chosen, pairs.rejected])], minlength=10)
    assert per_class.max() == per_class.min() == 2 * len(pairs) // 10


def test_the_utility_is_the_documented_function_of_the_rendered_attributes():
    attributes = shape_attributes(20, seed=3)
    expected = [sum(w * (float(attributes[k][i]) - UTILITY_CENTRE[k]) for k, w in UTILITY_WEIGHTS.items())
                for i in range(20)]
    torch.testing.assert_close(utility(attributes), torch.tensor(expected))
    torch.testing.assert_close(make_preferences(20, seed=3).utility, utility(attributes))
    with pytest.raises(KeyError, match="missing shape brightness"):
        utility({"size": torch.ones(3)})


def test_the_bigger_brighter_image_has_the_higher_utility():
    pairs = make_preferences(200, seed=0)
    attributes = shape_attributes(200, seed=0)
    both = (attributes["size"][:, None] > attributes["size"]) & (
        attributes["shape brightness"][:, None] > attributes["shape brightness"])
    assert (pairs.utility[:, None] > pairs.utility)[both].all()


def test_labels_follow_bradley_terry():
    """Over many pairs, the higher-utility item wins as often as σ(β|Δu|) says, within four standard errors; and
    binned by the gap, the win rate follows σ(β Δu) (the pairs are drawn without rendering a single image)."""
    u = utility(shape_attributes(4000, seed=1))
    for beta in (0.0, 1.0, 3.0):
        chosen, rejected = draw_pairs(u, rounds=4, beta=beta, generator=torch.Generator().manual_seed(int(10 * beta)))
        gap = u[chosen] - u[rejected]
        p = torch.sigmoid(beta * gap.abs())
        standard_error = math.sqrt(float((p * (1 - p)).sum())) / len(p)
        assert abs(float((gap > 0).float().mean()) - float(p.mean())) < 4 * standard_error + 1e-9
    chosen, rejected = draw_pairs(u, rounds=4, generator=torch.Generator().manual_seed(0))
    first_is_chosen = torch.rand(len(chosen), generator=torch.Generator().manual_seed(1)) < 0.5  # unlabel the pairs
    a, b = torch.where(first_is_chosen, chosen, rejected), torch.where(first_is_chosen, rejected, chosen)
    gap = u[a] - u[b]
    for lo, hi in ((-3.0, -1.0), (-0.5, 0.5), (1.0, 3.0)):
        inside = (gap > lo) & (gap < hi)
        p = torch.sigmoid(gap[inside])
        standard_error = math.sqrt(float((p * (1 - p)).sum())) / int(inside.sum())
        assert abs(float(first_is_chosen[inside].float().mean()) - float(p.mean())) < 4 * standard_error


def test_bayes_accuracy_is_the_mean_of_sigma_of_the_gap_written_out():
    pairs = make_preferences(20, rounds=3, seed=2, beta=1.5)
    u = pairs.utility.tolist()
    gaps = [abs(u[a] - u[b]) for a, b in zip(pairs.chosen.tolist(), pairs.rejected.tolist())]
    expected = sum(1 / (1 + math.exp(-1.5 * g)) for g in gaps) / len(gaps)
    assert bayes_accuracy(pairs) == pytest.approx(expected, rel=1e-6)


def test_held_out_items_are_other_images():
    train_pairs, heldout = load_preferences("train", n_items=100), load_preferences("test", n_items=60)
    assert PREFERENCE_SPLITS["train"]["seed"] != PREFERENCE_SPLITS["test"]["seed"]
    seen = {bytes(x.numpy()) for x in train_pairs.items.images}
    assert not any(bytes(x.numpy()) in seen for x in heldout.items.images)
    assert torch.equal(heldout.items.images, make_shapes(60, seed=PREFERENCE_SPLITS["test"]["seed"]).images)
    with pytest.raises(ValueError, match="valid splits are train, test"):
        load_preferences("validation")


def test_pairs_are_a_record_fit_can_train_on():
    pairs = make_preferences(20, rounds=2, seed=0)
    sub = pairs[torch.tensor([3, 0])]
    assert isinstance(sub, PreferencePairs) and len(sub) == 2 and sub.items is pairs.items
    assert torch.equal(sub.chosen_images[1], pairs.items.images[pairs.chosen[0]])
    assert torch.equal(sub.utility_gap(), pairs.utility_gap()[[3, 0]])
    assert sub.images is None and sub.labels is None and len(pairs[2:5]) == 3
    assert pairs.to("cpu").chosen.device.type == "cpu"


@pytest.mark.parametrize("bad, match", [
    (dict(n_items=1), "at least 2"), (dict(n_items=4, rounds=0), "rounds"), (dict(n_items=4, beta=-1.0), "beta"),
    (dict(n_items=-3), "at least 2"),
])
def test_bad_settings_are_refused_with_the_reason(bad, match):
    with pytest.raises(ValueError, match=match):
        make_preferences(**bad)


# --- the loss ---


def reference_bradley_terry(r_chosen, r_rejected):
    """Bradley & Terry 1952: P(i ≻ j) = e^{r_i} / (e^{r_i} + e^{r_j}); the loss is the mean negative log of it."""
    return sum(-math.log(math.exp(a) / (math.exp(a) + math.exp(b))) for a, b in zip(r_chosen, r_rejected)) / len(
        r_chosen)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [1, 2, 7])
def test_bradley_terry_matches_the_formula_written_out(seed, n):
    g = torch.Generator().manual_seed(seed)
    r_chosen, r_rejected = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g,
                                                                                          dtype=torch.float64)
    value = bradley_terry_loss(r_chosen, r_rejected)
    assert value.shape == () and value.dtype == torch.float64
    assert value.item() == pytest.approx(reference_bradley_terry(r_chosen.tolist(), r_rejected.tolist()), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_bradley_terry_is_the_two_logit_softmax_cross_entropy(seed):
    g = torch.Generator().manual_seed(seed)
    r_chosen, r_rejected = 3 * torch.randn(9, generator=g), 3 * torch.randn(9, generator=g)
    logits, targets = preference_logits(r_chosen, r_rejected)
    assert logits.shape == (9, 2) and torch.equal(targets, torch.zeros(9, dtype=torch.long))
    torch.testing.assert_close(F.cross_entropy(logits, targets), bradley_terry_loss(r_chosen, r_rejected))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_info_nce_with_one_negative_is_bradley_terry_on_its_similarities(seed, tau):
    """Each anchor with its positive and one negative: InfoNCE equals Bradley–Terry of the scaled similarities."""
    g = torch.Generator().manual_seed(seed)
    q, k, n = (torch.randn(5, 8, generator=g) for _ in range(3))
    cos = lambda a, b: F.cosine_similarity(a, b, dim=1)  # noqa: E731
    r_chosen, r_rejected = cos(q, k) / tau, cos(q, n) / tau
    per_anchor = torch.stack([info_nce(q[i : i + 1], k[i : i + 1], n[i : i + 1], tau) for i in range(5)])
    torch.testing.assert_close(per_anchor.mean(), bradley_terry_loss(r_chosen, r_rejected))


@pytest.mark.parametrize("seed", SEEDS)
def test_any_pair_of_rewards_is_an_info_nce_with_one_negative(seed):
    """The converse: rewards as the cosines of unit vectors in the plane, over τ = 1 / max|r|."""
    g = torch.Generator().manual_seed(seed)
    r = 4 * torch.randn(2, generator=g)
    tau = 1 / float(r.abs().max())
    angle = torch.arccos(r * tau)  # cos(angle) · (1/τ) = r
    query = torch.tensor([[1.0, 0.0]])
    key, negative = (torch.stack([a.cos(), a.sin()]).view(1, 2) for a in angle)
    torch.testing.assert_close(info_nce(query, key, negative, tau), bradley_terry_loss(r[:1], r[1:]))


def test_bradley_terry_sees_only_the_gap_and_is_log_two_when_the_items_tie():
    r_chosen, r_rejected = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([1.0, 0.5, 2.0])
    torch.testing.assert_close(bradley_terry_loss(r_chosen + 7.0, r_rejected + 7.0),
                               bradley_terry_loss(r_chosen, r_rejected))
    assert bradley_terry_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(math.log(2))


def test_bradley_terry_gradient_is_minus_the_probability_of_the_wrong_choice():
    r_chosen = torch.tensor([0.5, -2.0, 1.0], requires_grad=True)
    r_rejected = torch.tensor([0.0, 1.0, 4.0], requires_grad=True)
    bradley_terry_loss(r_chosen, r_rejected).backward()
    wrong = torch.sigmoid(r_rejected - r_chosen).detach()  # 1 − σ(r⁺ − r⁻)
    torch.testing.assert_close(r_chosen.grad, -wrong / 3)
    torch.testing.assert_close(r_rejected.grad, wrong / 3)


def test_bradley_terry_stays_finite_for_huge_gaps():
    value = bradley_terry_loss(torch.tensor([-1e4, 1e4]), torch.tensor([1e4, -1e4]))
    assert value.item() == pytest.approx(1e4)  # (2·10⁴ + 0) / 2


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(3, 1), torch.zeros(3, 1)), ValueError, "squeeze"),
    ((torch.zeros(3), torch.zeros(4)), ValueError, "one reward per pair"),
    ((torch.zeros(0), torch.zeros(0)), ValueError, "no pairs"),
    ((torch.zeros(3, dtype=torch.long), torch.zeros(3)), TypeError, "floating-point"),
])
def test_bad_rewards_are_refused_with_the_reason(args, error, match):
    with pytest.raises(error, match=match):
        bradley_terry_loss(*args)


def test_a_linear_reward_fitted_by_bradley_terry_is_scikit_learns_logistic_regression():
    """Second oracle: r(x) = wᵀx, so σ(r⁺ − r⁻) = σ(wᵀ(x⁺ − x⁻)): unpenalised logistic regression without an
    intercept on the differences, each pair entered in both orders (labels 1 and 0)."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64)
    true_w = torch.tensor([1.5, -1.0, 0.5, 0.0], dtype=torch.float64)
    a, b = torch.arange(0, 300, 2), torch.arange(1, 300, 2)
    a_wins = torch.rand(150, generator=g, dtype=torch.float64) < torch.sigmoid((x[a] - x[b]) @ true_w)
    chosen, rejected = torch.where(a_wins, a, b), torch.where(a_wins, b, a)
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = bradley_terry_loss(x[chosen] @ w, x[rejected] @ w)
        loss.backward()
        return loss

    opt.step(closure)
    diffs = torch.cat([x[chosen] - x[rejected], x[rejected] - x[chosen]]).numpy()
    labels = [1] * 150 + [0] * 150
    sk = linear_model.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10, max_iter=10_000)  # C → ∞: no penalty
    sk.fit(diffs, labels)
    torch.testing.assert_close(w.detach(), torch.from_numpy(sk.coef_[0]), rtol=1e-4, atol=1e-4)


# --- the reward model ---


def _model(seed=0):
    torch.manual_seed(seed)
    return RewardModel(models.encoder("small_cnn", width=4))


def test_the_reward_models_loss_is_bradley_terry_of_its_own_rewards():
    pairs = make_preferences(24, rounds=2, seed=0)
    model = _model()
    out = model(pairs)
    both = torch.cat([pairs.chosen_images, pairs.rejected_images]).float() / 255
    r_chosen, r_rejected = model.head(model.backbone(both)).squeeze(1).chunk(2)  # the same batch: the same BN
    torch.testing.assert_close(out.loss, bradley_terry_loss(r_chosen, r_rejected))
    assert out.logs["pair_acc"].item() == pytest.approx(float((r_chosen > r_rejected).float().mean()))
    with pytest.raises(TypeError, match="PreferencePairs"):
        model(pairs.items)


def test_fit_trains_a_reward_model_and_rewards_reads_it_in_eval_mode():
    pairs = make_preferences(64, rounds=4, seed=0)
    model = _model()
    history = train.fit(model, pairs, epochs=2, batch_size=32, lr=3e-3, progress=False)
    assert len(history.epochs) == 2 and all(math.isfinite(r["loss"]) for r in history.epochs)
    assert 0 <= history.last("pair_acc") <= 1 and model.training
    r = rewards(model, pairs.items.images, batch_size=16)
    assert r.shape == (64,) and model.training  # put back in the mode it was in
    model.eval()
    torch.testing.assert_close(r, model.reward(pairs.items.images).detach())


# --- its evaluation ---


def test_pearson_and_spearman_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, generator=g)
    y = x + 0.5 * torch.randn(50, generator=g)
    y[:5] = y[5]  # ties
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x.numpy(), y.numpy())[0], rel=1e-6)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x.numpy(), y.numpy())[0], rel=1e-6)
    assert spearman(x, x.exp()) == pytest.approx(1.0)  # a monotone map keeps the order


def test_preference_accuracy_counts_ties_as_half():
    assert preference_accuracy(torch.tensor([1.0, 0.0, 2.0, 5.0]), torch.tensor([0.0, 0.0, 3.0, 1.0])) == 0.625
    with pytest.raises(ValueError, match="non-empty"):
        preference_accuracy(torch.zeros(0), torch.zeros(0))


def test_the_report_of_a_model_whose_reward_is_the_utility_reaches_its_numbers():
    pairs = make_preferences(40, rounds=2, seed=0)
    position = {bytes(x.numpy()): i for i, x in enumerate(pairs.items.images)}

    class Oracle(RewardModel):
        def reward(self, images):  # the hidden utility, looked up by image
            index = [position[bytes(x.numpy())] for x in images]
            return 2.0 * pairs.utility[index] + 3.0  # another scale and offset: correlations of 1, slope 2

    report = preference_report(Oracle(models.encoder("small_cnn", width=4)), pairs)
    labels_agree = float((pairs.utility_gap() > 0).float().mean())
    assert report["accuracy"] == report["utility_accuracy"] == pytest.approx(labels_agree)
    assert report["agreement"] == 1.0
    assert report["pearson"] == pytest.approx(1.0) and report["spearman"] == pytest.approx(1.0)
    assert report["slope"] == pytest.approx(2.0)
