"""A plotly figure with a static twin: a matplotlib picture of the same data, sent in the same output.

A plotly figure is drawn by JavaScript in the page. A repository page (GitHub), an HTML export or any viewer
without plotly's renderer draws nothing for it, so every plotly figure of the kit is a :class:`TwinFigure`: it
carries a function that draws the same data with matplotlib, and its output's bundle holds both
``application/vnd.plotly.v1+json`` and that picture as ``image/png``. A frontend with plotly's renderer
(JupyterLab, Notebook 7, VS Code) draws the interactive figure; every other one shows the picture.

Why the picture must be in the plotly output itself: JupyterLab's plotly renderer (``jupyterlab-plotly``) draws an
output whose bundle has no ``image/png``, then rasterises what it drew and writes that PNG into the output, for
the viewers without plotly. A notebook stored with a plotly-only output is therefore changed each time it is
opened, and marked modified. An output that has its PNG is shown as that PNG and left alone.

So the live figure and the stored one differ, and :meth:`TwinFigure._ipython_display_` sends it in two steps:
first without the PNG, which a live frontend draws interactively, then an update of the same output (same
display id) that adds the PNG. The renderer keeps a graph it has already drawn, and whoever stores the notebook
(JupyterLab on save, nbclient when a notebook is executed) stores the updated bundle, which opens unchanged.
Reopened, the output shows the picture until its cell is run again, as every plotly output does in JupyterLab
once saved.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import plotly.graph_objects as go
import plotly.io as pio
from matplotlib.figure import Figure

from clkit.viz.style import to_png

#: The mime type of plotly's JSON, which plotly's frontends draw.
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class TwinFigure(go.Figure):
    """A plotly ``Figure`` that also draws itself as a static matplotlib picture (see the module's notes).

    It is a plotly figure in every way (traces, layout, ``update_layout``, ``go.Figure(twin)``), plus
    :meth:`static`. Copies (``TwinFigure(twin)``, ``copy.deepcopy``) keep the twin. The picture is drawn from the data
    the figure was made from, when it is needed, so later changes to the plotly figure do not reach it.

    Args:
        data, layout, frames, skip_invalid, kwargs: what ``go.Figure`` takes; ``data`` may be another figure.
        draw_static: makes the static twin; by default that of ``data`` when it is a ``TwinFigure``.
    """

    def __init__(self, data=None, layout=None, frames=None, skip_invalid=False, *,
                 draw_static: Callable[[], Figure] | None = None, **kwargs):
        super().__init__(data, layout, frames, skip_invalid, **kwargs)
        self._draw_static = draw_static if draw_static is not None else getattr(data, "_draw_static", None)

    def __reduce__(self):
        # Copies and pickles keep the twin (pickles need a picklable ``draw_static``, e.g. a functools.partial).
        return (*super().__reduce__(), {"_draw_static": self._draw_static})

    def static(self) -> Figure:
        """The static twin: a matplotlib ``Figure`` of the same data, drawn anew on each call."""
        if self._draw_static is None:
            raise ValueError("this figure has no static twin")
        return self._draw_static()

    def _interactive_bundle(self) -> dict:
        # What plotly's default renderer sends, and always its JSON, which JupyterLab and VS Code draw.
        bundle = super()._repr_mimebundle_()
        if PLOTLY_MIME not in bundle:
            bundle.update(pio.renderers["plotly_mimetype"].to_mimebundle(self.to_dict()))
        bundle["text/plain"] = f"<{len(self.data)}-trace plotly figure; a static picture of it in image/png>"
        return bundle

    def _static_bundle(self) -> dict:
        return {} if self._draw_static is None else {"image/png": base64.b64encode(to_png(self.static())).decode()}

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        """The interactive figure and its static twin in one bundle."""
        return {**self._interactive_bundle(), **self._static_bundle()}

    def _ipython_display_(self) -> None:
        """Show the interactive figure, then add its static twin to the same output (see the module's notes)."""
        from IPython import get_ipython
        from IPython.display import display

        if getattr(get_ipython(), "kernel", None) is None:  # a terminal: nothing is stored, nothing to update
            display(self._repr_mimebundle_(), raw=True)
            return
        interactive = self._interactive_bundle()
        handle = display(interactive, raw=True, display_id=True)
        handle.update({**interactive, **self._static_bundle()}, raw=True)
