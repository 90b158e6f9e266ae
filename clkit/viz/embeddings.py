"""Pictures of embedding spaces (notebook 05).

UMAP maps, class-sorted similarity matrices, the circle and the sphere, the alignment–uniformity
plane and the collapse dashboard. umap and plotly are imported inside the functions that use
them, so ``import clkit.viz`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from clkit.viz.style import _as_numpy, class_colours


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


def umap_panels(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    size: float = 3.8,
    point_size: float | None = None,
) -> Figure:
    """Side-by-side 2-D scatter plots of the same points, one panel per feature set, coloured by class.

    Args:
        coords: name → (N, 2) coordinates (e.g. from :func:`umap_embed`), the same N points in each.
        labels: (N,) class indices into ``classes``.
    """
    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    point_size = point_size or float(np.clip(3000 / max(1, len(y)), 1, 12))
    fig = Figure(figsize=(size * len(coords) + 1.4, size))
    axes = fig.subplots(1, len(coords), squeeze=False)[0]
    for ax, (name, xy) in zip(axes, coords.items()):
        xy = _as_numpy(xy)
        for c, label in enumerate(classes):
            inside = y == c
            ax.scatter(xy[inside, 0], xy[inside, 1], s=point_size, color=colours[c], alpha=0.7, lw=0, label=label)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", markerscale=12 / point_size ** 0.5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig


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
    """
    import torch.nn.functional as F

    y = torch.as_tensor(labels).cpu()
    order = torch.argsort(y, stable=True)
    y = y[order]
    present = torch.unique(y)
    bounds = [int((y < c).sum()) for c in present] + [len(y)]
    same = y[:, None] == y[None, :]
    off_diagonal = ~torch.eye(len(y), dtype=torch.bool)
    fig = Figure(figsize=((ax_size + 0.7) * len(features), ax_size + 0.4))
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    for ax, (name, z) in zip(axes, features.items()):
        x = F.normalize(z[order].float().cpu(), dim=1)
        sim = x @ x.T
        within = sim[same & off_diagonal].mean().item()
        across = sim[~same].mean().item() if (~same).any() else float("nan")
        low, high = torch.quantile(sim[off_diagonal], torch.tensor([0.02, 0.98])).tolist()
        image = ax.imshow(sim.numpy(), cmap="viridis", vmin=low, vmax=max(high, low + 1e-6), interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02)
        for b in bounds[1:-1]:
            ax.axhline(b - 0.5, color="black", lw=0.6)
            ax.axvline(b - 0.5, color="black", lw=0.6)
        centres = [(bounds[i] + bounds[i + 1] - 1) / 2 for i in range(len(present))]
        names = [classes[int(c)] for c in present]
        ax.set_xticks(centres, names, rotation=90, fontsize=7)
        ax.set_yticks(centres, names if ax is axes[0] else [], fontsize=7)
        ax.set_title(f"{name}\nwithin {within:.2f} · across {across:.2f}", fontsize=9)
    fig.suptitle("cosine similarity, sorted by class", fontsize=10)
    fig.tight_layout()
    return fig


def circle_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    spread: float = 0.15,
    seed: int = 0,
    ax_size: float = 3.4,
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
    colours = class_colours(len(classes))
    fig = Figure(figsize=(ax_size * len(z) + 1.4, ax_size))
    axes = fig.subplots(1, len(z), squeeze=False)[0]
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, (name, points) in zip(axes, z.items()):
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"circle_figure needs (N, 2) embeddings, got {tuple(points.shape)} for {name!r}")
        u = F.normalize(points.float().cpu(), dim=1).numpy()
        radius = 1 + spread * np.random.default_rng(seed).random(len(u))
        ax.plot(np.cos(theta), np.sin(theta), color="grey", lw=0.8)
        for c, label in enumerate(classes):
            inside = y == c
            ax.scatter(*(u[inside] * radius[inside, None]).T, s=6, color=colours[c], alpha=0.6, lw=0, label=label)
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_axis_off()
        ax.set_title(name)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", markerscale=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig


def sphere_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    height: int = 420,
    point_size: int = 2,
):
    """3-D embeddings on the unit sphere (plotly, rotatable), one scene per entry.

    Each scene holds a faint sphere and one Scatter3d trace per class of the ℓ2-normalised points.

    Args:
        z: name → (N, 3) embeddings; labels: (N,) class indices into ``classes``.
    Returns:
        ``plotly.graph_objects.Figure`` with ``len(z) * (1 + len(classes))`` traces.
    """
    import plotly.graph_objects as go
    import torch.nn.functional as F
    from plotly.subplots import make_subplots

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = make_subplots(rows=1, cols=len(z), specs=[[{"type": "scene"}] * len(z)], subplot_titles=list(z),
                        horizontal_spacing=0.01)
    u, v = np.mgrid[0 : 2 * np.pi : 40j, 0 : np.pi : 20j]
    for p, (name, points) in enumerate(z.items()):
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"sphere_figure needs (N, 3) embeddings, got {tuple(points.shape)} for {name!r}")
        s = F.normalize(points.float().cpu(), dim=1).numpy()
        fig.add_trace(
            go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.12,
                       showscale=False, colorscale=[[0, "lightgrey"], [1, "lightgrey"]], hoverinfo="skip"),
            row=1, col=p + 1,
        )
        for c, label in enumerate(classes):
            inside = y == c
            fig.add_trace(
                go.Scatter3d(x=s[inside, 0], y=s[inside, 1], z=s[inside, 2], mode="markers", name=label,
                             legendgroup=label, showlegend=p == 0,
                             marker={"size": point_size, "color": colours[c], "opacity": 0.8},
                             hovertemplate=f"<b>{label}</b><extra>{name}</extra>"),
                row=1, col=p + 1,
            )
    axis = {"visible": False}
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend={"itemsizing": "constant"})
    return fig


def alignment_uniformity_plane(
    histories: dict[str, object],
    references: dict[str, float] | None = None,
    size: float = 4.6,
) -> Figure:
    """Runs as paths on the alignment–uniformity plane of Wang & Isola (2020).

    x is uniformity, log E exp(−2‖z_i − z_j‖²), y is alignment, E‖z − z⁺‖²; one marker per
    measured epoch, the first hollow and the last labelled with its epoch. Down and to the left is
    better: positives close together, the data spread over the sphere. A collapsed run ends at (0, 0).

    Args:
        histories: name → :class:`clkit.train.History` (or its ``epochs`` list) whose records hold
            ``alignment`` and ``uniformity`` (from :func:`clkit.evaluate.view_geometry`).
        references: label → a uniformity value drawn as a vertical line, e.g.
            ``{"uniform on S¹²⁷": -3.94}``.
    """
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    for (name, history), colour in zip(histories.items(), class_colours(max(10, len(histories)))):
        records = history.epochs if hasattr(history, "epochs") else history
        points = [(r["uniformity"], r["alignment"], r["epoch"]) for r in records if "alignment" in r]
        if not points:
            continue
        x, y, epochs = zip(*points)
        ax.plot(x, y, color=colour, lw=1, marker="o", ms=3, label=name)
        ax.plot(x[0], y[0], "o", ms=7, mfc="white", mec=colour)
        ax.annotate(f"epoch {epochs[-1]:g}", (x[-1], y[-1]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                    color=colour)
    for (label, value), style in zip((references or {}).items(), ["--", ":", "-.", (0, (1, 3))]):
        ax.axvline(value, color="grey", ls=style, lw=1, label=label)
    ax.set_xlabel("uniformity  log E exp(−2‖z − z′‖²)")
    ax.set_ylabel("alignment  E‖z − z⁺‖²")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def collapse_dashboard(runs: dict[str, tuple[Tensor, Tensor]], floor: float = 1e-9, size: float = 3.8) -> Figure:
    """Dimensional collapse at a glance, for each run's backbone features h and projections z.

    Three panels: the eigenvalues of the covariance of ℓ2-normalised h and of ℓ2-normalised z,
    largest first on a log scale (Jing et al. 2022; values under ``floor`` are drawn at it), with
    each run's effective rank (RankMe) in the legend; and the per-dimension std of normalised z,
    sorted, against 1/√D, the value for embeddings spread evenly over the sphere (SimSiam's
    collapse check). A collapsed run sits at the bottom of all three.

    Args:
        runs: name → (h (N, D_h), z (N, D_z)) of the same N images.
    """
    from clkit.evaluate import covariance_spectrum, effective_rank, per_dimension_std

    fig = Figure(figsize=(3 * size + 0.5, size))
    ax_h, ax_z, ax_std = fig.subplots(1, 3)
    colours = class_colours(max(10, len(runs)))
    dims = set()
    for (name, (h, z)), colour in zip(runs.items(), colours):
        for ax, x in ((ax_h, h), (ax_z, z)):
            spectrum = covariance_spectrum(x).clamp_min(floor).numpy()
            ax.plot(np.arange(1, len(spectrum) + 1), spectrum, color=colour, lw=1.5,
                    label=f"{name}: rank {effective_rank(x):.1f}")
        std = np.sort(per_dimension_std(z).numpy())[::-1]
        ax_std.plot(np.arange(1, len(std) + 1), std, color=colour, lw=1.5, label=name)
        dims.add(z.shape[1])
    for d in sorted(dims):
        ax_std.axhline(1 / np.sqrt(d), color="grey", ls="--", lw=1, label=f"1/√{d}")
    for ax, title in ((ax_h, "covariance spectrum of h"), (ax_z, "covariance spectrum of z")):
        ax.set_yscale("log")
        ax.set_xlabel("index, largest first")
        ax.set_title(title)
    ax_h.set_ylabel("eigenvalue (normalised embeddings)")
    ax_std.set_xlabel("dimension, sorted")
    ax_std.set_title("per-dimension std of z / ‖z‖")
    for ax in (ax_h, ax_z, ax_std):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
