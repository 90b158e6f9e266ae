"""The figures of the preferences-and-prediction lesson draw what they are given and read on a projector."""

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from test_viz import assert_reads_on_a_projector  # noqa: E402  (the checks every figure passes)

from clkit.augment.masks import block_masks  # noqa: E402
from clkit.viz.prediction import (  # noqa: E402
    bradley_terry_figure,
    jepa_masks_figure,
    prediction_curves,
    reward_scatter,
)

R_CHOSEN, R_REJECTED = torch.tensor([2.0, 12.0, -3.0, 0.5]), torch.tensor([1.0, 10.0, -1.0, 0.5])
HISTORIES = {
    "I-JEPA": [{"epoch": e, "knn": 0.2 + 0.05 * e, "rankme_h": 10.0 + e, "std_h·√D": 0.5} for e in range(4)],
    "SimCLR": [{"epoch": e, "knn": 0.2 + 0.2 * e, "rankme_h": 20.0, "std_h·√D": 0.9} for e in range(4)],
}


def _utility(seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(300, generator=g)
    return u, 0.8 * u + 0.3 * torch.randn(300, generator=g) + 5.0


def _images(n=4):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_the_softmax_markers_sit_on_the_bradley_terry_curves_wherever_the_rewards_sit():
    fig = bradley_terry_figure(R_CHOSEN, R_REJECTED)
    left, right = fig.axes
    curve, markers = left.lines[0], left.lines[1]
    gaps = (R_CHOSEN - R_REJECTED).numpy()
    np.testing.assert_allclose(markers.get_xdata(), gaps)
    np.testing.assert_allclose(markers.get_ydata(), 1 / (1 + np.exp(-gaps)), rtol=1e-6)  # on σ(Δ)
    np.testing.assert_allclose(np.interp(gaps, curve.get_xdata(), curve.get_ydata()), markers.get_ydata(), atol=1e-3)
    np.testing.assert_allclose(right.lines[1].get_ydata(), np.log1p(np.exp(-gaps)), rtol=1e-6)  # on −log σ(Δ)


def test_the_reward_scatter_draws_every_item_and_both_lines():
    u, r = _utility()
    fig = reward_scatter(r, u)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.stack([u.numpy(), r.numpy()], 1))
    slope = np.polyfit(u.numpy(), r.numpy(), 1)[0]
    fitted = ax.lines[0]
    assert (np.diff(fitted.get_ydata()) / np.diff(fitted.get_xdata()))[0] == pytest.approx(slope)
    assert (np.diff(ax.lines[1].get_ydata()) / np.diff(ax.lines[1].get_xdata()))[0] == pytest.approx(1.0)
    assert ax.get_title().startswith("Pearson r = 0.9")


def test_the_masks_figure_outlines_exactly_the_target_cells():
    targets = block_masks(4, (4, 4), generator=torch.Generator().manual_seed(0))
    fig = jepa_masks_figure(_images(), targets, (4, 4))
    top = fig.axes[:4]
    assert [len(ax.patches) for ax in top] == targets.sum(1).tolist()
    first = sorted((p.get_x(), p.get_y()) for p in top[0].patches)
    cells = sorted(((k % 4) * 8 - 0.5, (k // 4) * 8 - 0.5) for k in targets[0].nonzero().flatten().tolist())
    assert first == cells
    blanked = fig.axes[4].images[0].get_array()
    k = int(targets[0].nonzero()[0])
    r, c = divmod(k, 4)
    assert np.ptp(blanked[8 * r : 8 * r + 8, 8 * c : 8 * c + 8].reshape(-1, 3), axis=0).max() < 1e-6  # one colour


def test_prediction_curves_draw_each_run_and_the_references_in_their_units():
    fig = prediction_curves(HISTORIES, references={"knn": {"raw pixels": 0.24, "random init": 0.19}})
    knn, rank, spread = fig.axes
    np.testing.assert_allclose(knn.lines[1].get_ydata(), [20, 40, 60, 80])
    assert knn.lines[2].get_ydata()[0] == pytest.approx(24) and knn.lines[3].get_linestyle() == ":"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [*HISTORIES, "raw pixels", "random init"]
    assert rank.get_title() == "effective rank of h" and len(spread.lines) == 2
    assert not math.isnan(rank.lines[0].get_ydata()[-1])


FIGURES = {
    "bradley_terry_figure": lambda: bradley_terry_figure(R_CHOSEN, R_REJECTED),
    "reward_scatter": lambda: reward_scatter(*reversed(_utility())),
    "jepa_masks_figure": lambda: jepa_masks_figure(_images(6), block_masks(6, generator=torch.Generator()), (4, 4)),
    "prediction_curves": lambda: prediction_curves(HISTORIES, references={"knn": {"raw pixels": 0.24}}),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_prediction_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name]())
