"""ipywidgets apps for the lessons.

Each app only wires controls to a pure figure function from :mod:`clkit.viz`, which is
where the drawing lives and is tested; the app itself holds no logic worth testing
beyond "moving a control redraws the figure".
"""

from __future__ import annotations

import ipywidgets as widgets
from IPython.display import display
from torch import Tensor

from clkit import augment, viz


def views_explorer(image: Tensor, size: int | None = None, n_views: int = 8) -> widgets.VBox:
    """Sliders for the crop scale range and the colour-jitter strength, with the views they give.

    Args:
        image: (C, H, W) uint8 or float; ``size`` defaults to its height.
    Returns:
        the app (a VBox); its last child is the Output the figure is drawn in.
    """
    size = size or image.shape[-1]
    scale = widgets.FloatRangeSlider(value=(0.08, 1.0), min=0.01, max=1.0, step=0.01, description="crop scale",
                                     continuous_update=False, readout_format=".2f")
    strength = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="jitter s",
                                   continuous_update=False)
    seed = widgets.IntSlider(value=0, min=0, max=99, description="seed", continuous_update=False)
    out = widgets.Output()

    def redraw(*_) -> None:
        recipe = augment.simclr(size, scale=tuple(scale.value), jitter_strength=strength.value)
        figure = viz.views_figure(image, {f"scale {scale.value[0]:.2f}–{scale.value[1]:.2f}\njitter {strength.value:g}": recipe},
                                  n_views=n_views, seed=seed.value)
        out.clear_output(wait=True)
        with out:
            display(figure)

    for control in (scale, strength, seed):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([scale, strength, seed]), out])
