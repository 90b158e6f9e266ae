"""The temperature explorer: one anchor's softmax, its gradient weights, the figures and the widget."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clkit.losses import anchor_weights, nt_xent


def batch(n=6, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z1, z1 + 0.7 * torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("tau", [0.05, 0.3, 2.0])
@pytest.mark.parametrize("anchor", [0, 4, 9])
def test_softmax_weights_sum_to_one_and_follow_the_formula(anchor, tau):
    z1, z2 = batch(n=5)
    w = anchor_weights(z1, z2, anchor, tau)
    assert len(w.similarities) == 9 and w.probabilities.sum().item() == pytest.approx(1.0, abs=1e-12)
    # Written out: the candidates are every other stacked view, the partner is k ± N.
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    others = [j for j in range(10) if j != anchor]
    assert w.candidates.tolist() == others
    partner = (anchor + 5) % 10
    assert others[w.positive] == partner
    s = [float(z[anchor] @ z[j]) for j in others]
    denominator = sum(math.exp(x / tau) for x in s)
    for j, x in enumerate(s):
        assert w.similarities[j].item() == pytest.approx(x, abs=1e-12)
        assert w.probabilities[j].item() == pytest.approx(math.exp(x / tau) / denominator, rel=1e-9)
    assert w.loss == pytest.approx(-math.log(math.exp(s[w.positive] / tau) / denominator), rel=1e-9)
    assert w.correct == (max(range(9), key=s.__getitem__) == w.positive)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_gradient_weights_match_autograd_of_nt_xent(tau):
    # nt_xent(u1, u2) on unit vectors: dL/du_i = (1/2N) Σ_j (G_ij + G_ji) u_j, projected onto the
    # sphere's tangent (F.normalize), where G_kj = ∂ℓ_k/∂s_kj are the anchors' gradient weights.
    n, d = 6, 32
    z1, z2 = batch(n, d, seed=3)
    u = F.normalize(torch.cat([z1, z2]), dim=1).requires_grad_()
    (autograd,) = torch.autograd.grad(nt_xent(u[:n], u[n:], tau), u)
    G = torch.zeros(2 * n, 2 * n, dtype=torch.float64)
    for k in range(2 * n):
        w = anchor_weights(z1, z2, k, tau)
        G[k, w.candidates] = w.gradient
    u = u.detach()
    g = (G + G.T) @ u / (2 * n)
    predicted = g - (g * u).sum(1, keepdim=True) * u
    torch.testing.assert_close(predicted, autograd.double(), rtol=1e-4, atol=1e-6)


def test_gradient_weights_are_the_derivative_of_the_anchors_loss():
    z1, z2 = batch(n=4)
    w = anchor_weights(z1, z2, 2, 0.2)
    s = w.similarities.clone().requires_grad_()
    loss = -torch.log_softmax(s / 0.2, dim=0)[w.positive]
    (grad,) = torch.autograd.grad(loss, s)
    torch.testing.assert_close(w.gradient, grad)
    assert loss.item() == pytest.approx(w.loss)
    # The pull on the positive balances the pushes on the negatives.
    assert w.gradient[w.positive].item() == pytest.approx(-w.gradient[w.negatives].sum().item())


def test_the_two_limits():
    z1, z2 = batch(n=8)
    cold, hot = anchor_weights(z1, z2, 1, 1e-3), anchor_weights(z1, z2, 1, 1e3)
    # τ → ∞: uniform weights, log(2N − 1), every negative pushed alike.
    np.testing.assert_allclose(hot.probabilities, 1 / 15, rtol=1e-2)
    assert hot.loss == pytest.approx(math.log(15), rel=1e-3)
    # τ → 0: all the push on the hardest negative, and τ·ℓ → max(0, s_hard − s_p).
    hard = int(cold.hardest_negatives(1)[0])
    push = cold.gradient[cold.negatives]
    assert cold.gradient[hard].item() / push.sum().item() == pytest.approx(1.0, abs=1e-6)
    margin = max(0.0, float(cold.similarities[hard] - cold.similarities[cold.positive]))
    assert 1e-3 * cold.loss == pytest.approx(margin, abs=1e-4)


@pytest.mark.parametrize("tau", [0.0, -0.5, float("nan"), float("inf")])
def test_bad_temperatures_are_refused_with_the_reason(tau):
    z1, z2 = batch()
    with pytest.raises(ValueError, match="temperature must be"):
        anchor_weights(z1, z2, 0, tau)


def test_bad_anchor_is_refused():
    z1, z2 = batch(n=3)
    with pytest.raises(ValueError, match="0 to 5"):
        anchor_weights(z1, z2, 6, 0.1)


# ----------------------------------------------------------------------------- figures


def test_anchor_figure_draws_one_bar_per_candidate_and_the_images():
    from clkit import viz

    n = 10
    z1, z2 = batch(n=n, d=8)
    fig = viz.anchor_temperature_figure(z1.float(), z2.float(), 3, 0.1)
    assert len(fig.axes) == 3
    softmax, push, loss = fig.axes
    assert len(softmax.patches) == 2 * n - 1 and len(push.patches) == 2 * n - 2
    heights = [p.get_height() for p in softmax.patches]
    assert sum(heights) == pytest.approx(1.0, abs=1e-9)
    assert heights == sorted(heights, reverse=True)  # most similar first, and P grows with similarity
    assert "τ = 0.1" in softmax.get_title() and loss.get_xscale() == "log"
    views = torch.randint(0, 256, (2 * n, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(n) % 3
    with_images = viz.anchor_temperature_figure(z1, z2, 3, 0.1, views=views, labels=labels,
                                                class_names=["ring", "star", "heart"])
    assert len(with_images.axes) == 6 and len(with_images.axes[3].images) == 1
    assert "image 3, ring" in with_images.axes[3].get_title() and "positive" in with_images.axes[4].get_title()
    assert "hardest negative" in with_images.axes[5].get_title()
    without_hard = viz.anchor_temperature_figure(z1, z2, 3, 0.1, views=views, show_hard_negative=False)
    assert len(without_hard.axes) == 5


def test_same_class_push_against_a_written_out_sum():
    from clkit import viz

    n, tau = 6, 0.3
    z1, z2 = batch(n=n)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    same = total = 0.0
    for k in range(2 * n):
        w = anchor_weights(z1, z2, k, tau)
        for j, view in enumerate(w.candidates.tolist()):
            if j != w.positive:
                total += w.probabilities[j].item()
                same += w.probabilities[j].item() * (labels[view % n] == labels[k % n]).item()
    assert viz.same_class_push(z1, z2, labels, tau) == pytest.approx(same / total, rel=1e-9)
    assert len(viz.same_class_push_figure(z1, z2, labels).axes) == 1


def fake_results(values=(0.1, 0.5), epochs=2, seed=0):
    """A sweep's results: every metric a simple function of the epoch, the value's index and the seed."""
    runs = []
    for i, v in enumerate(values):
        history = [{"epoch": e, "knn": 0.1 + 0.1 * e + seed / 100, "alignment": 1.0 - 0.1 * e, "uniformity": -1.0 - e,
                    "contrastive_acc_heldout": 0.2 * e, "temperature_end": v * (1 + 0.1 * e) * (1 + seed / 10),
                    **({"loss": 5.0 - e} if e else {})} for e in range(epochs + 1)]
        final = {"knn": 0.3 + i / 10 + seed / 100, "linear": 0.4 + seed / 50, "alignment": 0.8, "uniformity": -3.0,
                 "contrastive_acc_heldout": 0.4, "contrastive_acc": 0.5, "loss": 3.0, "temperature_end": v}
        runs.append({"value": v, "final": final, "epochs": history, "wall_s": 1.0})
    return {"format": "clkit.sweep/1", "param": "temperature", "values": list(values), "runs": runs, "wall_s": 1.0,
            "settings": {"dataset": "shapes", "encoder": "small_cnn", "epochs": epochs, "max_logit_scale": 100.0,
                         "seed": seed}}


def test_sweep_figures_draw_the_mean_over_seeds_with_error_bars():
    from clkit import viz

    values = (0.05, 0.2, 1.0)
    seeds = [fake_results(values, seed=s) for s in (0, 1, 2)]  # linear 0.40, 0.42, 0.44: mean 42%, sd 2 points
    acc = viz.sweep_accuracy_figure(seeds)
    ax = acc.axes[0]
    assert len(acc.axes) == 1 and ax.get_xscale() == "log" and "mean ± sd over 3 seeds" in ax.get_title()
    knn, linear = ax.containers  # one errorbar per accuracy
    np.testing.assert_allclose(linear.lines[0].get_ydata(), [42.0] * 3)
    np.testing.assert_allclose(knn.lines[0].get_ydata(), [31.0, 41.0, 51.0])
    (bars,) = linear.lines[2]
    np.testing.assert_allclose([seg[:, 1] for seg in bars.get_segments()], [[40.0, 44.0]] * 3)

    plane = viz.alignment_uniformity_figure(seeds)
    paths = [line for line in plane.axes[0].lines if len(line.get_xdata()) > 1]
    assert len(paths) == 3 and all(len(p.get_xdata()) == 3 for p in paths)
    assert [t.get_text() for t in plane.axes[0].get_legend().get_texts()][0] == "τ = 0.05: kNN 31%"
    pq = viz.pretext_vs_quality_figure(seeds)
    assert len(pq.axes) == 1 and len(pq.axes[0].containers) == 2
    curves = viz.sweep_curves_figure(seeds, keys=("loss", "knn"))
    assert [len(ax.lines) for ax in curves.axes] == [3, 3]
    np.testing.assert_allclose(curves.axes[1].lines[0].get_ydata(), [11.0, 21.0, 31.0])  # mean knn, in %
    assert [len(ax.collections) for ax in curves.axes] == [3, 3]  # one band per value
    learned = viz.learned_temperature_figure(seeds)
    assert len(learned.axes[0].lines) == 3 + 1  # one per initial value and the clamp
    # τ / τ at the start, averaged over seeds: (1 + 0.1 e) · mean(1, 1.1, 1.2) = 1.1, 1.21, 1.32
    np.testing.assert_allclose(learned.axes[1].lines[2].get_ydata(), [1.1, 1.21, 1.32])


def test_sweep_figures_of_one_seed_draw_no_bars():
    from clkit import viz

    one = fake_results((0.1, 0.5))
    acc = viz.sweep_accuracy_figure(one)
    assert "one seed" in acc.axes[0].get_title()
    assert all(not c.lines[2] for c in acc.axes[0].containers)  # no error bars
    assert all(not ax.collections for ax in viz.sweep_curves_figure([one]).axes)  # no bands


# ----------------------------------------------------------------------------- widget


def test_explorer_redraws_when_a_control_moves(monkeypatch):
    from clkit import viz, widgets

    calls = []
    draw = viz.anchor_temperature_figure

    def spy(*args, **kwargs):
        calls.append((args[2], args[3], kwargs["show_hard_negative"]))
        return draw(*args, **kwargs)

    monkeypatch.setattr(viz, "anchor_temperature_figure", spy)
    z1, z2 = batch(n=5, d=8)
    views = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    app = widgets.temperature_explorer(z1, z2, views=views, temperature=0.1)
    tau, anchor, hard = app.children[0].children
    assert tau.min == pytest.approx(-2) and tau.max == pytest.approx(math.log10(2)) and anchor.max == 9
    tau.value = 1.0
    anchor.value = 7
    hard.value = False
    assert [c[0] for c in calls] == [0, 0, 7, 7]
    assert calls[1][1] == pytest.approx(1.0) and calls[-1][2] is False
