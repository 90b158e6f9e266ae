"""What every figure shares: one style sized for a projector, colours that survive colour-vision deficiency,
PNG display in IPython and image/array conversion.

**Sizes.** A notebook shows a returned ``Figure`` as a PNG of :data:`DPI` (100) pixels per inch, cut to its
contents (``bbox_inches="tight"``), one PNG pixel to one pixel of the page. A notebook's output column is about
1000 pixels wide on a laptop or a projector, so a figure at most :data:`MAX_WIDTH` (10 inches) wide is shown as
it is, not scaled down, and text set at 11 pt is seen at 11 pt. Every figure function makes its figure with
:func:`figure`, which keeps it within MAX_WIDTH, and is wrapped in :func:`styled`, which makes its artists under
:data:`RC`: text of at least :data:`MIN_FONT` points (titles and labels 12), lines 2 points wide.

**Colours.** Classes take Petroff's ten-colour sequence (:data:`CLASS_COLOURS`), chosen so that every pair stays
apart under the common colour-vision deficiencies, and each class also takes a marker of its own
(:func:`class_markers`), so a class is never told by its colour alone. Series (runs, temperatures) take the
Okabe–Ito colours without their yellow (:data:`SERIES_COLOURS`), each with a marker or a line style too. Colours
that carry a meaning are named once here (:data:`POSITIVE`, :data:`NEGATIVE`, :data:`HARD_NEGATIVE`,
:data:`SAME_CLASS`, :data:`OTHER_CLASS`): blues against orange or vermillion, never red against green or orange
against red, and each also told by a marker or a line style.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure
from torch import Tensor

from clkit.data import to_float

#: Pixels per inch of the PNG a notebook shows.
DPI = 100
#: The widest figure, in inches: 1000 pixels at :data:`DPI`, which a notebook's output column shows unscaled.
MAX_WIDTH = 10.0
#: The smallest text in any figure, in points, at the size the notebook shows it.
MIN_FONT = 11

#: The Okabe–Ito colours without their yellow (too pale on a white screen), in the order series get them.
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#000000")
#: Petroff's ten-colour sequence (matplotlib's ``petroff10``), in the order classes get them.
CLASS_COLOURS = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6",
                 "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd")
#: One marker per series or class, so that colour is never the only cue.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

# Colours with a meaning, the same in every figure (all Okabe–Ito).
POSITIVE = "#E69F00"  #: orange: the positive.
NEGATIVE = "#56B4E9"  #: sky blue: the negatives.
HARD_NEGATIVE = "#0072B2"  #: blue, darker than the other negatives: the hardest negative.
SAME_CLASS = "#0072B2"  #: blue, drawn solid: of the query's class.
OTHER_CLASS = "#D55E00"  #: vermillion, drawn dashed: of another class.
REFERENCE = "#808080"  #: grey: reference lines (limits, baselines, chance).

#: The matplotlib settings every figure is made under (see :func:`styled`).
RC = {
    "figure.dpi": DPI,
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "figure.titlesize": 13,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "legend.fontsize": MIN_FONT,
    "legend.title_fontsize": MIN_FONT,
    "lines.linewidth": 2.0,
    "lines.markersize": 6.0,
    "errorbar.capsize": 4.0,
    "axes.prop_cycle": cycler(color=SERIES_COLOURS),
}


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Make a figure function's artists under :data:`RC`.

    Text, lines and markers take their sizes when they are made, so the settings apply while ``draw`` runs;
    tick labels that matplotlib only makes when the figure is drawn keep :data:`MIN_FONT` too.
    """

    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(RC):
            fig = draw(*args, **kwargs)
        for ax in fig.axes:
            ax.tick_params(which="both", labelsize=MIN_FONT)
        return fig

    return wrapper


def figure(width: float, height: float, **kwargs) -> Figure:
    """A ``Figure`` of ``width`` × ``height`` inches at :data:`DPI`, narrowed to :data:`MAX_WIDTH` if wider.

    Narrowing shrinks the panels, never the text; a function that knows its panels should size them to fit
    (:func:`cell_size`). ``kwargs`` go to ``Figure``.
    """
    return Figure(figsize=(min(width, MAX_WIDTH), height), dpi=DPI, **kwargs)


def cell_size(columns: int, size: float, reserved: float = 0.0) -> float:
    """The side of one of ``columns`` equal cells: ``size``, or less so that the row and ``reserved`` inches
    fit in :data:`MAX_WIDTH`."""
    return min(size, (MAX_WIDTH - reserved) / max(1, columns))


def legend_below(fig: Figure, handles: Sequence, labels: Sequence[str], title: str | None = None,
                 **kwargs) -> None:
    """A legend centred under the panels, in as many columns as fit the width, then ``tight_layout``.

    The figure grows by the legend's height, so the panels keep their size. ``kwargs`` go to ``Figure.legend``.
    """
    item = max(text_width(label, MIN_FONT) for label in labels) + 0.7  # a handle, the text and the gap
    ncol = max(1, min(len(labels), int(fig.get_figwidth() // item)))
    height = 0.3 * -(-len(labels) // ncol) + (0.3 if title else 0) + 0.1
    fig.set_figheight(fig.get_figheight() + height)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, title=title, frameon=False, **kwargs)
    fig.tight_layout(rect=(0, height / fig.get_figheight(), 1, 1))


def text_width(text: str, points: float = 12) -> float:
    """A generous estimate of the width of ``text`` (its longest line) in inches, for sizing a figure around it."""
    longest = max((len(line) for line in text.splitlines()), default=0)
    return longest * 0.6 * points / 72


def to_png(fig: Figure) -> bytes:
    """The PNG a notebook shows for ``fig``: at the figure's dpi, cut to its contents."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _display_figures_as_png() -> None:
    """In IPython, show a returned ``Figure`` as a PNG.

    pyplot registers that formatter when it is imported; these figures are made without
    pyplot, so we register it ourselves (a no-op outside IPython).
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, to_png)


def to_numpy_image(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] → (H, W, 3) or (H, W) float array for ``imshow``."""
    x = to_float(image.detach().cpu()).clamp(0, 1)
    if x.shape[0] == 1:
        return x[0].numpy()
    return x.permute(1, 2, 0).numpy()


def class_colours(n: int) -> list[str]:
    """One hex colour per class, from :data:`CLASS_COLOURS`; beyond ten classes they repeat, each time with
    another marker (:func:`class_markers`), so that colour and marker together stay unique up to 70 classes."""
    return [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(n)]


def class_markers(n: int) -> list[str]:
    """One matplotlib marker per class, from :data:`MARKERS`, to draw together with :func:`class_colours`."""
    return [MARKERS[i % len(MARKERS)] for i in range(n)]


def scatter_classes(ax, points: np.ndarray, labels: np.ndarray, classes: Sequence[str], size: float,
                    alpha: float = 0.75) -> None:
    """One scatter per class of (N, 2) or (N, 3) ``points``, each in its class's colour and marker.

    Args:
        labels: (N,) class indices into ``classes``; size: marker area in points² (see :func:`marker_area`).
    """
    styles = zip(classes, class_colours(len(classes)), class_markers(len(classes)))
    for c, (label, colour, marker) in enumerate(styles):
        inside = labels == c
        ax.scatter(*points[inside].T, s=size, color=colour, marker=marker, alpha=alpha, lw=0, label=label)


def marker_area(n: int) -> float:
    """Marker area in points² for n points: 12 (about 5 pixels across) for thousands, up to 40 for a few hundred."""
    return float(np.clip(12000 / max(1, n), 12, 40))


def series_style(i: int) -> dict:
    """The colour and marker of the i-th series (a run, a swept value), as ``plot`` keywords."""
    return {"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "marker": MARKERS[i % len(MARKERS)]}


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
