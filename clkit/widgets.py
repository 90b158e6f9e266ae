"""ipywidgets apps for the lessons.

Each app only wires controls to a pure figure function from :mod:`clkit.viz`, which is
where the drawing lives and is tested; the app itself holds no logic worth testing
beyond "moving a control redraws the figure".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
from IPython.display import display
from torch import Tensor

from clkit import augment, viz


def views_explorer(image: Tensor, size: int | None = None, n_views: int = 8) -> widgets.VBox:
    """Sliders for the crop scale range and the colour-jitter strength, with the views they give.

    Args:
        image: (C, H, W) uint8 or float; ``size`` defaults to its height.
    Returns:
        the app (a VBox of the controls and the Output the figure is drawn in); ``app.figure``
        is the figure last drawn.
    """
    size = size or image.shape[-1]
    scale = widgets.FloatRangeSlider(value=(0.08, 1.0), min=0.01, max=1.0, step=0.01, description="crop scale",
                                     continuous_update=False, readout_format=".2f")
    strength = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="jitter s",
                                   continuous_update=False)
    seed = widgets.IntSlider(value=0, min=0, max=99, description="seed", continuous_update=False)
    out = widgets.Output()
    app = widgets.VBox([widgets.HBox([scale, strength, seed]), out])

    def redraw(*_) -> None:
        recipe = augment.simclr(size, scale=tuple(scale.value), jitter_strength=strength.value)
        label = f"scale {scale.value[0]:.2f}–{scale.value[1]:.2f}\njitter {strength.value:g}"
        app.figure = viz.views_figure(image, {label: recipe}, n_views=n_views, seed=seed.value)
        out.clear_output(wait=True)
        with out:
            display(app.figure)

    for control in (scale, strength, seed):
        control.observe(redraw, names="value")
    redraw()
    return app


def temperature_explorer(
    z1: Tensor,
    z2: Tensor,
    views: Tensor | None = None,
    labels: Tensor | None = None,
    temperature: float = 0.1,
    anchor: int = 0,
    temperature_range: tuple[float, float] = (0.01, 2.0),
    class_names: Sequence[str] | None = None,
) -> widgets.VBox:
    """A log-scale τ slider, an anchor slider and a "show hard negative" box, wired to
    :func:`clkit.viz.anchor_temperature_figure` (the softmax weights, the push on each negative,
    the loss against τ, and the anchor's images).

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
        views: optional (2N, C, H, W) images of the stacked views ``[v1; v2]``.
        labels: optional (N,) classes of the N images; class_names: their names.
        temperature, anchor: the starting values.
    Returns:
        the app (a VBox of the controls and the Output the figure is drawn in); ``app.figure``
        is the figure last drawn.
    """
    low, high = (math.log10(t) for t in temperature_range)
    tau = widgets.FloatLogSlider(value=temperature, base=10, min=low, max=high, step=0.02, description="τ",
                                 continuous_update=False, readout_format=".3f")
    which = widgets.IntSlider(value=anchor, min=0, max=2 * len(z1) - 1, description="anchor view",
                              continuous_update=False)
    hard = widgets.Checkbox(value=True, description="show hard negative", indent=False)
    out = widgets.Output()
    app = widgets.VBox([widgets.HBox([tau, which, hard]), out])

    def redraw(*_) -> None:
        app.figure = viz.anchor_temperature_figure(z1, z2, which.value, tau.value, views=views, labels=labels,
                                                   show_hard_negative=hard.value,
                                                   temperature_range=temperature_range, class_names=class_names)
        out.clear_output(wait=True)
        with out:
            display(app.figure)

    for control in (tau, which, hard):
        control.observe(redraw, names="value")
    redraw()
    return app
