"""Cluster measures (clkit.evaluate.clusters) against scikit-learn and counts written out, and the cluster figures."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from sklearn.metrics import normalized_mutual_info_score  # noqa: E402
from sklearn.metrics.cluster import contingency_matrix  # noqa: E402
from test_viz import assert_reads_on_a_projector  # noqa: E402  (the checks every figure passes)

from clkit import evaluate  # noqa: E402
from clkit.viz.clusters import cluster_gallery, cluster_sizes, factor_nmi_bars  # noqa: E402


def _labelling(n=300, k=12, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=g)
    # Clusters that follow the classes most of the time, so every measure is between its extremes.
    noisy = torch.where(torch.rand(n, generator=g) < 0.6, labels * 2 % k, torch.randint(0, k, (n,), generator=g))
    return noisy, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contingency_and_nmi_match_scikit_learn(seed):
    a, y = _labelling(seed=seed)
    table = evaluate.contingency(a, y)
    present = table.sum(1) > 0
    np.testing.assert_array_equal(table[present].numpy(), contingency_matrix(a.numpy(), y.numpy()))
    assert evaluate.normalized_mutual_information(a, y) == pytest.approx(normalized_mutual_info_score(y, a), abs=1e-9)


def test_chance_nmi_is_the_nmi_scikit_learn_expects_of_independent_labellings():
    """Shuffles keep both entropies, so their mean NMI tends to E[MI] / mean entropy: the expectation behind
    scikit-learn's adjusted mutual information, recovered from its public scores."""
    from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score

    g = torch.Generator().manual_seed(0)
    a, y = torch.randint(0, 40, (500,), generator=g), torch.randint(0, 5, (500,), generator=g)
    mi, ami = mutual_info_score(y, a), adjusted_mutual_info_score(y, a)
    mean_entropy = mi / normalized_mutual_info_score(y, a)
    expected = (mi - ami * mean_entropy) / (1 - ami) / mean_entropy
    assert evaluate.chance_nmi(a, y, permutations=400) == pytest.approx(expected, rel=0.02)
    informative, labels = _labelling(n=500, k=40)
    assert evaluate.normalized_mutual_information(informative, labels) > 5 * evaluate.chance_nmi(informative, labels)
    with pytest.raises(ValueError, match="permutations must be at least 1"):
        evaluate.chance_nmi(a, y, permutations=0)


def test_nmi_edge_cases_agree_with_scikit_learn():
    same, one = torch.tensor([0, 0, 1, 1, 2]), torch.zeros(5, dtype=torch.int64)
    renamed = torch.tensor([7, 7, 3, 3, 5])
    for a, y in ((same, renamed), (one, one), (one, same), (same, one)):
        assert evaluate.normalized_mutual_information(a, y) == pytest.approx(
            normalized_mutual_info_score(y.numpy(), a.numpy()), abs=1e-12)


def test_report_counts_written_out():
    a = torch.tensor([0, 0, 0, 2, 2, 3])
    y = torch.tensor([1, 1, 0, 0, 0, 2])
    r = evaluate.cluster_report(a, y, n_clusters=5, n_classes=3)
    assert r.used == 3
    assert r.sizes.tolist() == [3, 0, 2, 1, 0]
    assert r.majority.tolist() == [1, -1, 0, 2, -1]
    torch.testing.assert_close(r.share, torch.tensor([2 / 3, 0, 1, 1, 0]))
    assert r.purity == pytest.approx((2 + 2 + 1) / 6)  # Σ_k max_c n_kc / N


def test_members_are_drawn_from_their_cluster_and_repeat_for_a_seed():
    a, _ = _labelling()
    picked = evaluate.cluster_members(a, [0, 2, 4], per_cluster=5, seed=3)
    assert [len(p) for p in picked] == [min(5, int((a == k).sum())) for k in (0, 2, 4)]
    assert all((a[p] == k).all() for p, k in zip(picked, (0, 2, 4)))
    again = evaluate.cluster_members(a, [0, 2, 4], per_cluster=5, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(picked, again))


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="same length"):
        evaluate.cluster_report(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(TypeError, match="argmax"):
        evaluate.cluster_report(torch.rand(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="exceed"):
        evaluate.contingency(torch.tensor([0, 4]), torch.tensor([0, 1]), n_clusters=3)
    with pytest.raises(ValueError, match="empty"):
        evaluate.cluster_report(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))


CLASSES = ["circle", "square", "triangle", "star", "cross"]


def _gallery():
    a, y = _labelling()
    images = torch.randint(0, 256, (len(a), 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return cluster_gallery(images, a, evaluate.cluster_report(a, y, n_classes=5), CLASSES, per_cluster=10,
                           title="SwAV's prototypes")


FIGURES = {
    "cluster_gallery": _gallery,
    "cluster_sizes": lambda: cluster_sizes({name: evaluate.cluster_report(*_labelling(seed=s))
                                            for s, name in enumerate(("SwAV", "DINO", "k-means"))}),
    "factor_nmi_bars": lambda: factor_nmi_bars(
        {run: {f: 0.1 * (i + 1) + 0.05 * j for j, f in enumerate(("shape", "background hue", "size", "x", "y"))}
         for i, run in enumerate(("SwAV", "DINO", "k-means on pixels"))}),
    "factor_nmi_bars with chance": lambda: factor_nmi_bars(
        {run: {f: 0.1 * (i + 1) + 0.05 * j for j, f in enumerate(("shape", "background hue", "size", "x", "y"))}
         for i, run in enumerate(("SwAV", "DINO", "k-means on pixels"))},
        chance={run: {f: 0.05 for f in ("shape", "background hue", "size", "x", "y")}
                for run in ("SwAV", "DINO", "k-means on pixels")}),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_cluster_figure_reads_on_a_projector(name):
    assert_reads_on_a_projector(FIGURES[name]())


def test_the_chance_lines_sit_across_their_bars_at_their_height():
    fig = FIGURES["factor_nmi_bars with chance"]()
    ax = fig.axes[0]
    lines = [c for c in ax.collections if c.get_label() == "chance"]
    segments = [seg for c in ax.collections if type(c).__name__ == "LineCollection" for seg in c.get_segments()]
    assert len(lines) == 1 and len(segments) == 15 and all(np.allclose(seg[:, 1], 0.05) for seg in segments)
    assert "chance" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_gallery_rows_are_the_largest_clusters_labelled_with_their_majority():
    fig = _gallery()
    a, y = _labelling()
    report = evaluate.cluster_report(a, y, n_classes=5)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    largest = report.sizes.argsort(descending=True)[:8].tolist()
    assert len(labels) == 8 and all(label.startswith(f"#{k}:") for label, k in zip(labels, largest))
    k = largest[0]
    assert f"{int(report.sizes[k])} images" in labels[0] and CLASSES[int(report.majority[k])] in labels[0]


def test_quantile_bins_cut_at_numpys_quantiles_into_equal_groups():
    values = torch.randn(1000, generator=torch.Generator().manual_seed(4))
    bins = evaluate.quantile_bins(values, 5)
    edges = np.quantile(values.double().numpy(), [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_array_equal(bins.numpy(), np.digitize(values.double().numpy(), edges))
    assert torch.bincount(bins).tolist() == [200] * 5
    with pytest.raises(ValueError, match="n_bins"):
        evaluate.quantile_bins(values, 1)


def test_border_hue_is_hsvs_hue_of_the_borders_mean_colour():
    import colorsys

    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=g)
    x = images.double() / 255
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[0], mask[-1], mask[:, 0], mask[:, -1] = True, True, True, True
    for image, hue in zip(x, evaluate.border_hue(images)):
        rgb = image[:, mask].mean(1).tolist()
        assert float(hue) == pytest.approx(colorsys.rgb_to_hsv(*rgb)[0], abs=1e-6)
    grey = torch.full((1, 3, 4, 4), 0.5)
    assert float(evaluate.border_hue(grey)) == 0.0
