"""Pictures of embedding spaces (notebooks 06–08).

UMAP maps, class-sorted similarity matrices, the circle and the sphere, the alignment–uniformity
plane and the collapse dashboard. Classes are told apart by colour and marker together
(:func:`~clkit.viz.style.class_markers`). umap is imported inside the function that uses it, so
``import clkit.viz`` stays light; the interactive sphere is in :mod:`clkit.viz.interactive`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.viz.style import (
    MAX_WIDTH,
    MIN_FONT,
    REFERENCE,
    _as_numpy,
    cell_size,
    figure,
    legend_below,
    marker_area,
    scatter_classes,
    series_style,
    styled,
    text_width,
)


# Kernels a seeded 2-D UMAP compiles on every fresh start, which umap-learn declares without cache=True.
_UMAP_KERNELS = (
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)


def cache_umap_kernels() -> int:
    """Switch on numba's on-disk cache for the umap kernels :func:`umap_embed` compiles; returns how many.

    umap-learn compiles these with numba on first use, several seconds in every fresh kernel, and
    does not cache them. ``Dispatcher.enable_caching()`` is the switch ``@njit(cache=True)`` sets:
    the first run in a fresh environment still compiles, every later kernel loads the machine code.
    numba keeps the cache in umap's ``__pycache__`` when it is writable, else in the user's cache
    folder, or under ``$NUMBA_CACHE_DIR`` when that is set. Kernels that are missing (another umap
    version) are skipped.
    """
    import importlib

    count = 0
    for module, name in _UMAP_KERNELS:
        kernel = getattr(importlib.import_module(module), name, None)
        if kernel is None or not hasattr(kernel, "enable_caching"):
            continue
        if type(getattr(kernel, "_cache", None)).__name__ == "NullCache":
            kernel.enable_caching()
        count += 1
    return count


def umap_embed(
    features: Tensor | np.ndarray,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int = 200,
    init: str = "spectral",
    progress: bool = True,
) -> np.ndarray:
    """2-D UMAP coordinates of (N, D) features under the cosine metric, the same for the same seed.

    Three choices keep it fast in a fresh kernel (``bench/bench_umap.py`` measures them):

    - the exact cosine neighbours come from :func:`clkit.evaluate.nearest_neighbours` (one matrix
      product) and are handed to UMAP, which skips its approximate search and the tens of seconds
      pynndescent spends compiling it on first use;
    - UMAP's own numba kernels are cached on disk (:func:`cache_umap_kernels`);
    - ``n_epochs=200``, UMAP's own choice for large data (it uses 500 below 10,000 points).

    A seeded UMAP runs single-threaded. ``progress`` shows a bar over the layout epochs.

    Args:
        features: (N, D) float, N ≥ 3.
    Returns:
        (N, 2) float32 array.
    """
    import warnings

    import umap

    from clkit.evaluate import nearest_neighbours

    x = torch.as_tensor(_as_numpy(features)).float()
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"UMAP needs (N, D) features with N ≥ 3, got shape {tuple(x.shape)}")
    k = min(n_neighbors, len(x) - 1)
    cache_umap_kernels()
    neighbours = nearest_neighbours(x, x, k=k)  # each point is its own first neighbour, as UMAP expects
    distances = (1 - neighbours.similarities).clamp_min(0).numpy()
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=min_dist,
        metric="cosine",
        n_epochs=n_epochs,
        init=init,
        random_state=seed,
        precomputed_knn=(neighbours.indices.numpy(), distances),
        tqdm_kwds={"disable": not progress, "desc": "UMAP layout", "leave": False},
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value")  # seeded runs are single-threaded: we know
        warnings.filterwarnings("ignore", message="precomputed_knn")  # no search index: we never call transform
        coords = reducer.fit_transform(x.numpy())
    return np.asarray(coords, dtype=np.float32)


def _class_legend(fig: Figure, ax, size: float) -> None:
    # The classes under the panels, their markers drawn at about 9 pt whatever the points' size.
    legend_below(fig, *ax.get_legend_handles_labels(), markerscale=9 / size**0.5)


@styled
def umap_panels(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    size: float = 3.8,
    point_size: float | None = None,
) -> Figure:
    """Side-by-side 2-D scatter plots of the same points, one panel per feature set, each class in its own colour
    and marker, the classes named under the panels.

    Args:
        coords: name → (N, 2) coordinates (e.g. from :func:`umap_embed`), the same N points in each.
        labels: (N,) class indices into ``classes``.
        size: a panel's side in inches, made smaller if the panels would not fit the width.
        point_size: marker area in points²; by default 12 to 40, smaller for more points.
    """
    y = _as_numpy(labels)
    point_size = point_size or marker_area(len(y))
    size = cell_size(len(coords), size)
    fig = figure(size * len(coords), size + 0.3)
    axes = fig.subplots(1, len(coords), squeeze=False)[0]
    for ax, (name, xy) in zip(axes, coords.items()):
        scatter_classes(ax, _as_numpy(xy), y, classes, point_size)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    _class_legend(fig, axes[0], point_size)
    return fig


@styled
def similarity_by_class(
    features: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    ax_size: float = 3.6,
) -> Figure:
    """Cosine-similarity matrices of the same points under several feature sets, sorted by class.

    Rows and columns are grouped by class (lines mark the blocks), so a space that agrees with
    the labels shows bright diagonal blocks. Each panel's colours span its own similarities (2nd to
    98th percentile off the diagonal): features that are all non-negative, such as pixels or ReLU
    outputs, never go below 0, and one shared −1…1 scale would hide their structure. Each title
    gives the mean similarity within classes (off the diagonal) and across them, comparable
    between panels.

    Args:
        features: name → (N, D) features of the same N points.
        labels: (N,) class indices; a class-balanced sample of a few hundred points reads best.
        ax_size: a panel's side in inches, made smaller if the panels would not fit the width.
    """
    import torch.nn.functional as F

    y = torch.as_tensor(labels).cpu()
    order = torch.argsort(y, stable=True)
    y = y[order]
    present = torch.unique(y)
    bounds = [int((y < c).sum()) for c in present] + [len(y)]
    same = y[:, None] == y[None, :]
    off_diagonal = ~torch.eye(len(y), dtype=torch.bool)
    names = [classes[int(c)] for c in present]
    label_width = max(text_width(name, MIN_FONT) for name in names) + 0.2
    ax_size = cell_size(len(features), ax_size + 0.9, reserved=label_width) - 0.9  # each with its colour bar
    fig = figure((ax_size + 0.9) * len(features) + label_width, ax_size + label_width + 0.9)
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    for ax, (name, z) in zip(axes, features.items()):
        x = F.normalize(z[order].float().cpu(), dim=1)
        sim = x @ x.T
        within = sim[same & off_diagonal].mean().item()
        across = sim[~same].mean().item() if (~same).any() else float("nan")
        low, high = torch.quantile(sim[off_diagonal], torch.tensor([0.02, 0.98])).tolist()
        image = ax.imshow(sim.numpy(), cmap="viridis", vmin=low, vmax=max(high, low + 1e-6),
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.75, pad=0.03)
        for b in bounds[1:-1]:
            ax.axhline(b - 0.5, color="black", lw=0.8)
            ax.axvline(b - 0.5, color="black", lw=0.8)
        centres = [(bounds[i] + bounds[i + 1] - 1) / 2 for i in range(len(present))]
        ax.set_xticks(centres, names, rotation=90)
        ax.set_yticks(centres, names if ax is axes[0] else [])
        ax.set_title(f"{name}\nwithin {within:.2f} · across {across:.2f}")
    fig.suptitle("cosine similarity, sorted by class")
    fig.tight_layout()
    return fig


@styled
def circle_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    spread: float = 0.15,
    seed: int = 0,
    ax_size: float = 3.8,
) -> Figure:
    """2-D embeddings on the unit circle, one panel per entry (e.g. before and after training).

    Each point sits at the angle of its ℓ2-normalised embedding; its radius, between 1 and
    1 + ``spread``, is random and only keeps overlapping points visible.

    Args:
        z: name → (N, 2) embeddings.
        labels: (N,) class indices into ``classes``.
    """
    import torch.nn.functional as F

    y = _as_numpy(labels)
    point_size = marker_area(len(y))
    ax_size = cell_size(len(z), ax_size)
    fig = figure(ax_size * len(z), ax_size + 0.3)
    axes = fig.subplots(1, len(z), squeeze=False)[0]
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, (name, points) in zip(axes, z.items()):
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"circle_figure needs (N, 2) embeddings, got {tuple(points.shape)} for {name!r}")
        u = F.normalize(points.float().cpu(), dim=1).numpy()
        radius = 1 + spread * np.random.default_rng(seed).random(len(u))
        ax.plot(np.cos(theta), np.sin(theta), color=REFERENCE, lw=1)
        scatter_classes(ax, u * radius[:, None], y, classes, point_size)
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_axis_off()
        ax.set_title(name)
    _class_legend(fig, axes[0], point_size)
    return fig


@styled
def sphere_panels(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    ax_size: float = 4.2,
    elevation: float = 20.0,
    azimuth: float = 35.0,
) -> Figure:
    """3-D embeddings on the unit sphere, one panel per entry, seen from one direction: the static twin of
    :func:`~clkit.viz.interactive.sphere_figure`.

    Args:
        z: name → (N, 3) embeddings; labels: (N,) class indices into ``classes``.
        elevation, azimuth: the direction the spheres are seen from, in degrees.
    """
    import torch.nn.functional as F

    y = _as_numpy(labels)
    point_size = marker_area(len(y))
    ax_size = cell_size(len(z), ax_size)
    fig = figure(ax_size * len(z), ax_size + 0.3)
    u, v = np.mgrid[0 : 2 * np.pi : 25j, 0 : np.pi : 13j]
    for p, (name, points) in enumerate(z.items()):
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"sphere_panels needs (N, 3) embeddings, got {tuple(points.shape)} for {name!r}")
        ax = fig.add_subplot(1, len(z), p + 1, projection="3d")
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color=REFERENCE, lw=0.4,
                          alpha=0.4)
        scatter_classes(ax, F.normalize(points.float().cpu(), dim=1).numpy(), y, classes, point_size, alpha=0.9)
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
        ax.set_box_aspect((1, 1, 1), zoom=1.4)  # the sphere fills its panel
        ax.set_axis_off()
        ax.set_title(name)
    _class_legend(fig, fig.axes[0], point_size)
    return fig


@styled
def alignment_uniformity_plane(
    histories: dict[str, object],
    references: dict[str, float] | None = None,
    size: float = 5.0,
) -> Figure:
    """Runs as paths on the alignment–uniformity plane of Wang & Isola (2020).

    x is uniformity, log E exp(−2‖z_i − z_j‖²), y is alignment, E‖z − z⁺‖²; one marker per
    measured epoch, the first hollow and the last labelled with its epoch. Down and to the left is
    better: positives close together, the data spread over the sphere. A collapsed run ends at (0, 0).
    Each run has its own colour and marker; the references are grey lines, each with its own dashes.

    Args:
        histories: name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold
            ``alignment`` and ``uniformity`` (from :func:`clkit.evaluate.view_geometry`).
        references: label → a uniformity value drawn as a vertical line, e.g.
            ``{"uniform on S¹²⁷": -3.94}``.
    """
    fig = figure(size + 2.0, size)
    ax = fig.subplots()
    for i, (name, history) in enumerate(histories.items()):
        style = series_style(i)
        records = history.epochs if hasattr(history, "epochs") else history
        points = [(r["uniformity"], r["alignment"], r["epoch"]) for r in records if "alignment" in r]
        if not points:
            continue
        x, y, epochs = zip(*points)
        ax.plot(x, y, lw=1.5, ms=6, label=name, **style)
        ax.plot(x[0], y[0], ls="", ms=10, mfc="white", mew=2, **style)
        ax.annotate(f"epoch {epochs[-1]:g}", (x[-1], y[-1]), textcoords="offset points", xytext=(6, 6),
                    color=style["color"])
    for (label, value), dashes in zip((references or {}).items(), ["--", ":", "-.", (0, (1, 3))]):
        ax.axvline(value, color=REFERENCE, ls=dashes, lw=1.5, label=label)
    ax.set_xlabel("uniformity  log E exp(−2‖z − z′‖²)")
    ax.set_ylabel("alignment  E‖z − z⁺‖²")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


@styled
def collapse_dashboard(runs: dict[str, tuple[Tensor, Tensor]], floor: float = 1e-9, size: float = 3.8) -> Figure:
    """Dimensional collapse at a glance, for each run's backbone features h and projections z.

    Three panels: the eigenvalues of the covariance of ℓ2-normalised h and of ℓ2-normalised z,
    largest first on a log scale (Jing et al. 2022; values under ``floor`` are drawn at it), with
    each run's effective rank (RankMe) in the legend; and the per-dimension std of normalised z,
    sorted, against 1/√D, the value for embeddings spread evenly over the sphere (SimSiam's
    collapse check). A collapsed run sits at the bottom of all three. Each run has its own colour
    and marker.

    Args:
        runs: name → (h (N, D_h), z (N, D_z)) of the same N images.
        size: a panel's height in inches; the three share the width.
    """
    from clkit.evaluate import covariance_spectrum, effective_rank, per_dimension_std

    fig = figure(MAX_WIDTH, size + 0.4)
    ax_h, ax_z, ax_std = fig.subplots(1, 3)
    dims = set()
    for i, (name, (h, z)) in enumerate(runs.items()):
        style = series_style(i)
        for ax, x in ((ax_h, h), (ax_z, z)):
            spectrum = covariance_spectrum(x).clamp_min(floor).numpy()
            ax.plot(np.arange(1, len(spectrum) + 1), spectrum, markevery=_every(len(spectrum)),
                    label=f"{name}: rank {effective_rank(x):.1f}", **style)
        std = np.sort(per_dimension_std(z).numpy())[::-1]
        ax_std.plot(np.arange(1, len(std) + 1), std, markevery=_every(len(std)), label=name, **style)
        dims.add(z.shape[1])
    for d in sorted(dims):
        ax_std.axhline(1 / np.sqrt(d), color=REFERENCE, ls="--", lw=1.5, label=f"1/√{d}")
    for ax, title in ((ax_h, "covariance spectrum of h"), (ax_z, "covariance spectrum of z")):
        ax.set_yscale("log")
        ax.set_xlabel("index, largest first")
        ax.set_title(title)
    ax_h.set_ylabel("eigenvalue (normalised embeddings)")
    ax_std.set_xlabel("dimension, sorted")
    ax_std.set_title("per-dimension std of z / ‖z‖")
    for ax in (ax_h, ax_z, ax_std):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def _every(n: int) -> int:
    # A marker every n/8 points along a dense line: enough to tell the line by its marker, few enough to see it.
    return max(1, n // 8)
