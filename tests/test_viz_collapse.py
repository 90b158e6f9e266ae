"""The figures of the collapse lesson without negatives draw the numbers they are given and read on a projector;
the cross-correlation measure keeps the matrix Barlow Twins' loss computes, paired with the epoch it was measured."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402
from test_viz import assert_reads_on_a_projector  # noqa: E402  (the checks every figure passes)

from clkit import augment, evaluate, losses, models, train  # noqa: E402
from clkit.methods.redundancy import BarlowTwins  # noqa: E402
from clkit.viz.collapse import (  # noqa: E402
    CrossCorrelations,
    collapse_bars,
    collapse_curves,
    cross_correlation_figure,
)

HISTORIES = {
    "SimSiam": [{"epoch": e, "knn": 0.1 + 0.1 * e, "std_z·√D": 0.9, "rankme_z": 20.0 + e} for e in range(4)],
    "no stop-gradient": [{"epoch": e, "knn": 0.1, "std_z·√D": 0.9 - 0.2 * e, "rankme_z": 20.0 / (1 + e)}
                         for e in range(4)],
    "no predictor": [{"epoch": e, "knn": 0.12, "std_z·√D": 0.5, "rankme_z": 3.0} for e in range(4)],
}
ROWS = {"full loss": {"knn": 0.6, "rankme_z": 40.0, "std_z·√D": 0.95},
        "no variance term": {"knn": 0.1, "rankme_z": 1.2, "std_z·√D": 0.02},
        "no covariance term": {"knn": 0.4, "rankme_z": 3.0, "std_z·√D": 0.9}}


def _matrices(n=4, d=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {epoch: (torch.rand(d, d, generator=g) * 2 - 1).fill_diagonal_(epoch / n) for epoch in range(n)}


def _barlow(seed=0, dim=8):
    torch.manual_seed(seed)
    return BarlowTwins(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=dim)


def test_collapse_curves_draw_every_run_per_key_in_its_units():
    fig = collapse_curves(HISTORIES, references={"knn": {"chance": 0.1}})
    knn, spread, rank = fig.axes
    assert [line.get_label() for line in knn.lines] == [*HISTORIES, "chance"]
    np.testing.assert_allclose(knn.lines[0].get_ydata(), [10, 20, 30, 40])  # accuracies in %
    assert knn.lines[-1].get_ydata()[0] == pytest.approx(10)  # the reference, in % too
    np.testing.assert_allclose(rank.lines[1].get_ydata(), [20, 10, 20 / 3, 5])
    assert list(spread.lines[2].get_xdata()) == [0, 1, 2, 3]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [*HISTORIES, "chance"]  # one legend, each run once


def test_collapse_curves_skip_a_key_a_run_never_recorded():
    fig = collapse_curves({"a": [{"epoch": 0, "knn": 0.5}], "b": [{"epoch": 0, "rankme_z": 3.0}]},
                          keys=("knn", "rankme_z"))
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]


def test_collapse_bars_draw_one_labelled_bar_per_run_and_key():
    fig = collapse_bars(ROWS)
    knn, rank, spread = fig.axes
    assert [p.get_height() for p in knn.patches] == pytest.approx([60, 10, 40])
    assert [p.get_height() for p in rank.patches] == pytest.approx([40, 1.2, 3])
    assert [t.get_text() for t in spread.texts] == ["0.95", "0.02", "0.9"]  # each bar carries its value
    assert len({to_hex(p.get_facecolor()) for p in spread.patches}) == 3


def test_cross_correlation_figure_draws_the_leading_block_on_one_diverging_scale():
    matrices = _matrices()
    fig = cross_correlation_figure(matrices, dims=32)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4
    for ax, (epoch, c) in zip(panels, matrices.items()):
        image = ax.images[0]
        np.testing.assert_array_equal(image.get_array(), c[:32, :32].numpy())
        assert image.get_clim() == (-1, 1) and image.get_cmap().name == "RdBu_r"
        assert ax.get_title() == f"epoch {epoch}\nmean Cᵢᵢ {epoch / 4:.2f}"  # the whole diagonal's mean
    assert cross_correlation_figure({0: torch.eye(5)}).axes[0].images[0].get_array().shape == (5, 5)


def test_cross_correlations_keep_barlow_twins_own_matrix_of_the_same_fixed_views(small_shapes):
    method = _barlow().eval()
    images = small_shapes.images[:64]
    measure = CrossCorrelations(images, method.augment, seed=3)
    first, second = measure(method), measure(method)
    assert first == second and len(measure.matrices) == 2  # the same views at every call

    g = torch.Generator().manual_seed(3)
    x = images.float() / 255
    v1, v2 = method.augment(x, g), method.augment(x, g)
    expected = losses.barlow_twins(evaluate.project(method, v1), evaluate.project(method, v2)).matrix
    torch.testing.assert_close(measure.matrices[0], expected)
    off = ~torch.eye(8, dtype=torch.bool)
    assert first["corr_diagonal"] == pytest.approx(expected.diagonal().mean().item(), abs=1e-6)
    assert first["corr_off_diagonal"] == pytest.approx(expected[off].pow(2).mean().sqrt().item(), abs=1e-6)


def test_identical_views_correlate_perfectly_on_the_diagonal(small_shapes):
    images = small_shapes.images[:64]
    measure = CrossCorrelations(images, lambda x, generator: x)  # "views" that change nothing
    # BatchNorm calibrated first: with its initial running statistics an untrained network maps every image to
    # nearly one point, whose spread in each dimension is below the eps that C's standardisation adds.
    numbers = measure(evaluate.calibrate_batchnorm(_barlow(), images).eval())
    assert numbers["corr_diagonal"] == pytest.approx(1.0, abs=1e-3)
    assert 0 < numbers["corr_off_diagonal"] < 1


def test_cross_correlations_pair_each_matrix_with_the_epoch_fit_measured_it(small_shapes):
    method = _barlow()
    measure = CrossCorrelations(small_shapes.images[:64], method.augment)
    history = train.fit(method, small_shapes, epochs=2, batch_size=32, lr=1e-3, progress=False, measures=[measure])
    matrices = measure.by_epoch(history)
    assert list(matrices) == [0, 1, 2] and all(c.shape == (8, 8) for c in matrices.values())
    assert history.epochs[2]["corr_diagonal"] == pytest.approx(matrices[2].diagonal().mean().item(), abs=1e-6)
    assert history.epochs[2]["invariance"] > 0 and history.epochs[2]["redundancy"] > 0  # the terms, per epoch
    with pytest.raises(ValueError, match="3 records of this measure but it kept 4 matrices"):
        measure(method)
        measure.by_epoch(history)


FIGURES = {
    "collapse_curves": lambda: collapse_curves(HISTORIES, references={"knn": {"chance": 0.1}}),
    "collapse_bars": lambda: collapse_bars(ROWS),
    "cross_correlation_figure": lambda: cross_correlation_figure(_matrices()),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_collapse_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name]())
