"""The SimCSE lesson's figures draw the numbers they are given and read on a projector."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402
from test_viz import assert_reads_on_a_projector  # noqa: E402  (the checks every figure passes)

from clkit import viz  # noqa: E402
from clkit.viz.sentences import (  # noqa: E402
    KIND_COLOURS,
    sentence_bars,
    sentence_curves,
    sentence_similarity_matrices,
    similarity_by_score,
)

RESULTS = {"bag of words": {"spearman": 0.61, "retrieval": 0.25}, "TF-IDF": {"spearman": 0.77, "retrieval": 0.41},
           "untrained encoder": {"spearman": 0.44, "retrieval": 0.17},
           "SimCSE, dropout": {"spearman": 0.53, "retrieval": 0.21},
           "SimCSE, no dropout": {"spearman": 0.53, "retrieval": 0.24},
           "supervised SimCSE": {"spearman": 0.85, "retrieval": 1.0}}
KINDS = {"SimCSE, dropout": "unsupervised", "SimCSE, no dropout": "unsupervised", "supervised SimCSE": "supervised"}
SENTENCES = ["a red circle spins on the table .", "on the desk , the scarlet disc is spinning .",
             "there is a red circle that falls on the table .", "the hungry dog eats in the morning .",
             "at dawn , one starving puppy feeds ."]


def _pairs(seed=0, n=120):
    g = torch.Generator().manual_seed(seed)
    scores = torch.arange(n) % 6
    return {name: ((scores * slope / 5 + 0.3 * torch.randn(n, generator=g)).clamp(-1, 1), scores.float())
            for name, slope in (("bag of words", 0.6), ("SimCSE", 0.8), ("supervised SimCSE", 1.2))}


def _matrices(m=5):
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(m, 8, generator=g), dim=1)
    noisy = torch.nn.functional.normalize(z + 0.2 * torch.randn(m, 8, generator=g), dim=1)
    return {"pass 1 × pass 2, training mode": z @ noisy.T, "pass 1 × pass 2, eval mode": z @ z.T}


def _histories():
    def run(a0, u0, da, du):
        return [{"epoch": e, "alignment": a0 + da * e, "uniformity": u0 + du * e, "spearman": 0.5} for e in range(6)]

    return {"SimCSE, dropout": run(0.6, -1.7, 0.12, -0.35), "SimCSE, no dropout": run(0.6, -1.7, 0.14, -0.36),
            "supervised SimCSE": run(0.6, -1.7, -0.1, -0.25)}


def test_sentence_bars_draw_both_numbers_in_percent_coloured_by_kind():
    fig = sentence_bars(RESULTS, KINDS, chance=2 / 599)
    rho, retrieval = fig.axes
    assert [p.get_width() for p in rho.patches] == pytest.approx([61, 77, 44, 53, 53, 85])
    assert [p.get_width() for p in retrieval.patches] == pytest.approx([25, 41, 17, 21, 24, 100])
    colours = [to_hex(p.get_facecolor()) for p in rho.patches]
    assert colours[:3] == [to_hex(KIND_COLOURS["baseline"])] * 3 and colours[5] == to_hex(KIND_COLOURS["supervised"])
    assert [t.get_text() for t in rho.get_yticklabels()] == list(RESULTS)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["baseline", "unsupervised", "supervised",
                                                                  "chance (0.3%)"]
    assert retrieval.lines[0].get_xdata()[0] == pytest.approx(100 * 2 / 599)
    with pytest.raises(ValueError, match="valid kinds are baseline"):
        sentence_bars(RESULTS, {"TF-IDF": "pretrained"})


def test_similarity_by_score_draws_each_runs_median_per_score():
    runs = _pairs()
    fig = similarity_by_score(runs)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == list(runs)
    cos, scores = runs["SimCSE"]
    expected = [np.median(cos[scores == s].numpy()) for s in range(6)]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), expected, rtol=1e-6)
    assert list(ax.lines[1].get_xdata()) == [0, 1, 2, 3, 4, 5]


def test_similarity_matrices_annotate_each_panel_and_list_the_sentences():
    matrices = _matrices()
    fig = sentence_similarity_matrices(matrices, SENTENCES)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    np.testing.assert_allclose(panels[1].images[0].get_array(), matrices["pass 1 × pass 2, eval mode"].numpy(),
                               rtol=1e-6)
    assert len(panels[0].texts) == 25 and panels[1].texts[0].get_text() == "1.00"
    listing = [ax for ax in fig.axes if ax.texts and not ax.images][0].texts[0].get_text()
    assert listing.startswith("1. a red circle spins") and "5. at dawn" in listing
    wide = sentence_similarity_matrices({"a": torch.zeros(2, 3)}, SENTENCES[:2], columns=SENTENCES[2:])
    assert [t.get_text() for t in wide.axes[0].get_xticklabels()] == ["3", "4", "5"]
    with pytest.raises(ValueError, match="must be 5 × 5"):
        sentence_similarity_matrices({"a": torch.zeros(4, 4)}, SENTENCES)


def test_sentence_curves_draw_every_run_under_the_lessons_titles():
    histories = {name: [{**r, "loss": 1.0 / (1 + r["epoch"]), "positive_cos": 0.9} for r in run]
                 for name, run in _histories().items()}
    fig = sentence_curves(histories, references={"spearman": {"TF-IDF": 0.77}})
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "cos(anchor, positive)", "Spearman ρ (held out)"]
    assert [line.get_label() for line in fig.axes[2].lines] == [*histories, "TF-IDF"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1 / (1 + e) for e in range(6)])
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"


FIGURES = {
    "sentence_bars": lambda: sentence_bars(RESULTS, KINDS, chance=2 / 599),
    "similarity_by_score": lambda: similarity_by_score(_pairs()),
    "sentence_similarity_matrices": lambda: sentence_similarity_matrices(_matrices(), SENTENCES),
    "sentence_similarity_matrices, three panels": lambda: sentence_similarity_matrices(
        {**_matrices(), "supervised SimCSE": _matrices()["pass 1 × pass 2, eval mode"]}, SENTENCES),
    "sentence_curves": lambda: sentence_curves(
        {name: [{**r, "loss": 1.0 / (1 + r["epoch"]), "positive_cos": 0.9} for r in run]
         for name, run in _histories().items()}, references={"spearman": {"TF-IDF": 0.77}}),
    "alignment_uniformity_plane of sentence runs": lambda: viz.alignment_uniformity_plane(_histories()),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_sentence_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name]())
