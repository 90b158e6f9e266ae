"""Embedding geometry: neighbour search, the pair audit, spectra and the geometry lesson's figures.

Searches are checked against brute-force loops over every pair, spectra against numpy, and each
figure function by looking inside the figure it returns.
"""

import base64
import io
import json
import math
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from clkit import augment, evaluate, methods, models, train, viz


def cosine(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def clustered(n, d=6, classes=3, noise=0.8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * 2
    y = torch.arange(n) % classes
    return centres[y] + noise * torch.randn(n, d, generator=g), y


# ----------------------------------------------------------------------------- neighbours


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_nearest_neighbours_match_a_brute_force_loop(chunk_size):
    g = torch.Generator().manual_seed(1)
    queries, bank = torch.randn(23, 5, generator=g), torch.randn(40, 5, generator=g)
    result = evaluate.nearest_neighbours(queries, bank, k=4, chunk_size=chunk_size)
    for q, indices, sims in zip(queries, result.indices, result.similarities):
        scores = [cosine(q, b) for b in bank]
        expected = sorted(range(len(bank)), key=lambda j: -scores[j])[:4]
        assert indices.tolist() == expected
        np.testing.assert_allclose(sims.numpy(), [scores[j] for j in expected], rtol=1e-5, atol=1e-6)


def test_nearest_neighbours_within_a_set_leave_each_point_out():
    z = torch.randn(30, 4, generator=torch.Generator().manual_seed(2))
    result = evaluate.nearest_neighbours(z, k=3, chunk_size=8)
    for i in range(30):
        scores = {j: cosine(z[i], z[j]) for j in range(30) if j != i}
        assert result.indices[i].tolist() == sorted(scores, key=lambda j: -scores[j])[:3]
    # Passing the set as its own bank keeps each point: it is its own nearest neighbour.
    assert evaluate.nearest_neighbours(z, z, k=1).indices.squeeze(1).tolist() == list(range(30))
    # Queries drawn from a bank can skip their own row there.
    picked = torch.tensor([4, 9, 17])
    skipped = evaluate.nearest_neighbours(z[picked], z, k=3, skip=picked)
    assert skipped.indices.tolist() == result.indices[picked].tolist()
    torch.testing.assert_close(skipped.similarities, result.similarities[picked])
    with pytest.raises(ValueError, match="k must be between 1 and the number of candidates \\(29\\)"):
        evaluate.nearest_neighbours(z, k=30)
    with pytest.raises(ValueError, match="same D"):
        evaluate.nearest_neighbours(z, torch.randn(5, 3))


# ----------------------------------------------------------------------------- the audit


def brute_force_pairs(z, y, same_class, most_similar):
    pairs = [
        (cosine(z[i], z[j]), i, j)
        for i in range(len(z))
        for j in range(i + 1, len(z))
        if (y[i] == y[j]) == same_class
    ]
    return sorted(pairs, key=lambda p: -p[0] if most_similar else p[0])


@pytest.mark.parametrize("same_class, most_similar", [(False, True), (True, False), (True, True), (False, False)])
def test_extreme_pairs_match_a_brute_force_loop(same_class, most_similar):
    z, y = clustered(31, seed=3)
    result = evaluate.extreme_pairs(z, y, k=6, same_class=same_class, most_similar=most_similar, chunk_size=5)
    expected = brute_force_pairs(z, y, same_class, most_similar)[:6]
    assert result.pairs.tolist() == [[i, j] for _, i, j in expected]
    np.testing.assert_allclose(result.similarities.numpy(), [s for s, _, _ in expected], rtol=1e-5, atol=1e-6)


def test_audit_wrappers_and_short_lists():
    z, y = clustered(20, seed=4)
    cross = evaluate.cross_class_pairs(z, y, k=3)
    within = evaluate.within_class_pairs(z, y, k=3)
    assert all(y[i] != y[j] for i, j in cross.pairs.tolist())
    assert all(y[i] == y[j] for i, j in within.pairs.tolist())
    assert cross.similarities[0] >= cross.similarities[-1] and within.similarities[0] <= within.similarities[-1]
    # Two points of one class and one of another: a single within-class pair exists.
    few = evaluate.within_class_pairs(torch.randn(3, 4), torch.tensor([0, 0, 1]), k=5)
    assert few.pairs.tolist() == [[0, 1]] and few.similarities.shape == (1,)


# ----------------------------------------------------------------------------- spectra and collapse


def test_covariance_spectrum_matches_numpy():
    z = torch.randn(60, 5, generator=torch.Generator().manual_seed(5)) * torch.tensor([3.0, 1, 1, 0.5, 0.1])
    unit = (z / z.norm(dim=1, keepdim=True)).double().numpy()
    expected = np.sort(np.linalg.eigvalsh(np.cov(unit, rowvar=False)))[::-1]
    np.testing.assert_allclose(evaluate.covariance_spectrum(z).numpy(), expected, rtol=1e-4, atol=1e-7)
    raw = np.sort(np.linalg.eigvalsh(np.cov(z.double().numpy(), rowvar=False)))[::-1]
    np.testing.assert_allclose(evaluate.covariance_spectrum(z, normalize=False).numpy(), raw, rtol=1e-4)
    # Normalised embeddings: the eigenvalues add up to 1 − ‖mean‖² (times N/(N−1)).
    total = (1 - (unit.mean(0) ** 2).sum()) * 60 / 59
    assert evaluate.covariance_spectrum(z).sum().item() == pytest.approx(total, rel=1e-4)


def test_per_dimension_std_and_collapse_metrics():
    isotropic = torch.randn(20000, 16, generator=torch.Generator().manual_seed(6))
    std = evaluate.per_dimension_std(isotropic)
    np.testing.assert_allclose(std.numpy(), 1 / math.sqrt(16), rtol=0.05)
    unit = F.normalize(isotropic[:50], dim=1).numpy()
    np.testing.assert_allclose(evaluate.per_dimension_std(isotropic[:50]).numpy(), unit.std(0, ddof=1), rtol=1e-5)
    collapsed = torch.ones(100, 16) + 1e-4 * torch.randn(100, 16)
    healthy = evaluate.collapse_metrics(isotropic[:2000], isotropic[:2000])
    dead = evaluate.collapse_metrics(collapsed, collapsed)
    assert healthy["std_z·√D"] == pytest.approx(1, abs=0.05) and dead["std_z·√D"] < 0.01
    assert healthy["rankme_z"] > 15 and dead["rankme_z"] == pytest.approx(1, abs=0.05)
    assert healthy["uniform_z"] < -3 and dead["uniform_z"] == pytest.approx(0, abs=1e-3)


# ----------------------------------------------------------------------------- methods and measures


def tiny_images(n=32, seed=0):
    return torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def identity(x, generator=None):
    return x


def test_project_is_batched_and_matches_the_head():
    train.seed_everything(0)
    method = methods.SimCLR(models.small_cnn(width=4), augment.simclr(16), projection_dim=8).train()
    images = tiny_images()
    z = evaluate.project(method, images, batch_size=5)
    assert z.shape == (32, 8) and not z.requires_grad and method.training
    method.eval()
    with torch.no_grad():
        torch.testing.assert_close(z, method.head(method.backbone(images.float() / 255)))
    with pytest.raises(TypeError, match="no projection head"):
        evaluate.project(models.small_cnn(width=4), images)


def test_view_geometry_measures_fixed_views_with_the_formulas():
    train.seed_everything(0)
    method = methods.SimCLR(models.small_cnn(width=4), augment.simclr(16), projection_dim=8).eval()
    images = tiny_images()
    measure = evaluate.view_geometry(images, method.augment, seed=3)
    first, again = measure(method), measure(method)
    assert first == again  # the same views every call
    v1, v2 = augment.two_views(images, method.augment, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = method.project(v1), method.project(v2)
    assert first["alignment"] == pytest.approx(evaluate.alignment(a, b).item(), rel=1e-4)
    expected_uniformity = (evaluate.uniformity(a) + evaluate.uniformity(b)).item() / 2
    assert first["uniformity"] == pytest.approx(expected_uniformity, rel=1e-4, abs=1e-6)
    assert first["contrastive_acc"] == pytest.approx(evaluate.contrastive_accuracy(a, b).item())
    # Identical views are perfectly aligned, in h as in z.
    assert evaluate.view_geometry(images, identity, space="h")(method)["alignment"] == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="space must be"):
        evaluate.view_geometry(images, identity, space="x")


def test_positives_only_is_the_alignment_loss_and_collapses():
    train.seed_everything(0)
    method = methods.PositivesOnly(models.small_cnn(width=4), augment.simclr(16, scale=(0.5, 1.0)), projection_dim=8)
    images = tiny_images(64)
    # With identical views the loss is exactly zero: nothing else is asked of the embedding.
    same = methods.PositivesOnly(models.small_cnn(width=4), identity, projection_dim=8)
    loss, logs = same(methods.Batch(images))
    assert loss.item() == pytest.approx(0, abs=1e-6) and "z_std" in logs
    # Against the formula, on the views the method itself draws (same seed → same views).
    torch.manual_seed(7)
    loss, _ = method(methods.Batch(images))
    torch.manual_seed(7)
    v1, v2 = augment.two_views(images, method.augment)
    z1, z2 = method.head(method.backbone(torch.cat([v1, v2]))).chunk(2)
    assert loss.item() == pytest.approx(evaluate.alignment(z1, z2).item(), rel=1e-4)
    # Training drives the outputs together: the per-dimension std of z/‖z‖ (its own log) falls towards 0.
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2)
    stds = []
    for _ in range(25):
        loss, logs = method(methods.Batch(images))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stds.append(logs["z_std"].item())
    assert stds[-1] < stds[0] / 10 and loss.item() < 0.02


def test_calibrate_batchnorm_averages_the_batch_statistics_and_restores_the_model():
    layer = torch.nn.Linear(12, 4)
    model = torch.nn.Sequential(torch.nn.Flatten(), layer, torch.nn.BatchNorm1d(4)).eval()
    images = tiny_images(40)[:, :, :2, :2]  # (40, 3, 2, 2): 12 numbers per image
    before = [p.clone() for p in model.parameters()]
    evaluate.calibrate_batchnorm(model, images, batch_size=10)
    with torch.no_grad():
        activations = layer(images.float().flatten(1) / 255)
    norm = model[2]
    torch.testing.assert_close(norm.running_mean, activations.mean(0))
    batch_vars = torch.stack([activations[i : i + 10].var(0) for i in range(0, 40, 10)])
    torch.testing.assert_close(norm.running_var, batch_vars.mean(0))
    assert not model.training and norm.momentum == 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_calibrated_random_encoder_is_not_collapsed():
    train.seed_everything(0)
    method = methods.SimCLR(models.small_cnn(width=4), augment.simclr(16), projection_dim=8)
    images = tiny_images(64)
    raw = evaluate.per_dimension_std(evaluate.project(method, images)).mean().item()
    evaluate.calibrate_batchnorm(method, images)
    calibrated = evaluate.per_dimension_std(evaluate.project(method, images)).mean().item()
    assert calibrated > 10 * raw


# ----------------------------------------------------------------------------- UMAP


def test_umap_embed_is_seeded_and_keeps_clusters_apart():
    z, y = clustered(90, d=12, classes=3, noise=0.3, seed=8)
    coords = viz.umap_embed(z, seed=0, n_epochs=60, progress=False)
    assert coords.shape == (90, 2) and coords.dtype == np.float32 and np.isfinite(coords).all()
    np.testing.assert_array_equal(coords, viz.umap_embed(z, seed=0, n_epochs=60, progress=False))
    centres = np.stack([coords[y.numpy() == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(coords[y.numpy() == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread
    with pytest.raises(ValueError, match="N ≥ 3"):
        viz.umap_embed(torch.randn(2, 4))


def test_umap_panels_draw_one_scatter_per_class_and_panel():
    y = torch.arange(40) % 4
    coords = {"a": np.random.rand(40, 2), "b": np.random.rand(40, 2)}
    fig = viz.umap_panels(coords, y, ["w", "x", "y", "z"])
    axes = [ax for ax in fig.axes if ax.collections]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert all(len(ax.collections) == 4 for ax in axes)
    np.testing.assert_allclose(axes[1].collections[2].get_offsets(), coords["b"][y.numpy() == 2])


def test_umap_plotly_traces_carry_classes_and_row_indices():
    y = torch.arange(30) % 3
    coords = {"raw": np.random.rand(30, 2), "trained": np.random.rand(30, 2)}
    fig = viz.umap_plotly(coords, y, ["p", "q", "r"])
    assert len(fig.data) == 6 and {t.type for t in fig.data} == {"scattergl"}
    assert [t.name for t in fig.data] == ["p", "q", "r"] * 2
    assert [t.showlegend for t in fig.data] == [True] * 3 + [False] * 3
    for trace in fig.data[3:]:
        rows = np.asarray(trace.customdata)
        np.testing.assert_allclose(np.c_[trace.x, trace.y], coords["trained"][rows])
        assert (y.numpy()[rows] == ["p", "q", "r"].index(trace.name)).all()
    assert sorted(np.concatenate([t.customdata for t in fig.data[:3]]).tolist()) == list(range(30))


def decode(uri):
    header, data = uri.split(",", 1)
    assert header.startswith("data:image/") and header.endswith(";base64")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_thumbnail_atlas_tiles_every_image_in_place():
    images = torch.zeros(10, 3, 8, 8, dtype=torch.uint8)
    for i in range(10):
        images[i, i % 3] = 25 * i  # a flat colour per image
    uri, cols = viz.thumbnail_atlas(images, quality=95)
    atlas = decode(uri)
    assert cols == 4 and atlas.shape == (3 * 8, 4 * 8, 3)
    for i in range(10):
        r, c = divmod(i, cols)
        tile = atlas[r * 8 + 2 : r * 8 + 6, c * 8 + 2 : c * 8 + 6].astype(float)  # the centre: no JPEG/WebP edge
        assert np.abs(tile - images[i].permute(1, 2, 0).numpy()[2:6, 2:6]).mean() < 8
    grey, _ = viz.thumbnail_atlas(torch.rand(3, 1, 8, 8))
    assert decode(grey).shape == (16, 16, 3)


def test_hover_thumbnails_link_the_script_to_a_copy_of_the_figure():
    y = torch.arange(12) % 2
    fig = viz.umap_plotly({"a": np.random.rand(12, 2)}, y, ["even", "odd"])
    images = torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8)
    shown = viz.hover_thumbnails(fig, images, zoom=4)
    uid = shown.figure.layout.meta["clkit_thumbnails"]
    assert fig.layout.meta is None  # the original is left alone
    assert f'uid = "{uid}"' in shown.html and "plotly_hover" in shown.html and "zoom = 4" in shown.html
    atlas = shown.html.split('atlas = "', 1)[1].split('"', 1)[0]
    assert decode(atlas).shape == (3 * 8, 4 * 8, 3)
    assert len(shown.figure.data) == 2


# ----------------------------------------------------------------------------- galleries and heatmaps


def test_neighbour_gallery_shows_queries_neighbours_and_similarities():
    z, y = clustered(20, seed=9)
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    result = evaluate.nearest_neighbours(z[:3], z, k=4)
    fig = viz.neighbour_gallery(images[:3], images, result, y[:3], y, ["a", "b", "c"], title="t")
    assert len(fig.axes) == 3 * 5
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == ["a", "b", "c"][int(y[0])]
    assert titles[1:5] == [f"{s:.2f}" for s in result.similarities[0].tolist()]
    neighbour = int(result.indices[1, 2])
    expected = viz.style.SAME_CLASS if y[neighbour] == y[1] else viz.style.OTHER_CLASS
    from matplotlib.colors import to_rgba

    assert fig.axes[5 + 3].spines["left"].get_edgecolor() == to_rgba(expected)


def test_similarity_by_class_sorts_points_and_reports_block_means():
    z, y = clustered(30, classes=3, seed=10)
    fig = viz.similarity_by_class({"raw": z, "same": z}, y, ["a", "b", "c"])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    shown = panels[0].images[0].get_array()
    order = torch.argsort(y, stable=True)
    unit = F.normalize(z[order], dim=1)
    np.testing.assert_allclose(shown, (unit @ unit.T).numpy(), atol=1e-6)
    ys = y[order]
    same = (ys[:, None] == ys[None, :]) & ~torch.eye(30, dtype=torch.bool)
    within = (unit @ unit.T)[same].mean().item()
    assert f"within {within:.2f}" in panels[0].get_title()


def test_pair_gallery_draws_each_pair_as_a_column():
    z, y = clustered(15, seed=11)
    images = torch.randint(0, 256, (15, 3, 8, 8), dtype=torch.uint8)
    pairs = evaluate.cross_class_pairs(z, y, k=4)
    fig = viz.pair_gallery(images, pairs, y, ["a", "b", "c"], title="closest across classes")
    assert len(fig.axes) == 8
    assert [fig.axes[c].get_title() for c in range(4)] == [f"{s:.2f}" for s in pairs.similarities.tolist()]
    i, j = pairs.pairs[0].tolist()
    assert fig.axes[0].get_xlabel() == ["a", "b", "c"][int(y[i])]
    assert fig.axes[4].get_xlabel() == ["a", "b", "c"][int(y[j])]


# ----------------------------------------------------------------------------- the sphere


def test_circle_figure_puts_points_at_their_angle_near_the_unit_circle():
    z, y = torch.randn(50, 2), torch.arange(50) % 2
    fig = viz.circle_figure({"before": z, "after": 3 * z}, y, ["a", "b"], spread=0.1)
    ax = fig.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    radius = np.linalg.norm(points, axis=1)
    assert len(points) == 50 and (radius >= 1 - 1e-6).all() and (radius <= 1.1 + 1e-6).all()
    angles = np.sort(np.arctan2(points[:, 1], points[:, 0]))
    np.testing.assert_allclose(angles, np.sort(np.arctan2(z[:, 1].numpy(), z[:, 0].numpy())), atol=1e-5)
    with pytest.raises(ValueError, match="\\(N, 2\\)"):
        viz.circle_figure({"x": torch.randn(5, 3)}, torch.zeros(5, dtype=torch.long), ["a"])


def test_sphere_figure_has_a_sphere_and_unit_points_per_class():
    z, y = torch.randn(40, 3), torch.arange(40) % 4
    fig = viz.sphere_figure({"before": z, "after": z}, y, list("abcd"))
    assert [t.type for t in fig.data] == (["surface"] + ["scatter3d"] * 4) * 2
    points = np.concatenate([np.c_[t.x, t.y, t.z] for t in fig.data[1:5]])
    assert len(points) == 40
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="\\(N, 3\\)"):
        viz.sphere_figure({"x": torch.randn(5, 2)}, torch.zeros(5, dtype=torch.long), ["a"])


def test_alignment_uniformity_plane_draws_each_run_as_a_path():
    history = [
        {"epoch": 0, "alignment": 0.1, "uniformity": -0.2},
        {"epoch": 1, "loss": 5.0},
        {"epoch": 2, "alignment": 0.5, "uniformity": -2.5},
    ]
    fig = viz.alignment_uniformity_plane({"run": history}, references={"uniform on S¹²⁷": -3.94})
    ax = fig.axes[0]
    path = next(line for line in ax.lines if line.get_label() == "run")
    np.testing.assert_allclose(path.get_xdata(), [-0.2, -2.5])
    np.testing.assert_allclose(path.get_ydata(), [0.1, 0.5])
    assert any(line.get_label() == "uniform on S¹²⁷" for line in ax.lines)


def test_collapse_dashboard_draws_spectra_ranks_and_stds():
    healthy = torch.randn(300, 8)
    collapsed = torch.ones(300, 8) + 1e-3 * torch.randn(300, 8)
    fig = viz.collapse_dashboard({"healthy": (healthy, healthy), "collapsed": (collapsed, collapsed)})
    _, ax_z, ax_std = fig.axes
    line = ax_z.lines[0]
    np.testing.assert_allclose(line.get_ydata(), evaluate.covariance_spectrum(healthy).clamp_min(1e-9).numpy())
    assert line.get_label() == f"healthy: rank {evaluate.effective_rank(healthy):.1f}"
    assert ax_std.lines[1].get_ydata().max() < 0.01 < ax_std.lines[0].get_ydata().min()
    assert any(line.get_label() == "1/√8" for line in ax_std.lines)


def test_geometry_report_collects_knn_measures_and_collapse_metrics():
    train.seed_everything(0)
    method = methods.SimCLR(models.small_cnn(width=4), augment.simclr(16), projection_dim=8)
    encoder = models.small_cnn(width=4)
    images, labels = tiny_images(24), torch.arange(24) % 3
    bank, bank_labels = tiny_images(30, seed=1), torch.arange(30) % 3
    measure = evaluate.view_geometry(images, identity)
    report = evaluate.geometry_report({"method": method}, images, labels, bank, bank_labels, measure=measure, k=5)
    report.update(evaluate.geometry_report({"encoder": encoder}, images, labels, bank, bank_labels, k=5))
    h, z = evaluate.embed(method, images), evaluate.project(method, images)
    expected = {"knn": evaluate.knn_accuracy(evaluate.embed(method, bank), bank_labels, h, labels, k=5),
                **measure(method), **evaluate.collapse_metrics(h, z)}
    assert report["method"] == pytest.approx(expected)
    h = evaluate.embed(encoder, images)
    assert report["encoder"]["rankme_z"] == pytest.approx(evaluate.effective_rank(h))  # no head: z is h
    assert "rankme_h" in evaluate.format_table({"method": report["method"]}, percent=False)


# A fake page for the hover script: one plotly graph div carrying the uid, timers that fire at once.
FAKE_PAGE = """
const handlers = {};
function el() { return { style: {}, children: [], appendChild(c) { this.children.push(c); }, textContent: "" }; }
const gd = Object.assign(el(), {
  layout: { meta: { clkit_thumbnails: UID } },
  on(name, fn) { handlers[name] = fn; },
  getBoundingClientRect() { return { left: 100, top: 50, width: 600, height: 400 }; },
});
const note = el();
global.document = {
  querySelectorAll: () => [gd],
  getElementById: (id) => (id === "clkit-thumbs-" + UID ? note : null),
  createElement: () => el(),
};
global.getComputedStyle = () => ({ position: "static" });
global.setInterval = (fn) => { setImmediate(fn); return 1; };
global.clearInterval = () => {};
eval(SCRIPT);
setImmediate(() => {
  const tip = gd.children[0], img = tip.children[0], caption = tip.children[1];
  handlers.plotly_hover({ points: [{ customdata: 5, data: { name: "odd" } }], event: { clientX: 300, clientY: 150 } });
  const shown = { display: tip.style.display, left: tip.style.left, top: tip.style.top,
                  position: img.style.backgroundPosition, caption: caption.textContent };
  handlers.plotly_unhover();
  shown.after = tip.style.display;
  console.log(JSON.stringify(shown));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the hover script")
def test_hover_script_shows_the_hovered_points_tile_beside_the_pointer():
    fig = viz.umap_plotly({"a": np.random.rand(12, 2)}, torch.arange(12) % 2, ["even", "odd"])
    shown = viz.hover_thumbnails(fig, torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8), zoom=3)
    script = shown.html.split("<script>", 1)[1].split("</script>", 1)[0]
    uid = shown.figure.layout.meta["clkit_thumbnails"]
    page = FAKE_PAGE.replace("UID", json.dumps(uid)).replace("SCRIPT", json.dumps(script))
    result = subprocess.run(["node", "-e", page], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Image 5 of a 4-wide atlas of 8-pixel tiles at zoom 3: column 1, row 1, so the tile starts at (-24, -24).
    assert json.loads(result.stdout) == {"display": "block", "left": "214px", "top": "114px",
                                         "position": "-24px -24px", "caption": "odd · 5", "after": "none"}
