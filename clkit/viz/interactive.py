"""Interactive plotly figures: the UMAP scatter, and image thumbnails shown on hover.

The hover script lives in ``hover.js`` beside this module. It is a template: ``UID``, ``ATLAS``,
``TILE``, ``COLS`` and ``ZOOM`` in it are replaced by :func:`hover_thumbnails` before it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import numpy as np
from torch import Tensor

from clkit.viz.images import thumbnail_atlas
from clkit.viz.style import _as_numpy, class_colours

# The output under the figure: a note, whose text the script changes once it runs, then the script.
_HOVER_NOTE = (
    '<div id="clkit-thumbs-UID" style="font:12px sans-serif;color:#777">\n'
    "  (image thumbnails on hover need JavaScript: a trusted notebook in JupyterLab or Jupyter Notebook)</div>\n"
)


def _hover_template() -> str:
    """The HTML of the hover output, its placeholders not yet filled in."""
    script = files("clkit.viz").joinpath("hover.js").read_text(encoding="utf-8")
    return "\n" + _HOVER_NOTE + "<script>\n" + script + "</script>\n"


def umap_plotly(
    coords: dict[str, np.ndarray],
    labels: Tensor | np.ndarray,
    classes: Sequence[str],
    height: int = 420,
    point_size: int = 4,
):
    """The interactive version of :func:`umap_panels`: a plotly figure, one subplot per feature set.

    One trace per class and panel, grouped in the legend, so clicking a class hides it everywhere.
    Each point's ``customdata`` is its row index (into ``labels``, and into the images that
    :func:`hover_thumbnails` shows on hover); its hover label gives the class and that index.

    Returns:
        ``plotly.graph_objects.Figure`` with ``len(coords) * len(classes)`` Scattergl traces.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    y = _as_numpy(labels)
    colours = class_colours(len(classes))
    fig = make_subplots(rows=1, cols=len(coords), subplot_titles=list(coords), horizontal_spacing=0.02)
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
                    marker={"color": colours[c], "size": point_size, "opacity": 0.8},
                    hovertemplate=f"<b>{label}</b><br>image %{{customdata}}<extra>{name}</extra>",
                ),
                row=1,
                col=p + 1,
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"itemsizing": "constant"})
    return fig


class HoverThumbnails:
    """A plotly figure whose points show their image beside the pointer on hover.

    Displaying it shows the figure (through plotly's own renderer) and, under it, a small HTML
    output whose script finds that figure on the page and attaches a ``plotly_hover`` handler
    drawing the point's tile of an image atlas. Plotly's hover labels cannot hold images; this
    works wherever notebook outputs may run JavaScript (JupyterLab, Jupyter Notebook, HTML
    exports); elsewhere the hover label still names the class and the image index.

    Attributes:
        figure: the ``plotly.graph_objects.Figure`` (its ``layout.meta`` carries the link).
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
        figure: e.g. from :func:`umap_plotly`; it is copied, not changed.
        images: (N, C, H, W), row i is the image of every point whose customdata is i.
        zoom: the thumbnail's magnification (pixels are kept sharp).
    """
    import uuid

    import plotly.graph_objects as go

    uid = uuid.uuid4().hex
    figure = go.Figure(figure)
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
