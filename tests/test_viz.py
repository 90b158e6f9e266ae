"""The figure functions return figures with the expected contents and read on a projector and to every reader;
the widgets redraw when a control moves; the plotly figures carry a static twin."""

import base64
import io
import itertools

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from clkit import augment, evaluate, losses, sweep, train, viz  # noqa: E402
from clkit.data.toy import make_toy, toy_views  # noqa: E402
from clkit.train import toy as toy_train  # noqa: E402
from clkit.viz import style  # noqa: E402
from clkit.viz import toy as toy_viz  # noqa: E402


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


# ----------------------------------------------------------------------------- every figure, on a projector

CLASSES = ["circle", "square", "triangle", "star", "cross", "heart", "ring", "hexagon", "arrow", "moon"]


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "images": torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8, generator=g),
        "labels": torch.arange(40) % 10,
        "features": torch.randn(40, 8, generator=g),
        "z1": torch.randn(8, 6, generator=g),
        "z2": torch.randn(8, 6, generator=g),
        "coords": {name: torch.rand(200, 2, generator=g).numpy() for name in ("raw", "random init", "trained")},
        "history": [{"epoch": e, "loss": 5.0 - e, "knn": 0.2 * e, "alignment": 1 - 0.2 * e, "uniformity": -e}
                    for e in range(4)],
    }


def _sweeps():
    from test_temperature import fake_results

    return [fake_results((0.05, 0.1, 0.2, 0.5, 1.0), seed=s) for s in (0, 1, 2)]


TOY = make_toy(32, seed=0)


def _toy_runs():
    return {loss.name: toy_train.fit_toy(loss, TOY, steps=3)
            for loss in (toy_train.margin_loss(1.0), toy_train.triplet_loss(0.05), toy_train.nt_xent_loss(0.2))}


def _zoo_runs():
    """Two seeds of a made-up zoo result with three members, as clkit.sweep.zoo.zoo writes them."""
    def member(label, top, seed):
        curve = [{"epoch": e, "knn": 0.2 + (top - 0.2) * e / 4 + 0.01 * seed} for e in range(5)]
        final = {"knn": curve[-1]["knn"], "linear": top + 0.05, "wall_s": 100.0 + seed, "peak_mib": 200.0}
        return {"label": label, "epochs": curve, "final": final, "epochs_trained": 4}

    return [{"family": "zoo", "budget": "epochs", "settings": {"seed": seed},
             "references": {"raw_pixels": {"knn": 0.24}, "random_init": {"knn": 0.19, "linear": 0.38}},
             "members": {"simclr": member("SimCLR", 0.9, seed), "byol": member("BYOL", 0.2, seed),
                         "vicreg": member("VICReg", 0.8, seed)}} for seed in (0, 1)]


# Every figure function, built on small data the way the lessons call it.
FIGURES = {
    "zoo_curves": lambda d: viz.zoo_curves(_zoo_runs()),
    "zoo_bars": lambda d: viz.zoo_bars({"4 epochs": sweep.zoo.summary(_zoo_runs()),
                                        "equal time": sweep.zoo.summary(_zoo_runs())}),
    "toy_figure": lambda d: toy_viz.toy_figure(TOY, *toy_views(TOY.points, 0.05)),
    "toy_embeddings_figure": lambda d: toy_viz.toy_embeddings_figure(_toy_runs(), TOY),
    "push_figure": lambda d: toy_viz.push_figure(
        {name: run.loss.push(*(run.embed(v) for v in toy_views(TOY.points, 0.05))) for name, run in _toy_runs().items()}),
    "zero_temperature_figure": lambda d: toy_viz.zero_temperature_figure(
        {1.0: 4.0, 0.1: 0.3, 0.01: 0.02}, {1.0: 0.02, 0.1: 0.1, 0.01: 0.4}, 0.01, candidates=63),
    "image_grid": lambda d: viz.image_grid(d["images"][:16], CLASSES * 2, ncols=16, size=0.7, suptitle="sixteen"),
    "views_figure": lambda d: viz.views_figure(d["images"][0], {"scale 0.01–0.1, s=2": augment.simclr(16)},
                                               n_views=8),
    "neighbour_gallery": lambda d: viz.neighbour_gallery(
        d["images"][:3], d["images"], evaluate.nearest_neighbours(d["features"][:3], d["features"], k=6),
        d["labels"][:3], d["labels"], CLASSES, title="trained encoder"),
    "pair_gallery": lambda d: viz.pair_gallery(
        d["images"], evaluate.cross_class_pairs(d["features"], d["labels"], k=8), d["labels"], CLASSES,
        title="most similar pairs across classes"),
    "similarity_heatmap": lambda d: viz.similarity_heatmap(
        torch.nn.functional.normalize(d["features"][:12], dim=1) @ torch.nn.functional.normalize(d["features"][:12],
                                                                                                 dim=1).T,
        [f"{i}a" for i in range(12)]),
    "history_figure": lambda d: viz.history_figure(d["history"], keys=("loss", "knn", "alignment"),
                                                   baselines={"raw pixels": 0.3}),
    "results_bars": lambda d: viz.results_bars({"raw pixels": {"knn": 0.4, "linear": 0.5},
                                                "random init": {"knn": 0.5, "linear": 0.6},
                                                "SimCLR": {"knn": 0.9, "linear": 0.95}}),
    "softmax_over_negatives": lambda d: viz.softmax_over_negatives(torch.linspace(-1, 1, 15), positive=3),
    "loss_vs_temperature": lambda d: viz.loss_vs_temperature(d["z1"], d["z2"], [0.05, 0.5, 5]),
    "anchor_temperature_figure": lambda d: viz.anchor_temperature_figure(
        d["z1"], d["z2"], 0, 0.05, views=d["images"][:16], labels=d["labels"][:8], class_names=CLASSES),
    "same_class_push_figure": lambda d: viz.same_class_push_figure(d["z1"], d["z2"], d["labels"][:8] % 3),
    "sweep_accuracy_figure": lambda d: viz.sweep_accuracy_figure(_sweeps()),
    "sweep_curves_figure": lambda d: viz.sweep_curves_figure(_sweeps(),
                                                             keys=("loss", "knn", "contrastive_acc_heldout")),
    "alignment_uniformity_figure": lambda d: viz.alignment_uniformity_figure(_sweeps()),
    "pretext_vs_quality_figure": lambda d: viz.pretext_vs_quality_figure(_sweeps()),
    "learned_temperature_figure": lambda d: viz.learned_temperature_figure(_sweeps()),
    "umap_panels": lambda d: viz.umap_panels(d["coords"], np.arange(200) % 10, CLASSES),
    "similarity_by_class": lambda d: viz.similarity_by_class(
        {"raw pixels": d["images"].flatten(1).float(), "random init": d["features"].abs(), "trained": d["features"]},
        d["labels"], CLASSES),
    "circle_figure": lambda d: viz.circle_figure({"before": d["features"][:, :2], "after": d["features"][:, 2:4]},
                                                 d["labels"], CLASSES),
    "sphere_panels": lambda d: viz.sphere_panels({"before": d["features"][:, :3], "after": d["features"][:, 3:6]},
                                                 d["labels"], CLASSES),
    "alignment_uniformity_plane": lambda d: viz.alignment_uniformity_plane(
        {"128-d": d["history"], "3-d": d["history"][1:], "2-d": d["history"][2:]},
        {"uniform on S¹": -1.58, "uniform on S²": -2.08, "uniform on S¹²⁷": -3.94}),
    "collapse_dashboard": lambda d: viz.collapse_dashboard(
        {"random init": (d["features"], d["features"]), "SimCLR": (d["features"], d["features"]),
         "positives only": (torch.ones(40, 8), torch.ones(40, 8))}),
    "umap_plotly static twin": lambda d: viz.umap_plotly(d["coords"], np.arange(200) % 10, CLASSES).static(),
    "sphere_figure static twin": lambda d: viz.sphere_figure({"before": d["features"][:, :3]}, d["labels"],
                                                             CLASSES).static(),
}


def shown(fig):
    """Draw ``fig`` as a notebook shows it: the texts drawn (visible, not empty) and the PNG's (width, height)."""
    drawn, draw = [], Text.draw

    def spy(text, renderer):
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)
        return draw(text, renderer)

    Text.draw = spy
    try:
        png = style.to_png(fig)
    finally:
        Text.draw = draw
    return drawn, Image.open(io.BytesIO(png)).size


# The colours a figure may draw data in: the kit's palettes, grey references, black, white and the grid.
ALLOWED = {to_hex(c) for c in (*style.SERIES_COLOURS, *style.CLASS_COLOURS, style.POSITIVE, style.NEGATIVE,
                                style.HARD_NEGATIVE, style.SAME_CLASS, style.OTHER_CLASS, style.REFERENCE, "black",
                                "white", "dimgrey", matplotlib.rcParams["grid.color"])}


def data_colours(fig) -> set[str]:
    """The colours of the lines, scatter points and bars of every panel."""
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    colours = set()
    for ax in fig.axes:
        colours |= {to_hex(line.get_color()) for line in ax.lines if len(line.get_xdata())}
        colours |= {to_hex(c) for s in ax.collections if isinstance(s, PathCollection) for c in s.get_facecolors()}
        colours |= {to_hex(p.get_facecolor()) for p in ax.patches if isinstance(p, Rectangle)}
    return colours


def assert_reads_on_a_projector(fig) -> None:
    """The checks every figure of the kit passes: shown at 100 dpi no wider than a notebook's column, no text under
    11 pt, markers and points large enough to see, and data drawn only in the colour-blind-safe palettes."""
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D

    texts, (width, _) = shown(fig)
    # Shown at 100 dpi and no wider than a notebook's column, so the sizes set are the sizes seen.
    assert fig.dpi == style.DPI and fig.get_figwidth() <= style.MAX_WIDTH
    assert width <= (style.MAX_WIDTH + 0.2) * style.DPI  # the PNG, its 0.1-inch margins included
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < style.MIN_FONT]
    assert texts and not small, small
    markers = [line for line in fig.findobj(Line2D) if line.get_marker() not in (None, "None", "")]
    assert all(line.get_markersize() * fig.dpi / 72 > 1 for line in markers)  # larger than a pixel
    points = [s for s in fig.findobj(PathCollection) if len(s.get_offsets())]
    assert all(np.all(s.get_sizes() >= 12) for s in points)  # scatter markers of 12 points² or more
    assert data_colours(fig) <= ALLOWED


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name](_data()))


def test_galleries_shrink_their_images_to_fit_the_width_not_their_text():
    fig = viz.image_grid(torch.zeros(24, 1, 8, 8), ncols=12, size=1.0)
    assert fig.get_figwidth() == pytest.approx(style.MAX_WIDTH) and len(fig.axes) == 24
    assert viz.image_grid(torch.zeros(4, 1, 8, 8), ncols=4, size=1.0).get_figwidth() == pytest.approx(4.0)


def test_neighbour_frames_differ_in_line_style_not_only_in_colour():
    d = _data()
    features = torch.nn.functional.one_hot(d["labels"], 10).float() + 0.1 * d["features"][:, :1]  # 3 of 6 share
    found = evaluate.nearest_neighbours(features[:3], features, k=6)
    fig = viz.neighbour_gallery(d["images"][:3], d["images"], found, d["labels"][:3], d["labels"], CLASSES)
    frames = {(to_hex(ax.spines["left"].get_edgecolor()), str(ax.spines["left"].get_linestyle()))
              for row in range(3) for ax in fig.axes[7 * row + 1 : 7 * row + 7]}
    assert {colour for colour, _ in frames} == {to_hex(style.SAME_CLASS), to_hex(style.OTHER_CLASS)}
    assert len({linestyle for _, linestyle in frames}) == len(frames) == 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["same class as the query", "another class"]


# ----------------------------------------------------------------------------- colours for every reader

# Machado, Oliveira & Fernandes (2009), severity 1: linear RGB → linear RGB as seen with each deficiency.
DEFICIENCIES = {
    "protanopia": [[0.152286, 1.052583, -0.204868],
                   [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968],
                     [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779],
                   [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}
# Petroff (2021), "Accessible color sequences for data visualization", the ten-colour sequence.
PETROFF_10 = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581",
              "#92dadd")
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
# Colours closer than this (CIE76 ΔE in CIELAB) are too easily confused in small markers.
DISTINCT = 15.0


def seen_as(colour: str, deficiency: str | None = None) -> np.ndarray:
    """CIELAB of an sRGB hex colour, as seen with a colour-vision deficiency (or none)."""
    srgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    if deficiency:
        linear = np.clip(np.array(DEFICIENCIES[deficiency]) @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / [0.95047, 1.0, 1.08883]  # relative to the D65 white
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest(colours, deficiency) -> float:
    return min(np.linalg.norm(seen_as(a, deficiency) - seen_as(b, deficiency))
               for a, b in itertools.combinations(colours, 2))


def test_class_palette_is_petroffs_ten_colours():
    assert tuple(c.lower() for c in style.CLASS_COLOURS) == PETROFF_10
    import matplotlib.style

    library = matplotlib.style.library.get("petroff10")  # shipped with matplotlib ≥ 3.10
    if library is not None:
        assert list(library["axes.prop_cycle"].by_key()["color"]) == list(PETROFF_10)
    assert viz.class_colours(12)[10:] == viz.class_colours(2)  # colours repeat beyond ten classes...
    pairs = list(zip(viz.class_colours(70), viz.class_markers(70)))
    assert len(set(pairs)) == 70  # ...but never with the same marker


@pytest.mark.parametrize("deficiency", list(DEFICIENCIES))
def test_class_colours_stay_apart_with_colour_vision_deficiency(deficiency):
    assert closest(style.CLASS_COLOURS, deficiency) >= DISTINCT
    assert closest(["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"], "protanopia") < DISTINCT  # tab10 would fail
    # Classes that share a marker (i and i + 7) are farther apart still.
    markers = viz.class_markers(10)
    for (a, ma), (b, mb) in itertools.combinations(zip(style.CLASS_COLOURS, markers), 2):
        if ma == mb:
            assert np.linalg.norm(seen_as(a, deficiency) - seen_as(b, deficiency)) >= 2 * DISTINCT


@pytest.mark.parametrize("deficiency", list(DEFICIENCIES))
def test_colours_with_a_meaning_are_okabe_ito_and_stay_apart(deficiency):
    assert set(style.SERIES_COLOURS) <= OKABE_ITO
    meaning = (style.POSITIVE, style.NEGATIVE, style.HARD_NEGATIVE)
    assert set(meaning) | {style.SAME_CLASS, style.OTHER_CLASS} <= OKABE_ITO
    assert closest(meaning, deficiency) >= DISTINCT
    assert closest((style.SAME_CLASS, style.OTHER_CLASS), deficiency) >= 2 * DISTINCT
    assert closest(style.SERIES_COLOURS, deficiency) >= DISTINCT


# ----------------------------------------------------------------------------- plotly figures and their twins


def test_plotly_figures_carry_a_static_twin_of_the_same_data():
    d = _data()
    fig = viz.umap_plotly(d["coords"], np.arange(200) % 10, CLASSES)
    static = fig.static()
    assert isinstance(static, Figure)
    panels = [ax for ax in static.axes if ax.collections]
    assert [ax.get_title() for ax in panels] == list(d["coords"])
    np.testing.assert_allclose(np.concatenate([c.get_offsets() for c in panels[2].collections]),
                               np.concatenate([np.c_[t.x, t.y] for t in fig.data[20:30]]))
    sphere = viz.sphere_figure({"before": d["features"][:, :3]}, d["labels"], CLASSES)
    assert [ax.name for ax in sphere.static().axes] == ["3d"]
    # hover_thumbnails copies the figure, and its twin with it
    thumbs = viz.hover_thumbnails(fig, torch.zeros(200, 1, 4, 4))
    assert thumbs.figure.layout.meta["clkit_thumbnails"] and isinstance(thumbs.figure.static(), Figure)


def test_plotly_figures_send_their_twin_in_the_same_output(monkeypatch):
    """A live frontend gets the plotly figure first, then the same output with the picture added."""
    import types

    import IPython
    import IPython.display

    from clkit.viz.twin import PLOTLY_MIME

    fig = viz.umap_plotly({"a": np.random.rand(12, 2)}, np.arange(12) % 2, ["even", "odd"])
    bundle = fig._repr_mimebundle_()
    assert {PLOTLY_MIME, "image/png", "text/plain"} <= set(bundle)
    assert bundle[PLOTLY_MIME]["data"][0]["type"] == "scattergl"
    width, _ = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))).size
    assert width <= (style.MAX_WIDTH + 0.2) * style.DPI

    sent = []

    class Handle:
        def update(self, data, raw):
            sent.append(("update", data))

    def display(data, raw, display_id):
        sent.append(("display", data))
        return Handle()

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    monkeypatch.setattr(IPython.display, "display", display)
    fig._ipython_display_()
    (first, shown_first), (second, shown_after) = sent
    assert (first, second) == ("display", "update")
    assert PLOTLY_MIME in shown_first and "image/png" not in shown_first  # drawn live, interactive
    assert shown_after[PLOTLY_MIME] == shown_first[PLOTLY_MIME] and "image/png" in shown_after  # what is stored
