"""Interactive plotly figures: the UMAP scatter, the sphere, and image thumbnails shown on hover.

Each figure is a :class:`~clkit.viz.twin.TwinFigure`: a plotly figure that carries a matplotlib picture of the
same data and sends it in the same output, for every reader whose viewer cannot run plotly (a repository page,
an HTML export); :mod:`clkit.viz.twin` says how and why. plotly is imported inside the functions that use it,
so ``import clkit.viz`` stays light.

The hover script lives in ``hover.js`` beside this module. It is a template: ``UID``, ``ATLAS``,
``TILE``, ``COLS`` and ``ZOOM`` in it are replaced by :func:`hover_thumbnails` before it is shown.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib.resources import files

import numpy as np
from torch import Tensor

from clkit.viz.images import thumbnail_atlas
from clkit.viz.style import _as_numpy, class_colours, class_markers

# The output under the figure: a note, whose text the script changes once it runs, then the script.
_HOVER_NOTE = (
    '<div id="clkit-thumbs-UID" style="font:15px sans-serif;color:#666">\n'
    "  (image thumbnails on hover need JavaScript: run this cell in JupyterLab or Jupyter Notebook)</div>\n"
)


def _hover_template() -> str:
    """The HTML of the hover output, its placeholders not yet filled in."""
    script = files("clkit.viz").joinpath("hover.js").read_text(encoding="utf-8")
    return "\n" + _HOVER_NOTE + "<script>\n" + script + "</script>\n"


#: plotly's name for each of the class markers (:data:`~clkit.viz.style.MARKERS`), in 2-D plots.
SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down", "P": "cross",
           "X": "x"}
# Text of 15 px, 11 pt at the 96 px per inch of a page.
_FONT = {"size": 15}


def umap_plotly(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    height: int = 460,
    point_size: int = 6,
):
    """The interactive version of :func:`~clkit.viz.embeddings.umap_panels`: a plotly figure, one subplot per
    feature set, with :func:`~clkit.viz.embeddings.umap_panels` of the same points as its static twin.

    One trace per class and panel, grouped in the legend, so clicking a class hides it everywhere; each class
    has its colour and its marker. Each point's ``customdata`` is its row index (into ``labels``, and into the
    images that :func:`hover_thumbnails` shows on hover); its hover label gives the class and that index.

    Returns:
        a :class:`~clkit.viz.twin.TwinFigure` (a plotly ``Figure``) with ``len(coords) * len(classes)``
        Scattergl traces.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from clkit.viz.embeddings import umap_panels
    from clkit.viz.twin import TwinFigure

    y = _as_numpy(labels)
    colours, markers = class_colours(len(classes)), class_markers(len(classes))
    fig = TwinFigure(draw_static=functools.partial(umap_panels, coords, labels, classes))
    make_subplots(rows=1, cols=len(coords), subplot_titles=list(coords), horizontal_spacing=0.02, figure=fig)
    for p, (name, xy) in enumerate(coords.items()):
        xy = _as_numpy(xy)
        for c, label in enumerate(classes):
            rows = np.flatnonzero(y == c)
            fig.add_trace(
                go.Scattergl(
                    x=xy[rows, 0],
                    y=xy[rows, 1],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=p == 0,
                    customdata=rows,
                    marker={"color": colours[c], "symbol": SYMBOLS[markers[c]], "size": point_size,
                            "opacity": 0.8},
                    hovertemplate=f"<b>{label}</b><br>image %{{customdata}}<extra>{name}</extra>",
                ),
                row=1,
                col=p + 1,
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font=_FONT)  # the subplot titles
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, font=_FONT,
                      legend={"itemsizing": "constant"})
    return fig


def sphere_figure(
    z: dict[str, Tensor],
    labels: Tensor,
    classes: Sequence[str],
    height: int = 460,
    point_size: int = 4,
):
    """3-D embeddings on the unit sphere (plotly, rotatable), one scene per entry, with
    :func:`~clkit.viz.embeddings.sphere_panels` of the same points as its static twin.

    Each scene holds a faint sphere and one Scatter3d trace per class of the ℓ2-normalised points
    (plotly's 3-D markers are circles; the static twin gives each class its marker too).

    Args:
        z: name → (N, 3) embeddings; labels: (N,) class indices into ``classes``.
    Returns:
        a :class:`~clkit.viz.twin.TwinFigure` (a plotly ``Figure``) with ``len(z) * (1 + len(classes))`` traces.
    """
    import plotly.graph_objects as go
    import torch.nn.functional as F
    from plotly.subplots import make_subplots

    from clkit.viz.embeddings import sphere_panels
    from clkit.viz.twin import TwinFigure

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = TwinFigure(draw_static=functools.partial(sphere_panels, z, labels, classes))
    make_subplots(rows=1, cols=len(z), specs=[[{"type": "scene"}] * len(z)], subplot_titles=list(z),
                  horizontal_spacing=0.01, figure=fig)
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
                             marker={"size": point_size, "color": colours[c], "opacity": 0.85},
                             hovertemplate=f"<b>{label}</b><extra>{name}</extra>"),
                row=1, col=p + 1,
            )
    axis = {"visible": False}
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_annotations(font=_FONT)
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, font=_FONT,
                      legend={"itemsizing": "constant"})
    return fig


class HoverThumbnails:
    """A plotly figure whose points show their image beside the pointer on hover.

    Displaying it shows the figure (through plotly's own renderer) and, under it, a small HTML
    output whose script finds that figure on the page and attaches a ``plotly_hover`` handler
    drawing the point's tile of an image atlas. Plotly's hover labels cannot hold images; this
    works wherever notebook outputs may run JavaScript (JupyterLab, Jupyter Notebook, HTML
    exports); elsewhere the hover label still names the class and the image index.

    Attributes:
        figure: the :class:`~clkit.viz.twin.TwinFigure` (its ``layout.meta`` carries the link).
        html: the HTML and script of the second output.
    """

    def __init__(self, figure, html: str):
        self.figure = figure
        self.html = html

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(self.figure)
        display(HTML(self.html))


def hover_thumbnails(figure, images: Tensor, zoom: int = 3) -> HoverThumbnails:
    """Attach image thumbnails to a plotly figure whose points carry their row index as ``customdata``.

    Args:
        figure: e.g. from :func:`umap_plotly`; it is copied (with its static twin, if it has one), not changed.
        images: (N, C, H, W), row i is the image of every point whose customdata is i.
        zoom: the thumbnail's magnification (pixels are kept sharp).
    """
    import uuid

    from clkit.viz.twin import TwinFigure

    uid = uuid.uuid4().hex
    figure = TwinFigure(figure)
    figure.update_layout(meta={"clkit_thumbnails": uid})
    atlas, cols = thumbnail_atlas(images)
    html = (
        _hover_template().replace("UID", uid)
        .replace("ATLAS", atlas)
        .replace("TILE", str(images.shape[-1]))
        .replace("COLS", str(cols))
        .replace("ZOOM", str(zoom))
    )
    return HoverThumbnails(figure, html)
