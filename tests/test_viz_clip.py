"""The CLIP lesson's figures draw the numbers they are given and read on a projector."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from test_viz import assert_reads_on_a_projector  # noqa: E402  (the checks every figure passes)

from clkit.viz.clip import (  # noqa: E402
    caption_gallery,
    logit_scale_figure,
    recall_bars,
    score_bars,
    similarity_figure,
)

IMAGES = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
CAPTIONS = [f"a small red shape number {i} on a pale striped background" for i in range(6)]
PHRASINGS = [(c, "a tiny shape in red", "there is a red shape against a light background") for c in CAPTIONS]
SIMILARITY = torch.eye(6) * 0.6 + 0.3 * torch.rand(6, 6, generator=torch.Generator().manual_seed(1))
HISTORIES = {"learned": [{"epoch": e, "logit_scale": 14.3 * 1.3**e} for e in range(1, 8)],
             "fixed": [{"epoch": e, "logit_scale": 14.3} for e in range(1, 8)]}
RECALL = {"image → text": {1: 0.4, 5: 0.8, 10: 0.95}, "text → image": {1: 0.5, 5: 0.85, 10: 0.97}}
CHANCE = {"image → text": {1: 0.01, 5: 0.05, 10: 0.1}, "text → image": {1: 0.01, 5: 0.05, 10: 0.1}}
SCORES = {"zero-shot, held-out pairs": 0.62, "zero-shot, training pairs": 0.71, "supervised, held-out pairs": 0.9}


def test_caption_gallery_puts_each_images_phrasings_beside_it():
    fig = caption_gallery(IMAGES[:4], PHRASINGS[:4])
    pictures = [ax for ax in fig.axes if ax.images]
    texts = [ax.texts[0].get_text() for ax in fig.axes if ax.texts]
    assert len(pictures) == 4 and texts == ["\n".join(p) for p in PHRASINGS[:4]]
    with pytest.raises(ValueError, match="one list per image"):
        caption_gallery(IMAGES[:3], PHRASINGS[:2])


def test_similarity_figure_draws_captions_down_and_images_across_with_the_pairs_framed():
    fig = similarity_figure(SIMILARITY, IMAGES, CAPTIONS)
    heat = next(ax for ax in fig.axes if ax.images and ax.get_yticklabels() and ax.texts)
    np.testing.assert_allclose(heat.images[0].get_array(), SIMILARITY.T.numpy())  # row i = caption i
    assert [t.get_text() for t in heat.get_yticklabels()] == CAPTIONS
    assert len(heat.texts) == 36 and heat.texts[1].get_text() == f"{SIMILARITY[1, 0]:.2f}".replace("0.", ".")
    assert len(heat.patches) == 12  # the diagonal, each framed twice (white, black) to show on any colour
    assert len([ax for ax in fig.axes if ax.images]) == 7  # six thumbnails and the matrix
    with pytest.raises(ValueError, match="6 images × 6 captions but 5 images"):
        similarity_figure(SIMILARITY, IMAGES[:5], CAPTIONS)


def test_logit_scale_figure_draws_each_run_and_the_start_and_clamp():
    fig = logit_scale_figure(HISTORIES)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [14.3 * 1.3**e for e in range(1, 8)])
    assert [line.get_ydata()[0] for line in ax.lines[2:]] == pytest.approx([1 / 0.07, 100.0])
    assert ax.get_ylim()[0] == 0
    assert logit_scale_figure(HISTORIES, initial=None, maximum=None).axes[0].lines.__len__() == 2


def test_score_bars_keep_the_order_given_and_draw_the_references():
    fig = score_bars(SCORES, {"chance": 0.1})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(SCORES)
    widths = [p.get_width() for p in sorted(ax.patches, key=lambda p: -p.get_y())]
    assert widths == pytest.approx([62, 71, 90])  # top to bottom, in %
    assert ax.lines[0].get_xdata()[0] == pytest.approx(10)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["chance: 10"]


def test_recall_bars_group_by_k_with_chance_behind():
    fig = recall_bars(RECALL, CHANCE)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["R@1", "R@5", "R@10"]
    heights = sorted(round(p.get_height()) for p in ax.patches)
    assert heights == sorted(round(100 * v) for d in (RECALL, CHANCE) for ks in d.values() for v in ks.values())
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["random ranking", *RECALL]


FIGURES = {
    "caption_gallery": lambda: caption_gallery(IMAGES, PHRASINGS),
    "similarity_figure": lambda: similarity_figure(SIMILARITY, IMAGES, CAPTIONS),
    "logit_scale_figure": lambda: logit_scale_figure(HISTORIES),
    "score_bars": lambda: score_bars(SCORES, {"chance": 0.1, "supervised": 0.9}, title="zero-shot accuracy"),
    "recall_bars": lambda: recall_bars(RECALL, CHANCE),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_clip_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name]())
