"""The figure functions return figures with the expected contents; the widgets redraw when a control moves."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from clkit import augment, evaluate, losses, train, viz


@pytest.fixture
def images():
    return torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_image_grid_draws_one_panel_per_image(images):
    fig = viz.image_grid(images, [str(i) for i in range(5)], ncols=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(drawn) == 5
    assert [ax.get_title() for ax in drawn] == ["0", "1", "2", "3", "4"]
    assert drawn[0].images[0].get_array().shape == (16, 16, 3)


def test_image_grid_shows_grayscale_as_2d(images):
    fig = viz.image_grid(images[:, :1])
    assert fig.axes[0].images[0].get_array().shape == (16, 16)


def test_views_figure_has_the_original_and_n_views_per_recipe(images):
    fig = viz.views_figure(images[0], {"a": augment.simclr(16), "b": augment.crop_only(16)}, n_views=4)
    assert len(fig.axes) == 2 * 5 and all(ax.images for ax in fig.axes)
    assert fig.axes[0].get_ylabel() == "a" and fig.axes[5].get_ylabel() == "b"


def test_similarity_heatmap_annotates_small_matrices():
    z = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    fig = viz.similarity_heatmap(z @ z.T, list("abcd"))
    ax = fig.axes[0]
    assert len(ax.texts) == 16 and ax.texts[0].get_text() == "1.00"
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")


def test_history_figure_plots_each_recorded_key_and_baselines():
    history = train.History(epochs=[{"epoch": 0, "knn": 0.1}, {"epoch": 1, "loss": 5.0, "knn": 0.3},
                                    {"epoch": 2, "loss": 4.0, "knn": 0.5}])
    fig = viz.history_figure(history, keys=("loss", "knn", "absent"), baselines={"raw pixels": 0.2})
    loss_ax, knn_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [5.0, 4.0]
    assert list(knn_ax.lines[0].get_xdata()) == [0, 1, 2]
    assert knn_ax.lines[1].get_ydata()[0] == 0.2


def test_results_bars_has_one_bar_per_feature_set_and_metric():
    results = {"a": {"knn": 0.5, "linear": 0.6}, "b": {"knn": 0.7, "linear": 0.8}, "c": {"knn": 0.1, "linear": 0.2}}
    fig = viz.results_bars(results)
    heights = sorted(round(p.get_height()) for p in fig.axes[0].patches)
    assert heights == [10, 20, 50, 60, 70, 80]
    assert "knn" in evaluate.format_table(results) and "80.0%" in evaluate.format_table(results)


def test_softmax_over_negatives_bars_sum_to_one_and_mark_the_positive():
    sims = torch.tensor([0.9, 0.1, 0.5, -0.2])
    fig = viz.softmax_over_negatives(sims, positive=2, temperatures=(0.1, 1.0))
    for ax, tau in zip(fig.axes, (0.1, 1.0)):
        heights = [p.get_height() for p in ax.patches]
        assert sum(heights) == pytest.approx(1.0)
        expected = torch.softmax(sims / tau, 0)[2].item()
        assert f"P(positive) = {expected:.2f}" in ax.get_title()
        colours = [p.get_facecolor() for p in ax.patches]
        assert colours[1] != colours[0]  # sorted: 0.9, 0.5 (the positive), 0.1, -0.2


def test_loss_vs_temperature_traces_nt_xent():
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    fig = viz.loss_vs_temperature(z1, z2, [0.1, 1.0])
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([losses.nt_xent(z1, z2, t).item() for t in (0.1, 1.0)])


def test_views_explorer_redraws_when_a_slider_moves(images):
    from clkit import widgets

    app = widgets.views_explorer(images[0], n_views=3)
    _, strength, seed = app.children[0].children
    first = app.figure
    assert len(first.axes) == 4 and first.axes[0].get_ylabel() == "scale 0.08–1.00\njitter 1"
    strength.value = 0.0
    assert app.figure is not first and app.figure.axes[0].get_ylabel() == "scale 0.08–1.00\njitter 0"
    before = app.figure.axes[1].images[0].get_array().copy()
    seed.value = 5
    assert (app.figure.axes[1].images[0].get_array() != before).any()


def test_temperature_explorer_keeps_the_figure_it_draws_as_app_figure():
    from matplotlib.figure import Figure

    from clkit import widgets

    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    app = widgets.temperature_explorer(z1, z2, temperature=0.1)
    tau, _, _ = app.children[0].children
    first = app.figure
    assert isinstance(first, Figure) and first.axes[0].get_title().startswith("τ = 0.1:")
    tau.value = 1.0
    assert app.figure is not first and app.figure.axes[0].get_title().startswith("τ = 1:")


@pytest.mark.parametrize("name", ["sweep_accuracy_figure", "sweep_curves_figure", "alignment_uniformity_figure",
                                  "pretext_vs_quality_figure", "learned_temperature_figure"])
def test_sweep_figures_read_on_a_projector(name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    from clkit.viz import curves
    from test_temperature import fake_results

    fig = getattr(viz, name)([fake_results((0.05, 0.1, 0.2, 0.5, 1.0), seed=s) for s in (0, 1, 2)])
    FigureCanvasAgg(fig).draw()  # makes the tick labels
    # Shown at 100 dpi and no wider than a notebook's output (10 in), so these are the sizes seen.
    assert fig.dpi == 100 and fig.get_figwidth() <= 10
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < curves.MIN_FONT]
    assert texts and not small
    lines = [line for line in fig.findobj(Line2D) if line.get_visible() and line.get_marker() not in (None, "None", "")]
    assert lines and all(line.get_markersize() * fig.dpi / 72 > 1 for line in lines)  # larger than a pixel
    palette = {matplotlib.colors.to_hex(c) for c in curves.PALETTE} | {"#808080", "#000000"}
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in fig.findobj(Line2D) if line.get_xdata() is not None
               and len(line.get_xdata())}
    assert colours <= palette | {matplotlib.colors.to_hex(matplotlib.rcParams["grid.color"])}, colours
