"""ipywidgets apps for the lessons, and the explorer app served without code.

Each app only wires controls to a pure figure function from :mod:`clkit.viz`, which is where the drawing
lives and is tested; the app itself holds no logic worth testing beyond "moving a control redraws the figure".

Every app is made to be used in a classroom, with a mouse, a keyboard or a screen reader:

- each control carries a visible description, shown in full (``description_width="initial"``);
- sliders move one step per arrow key (their handles take the focus with Tab) and their readout can be typed in;
- ipywidgets draws a slider's description as text beside it, not as the name of the handle that takes the focus,
  so when an app is shown it also sends a short script (:data:`LABEL_SCRIPT`) that names every slider handle and
  readout inside it after its description (``aria-label``);
- the anchor picker of the temperature explorer is wide enough that every anchor gets at least
  :data:`PIXELS_PER_ANCHOR` pixels of the track.

:func:`explorers_app` puts the augmentation and temperature explorers side by side in tabs: the page that
``make app`` serves (``apps/explorers.py``), for a class that should not see any code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets as widgets
from IPython.display import HTML, display
from torch import Tensor

from clkit import augment, viz

#: The narrowest track, in pixels, that the anchor picker gives each anchor (two views of every image).
PIXELS_PER_ANCHOR = 2.5
# The anchor picker's track stays between these widths (pixels); past the widest, the arrow keys pick one anchor.
_ANCHOR_TRACK = (240, 640)
# What a slider takes beside its track: the description on the left and the readout on the right (pixels).
_SLIDER_EXTRAS = 190
# Every control shows its whole description instead of cutting it at ipywidgets' default width.
_STYLE = {"description_width": "initial"}

#: Names each slider handle and readout inside an element of class ``clkit-labelled`` after the slider's
#: description. One copy per page does the work (``window.clkitLabelSliders``); it watches the page, so
#: controls drawn after it runs (a redrawn output, a tab opened later) are named too.
LABEL_SCRIPT = """<script>
(function () {
  if (window.clkitLabelSliders) { window.clkitLabelSliders(); return; }
  function name(root) {
    root.querySelectorAll(".widget-slider, .widget-hslider, .widget-vslider").forEach(function (slider) {
      var label = slider.querySelector(".widget-label");
      var text = label ? label.textContent.trim() : "";
      if (!text) return;
      var handles = slider.querySelectorAll(".noUi-handle");
      handles.forEach(function (handle, k) {
        var which = handles.length > 1 ? (k === 0 ? " (lower end)" : " (upper end)") : "";
        if (handle.getAttribute("aria-label") !== text + which) handle.setAttribute("aria-label", text + which);
      });
      var readout = slider.querySelector(".widget-readout");
      if (readout && readout.getAttribute("aria-label") !== text + ": type a value") {
        readout.setAttribute("role", "textbox");
        readout.setAttribute("aria-label", text + ": type a value");
      }
    });
  }
  window.clkitLabelSliders = function () {
    document.querySelectorAll(".clkit-labelled").forEach(name);
  };
  new MutationObserver(window.clkitLabelSliders).observe(document.body, { childList: true, subtree: true });
  window.clkitLabelSliders();
})();
</script>"""


class App(widgets.VBox):
    """A VBox of controls and the figure they draw, shown with :data:`LABEL_SCRIPT`.

    Attributes:
        figure: the matplotlib figure last drawn (``None`` in a container of other apps).
    """

    def __init__(self, children: Sequence[widgets.Widget] = (), **kwargs):
        super().__init__(children=list(children), **kwargs)
        self.figure = None
        self.add_class("clkit-labelled")

    def _ipython_display_(self, **kwargs) -> None:
        # The widget itself, then the script that names its sliders (see the module's notes).
        display(self._repr_mimebundle_(), raw=True)
        display(HTML(LABEL_SCRIPT))


def _redrawing(app: App, out: widgets.Output, draw: Callable[[], object]) -> Callable[..., None]:
    """A callback that draws ``draw()`` into ``out`` and keeps it as ``app.figure``."""

    def redraw(*_) -> None:
        app.figure = draw()
        out.clear_output(wait=True)
        with out:
            display(app.figure)

    return redraw


def views_explorer(image: Tensor, size: int | None = None, n_views: int = 8) -> App:
    """Sliders for the crop scale range and the colour-jitter strength, with the views they give.

    Args:
        image: (C, H, W) uint8 or float; ``size`` defaults to its height.
    Returns:
        the app: ``app.children[0]`` holds the three sliders (crop scale, colour strength, seed),
        ``app.children[1]`` the Output the figure is drawn in; ``app.figure`` is the figure last drawn.
    """
    size = size or image.shape[-1]
    scale = widgets.FloatRangeSlider(value=(0.08, 1.0), min=0.01, max=1.0, step=0.01, description="crop scale",
                                     continuous_update=False, readout_format=".2f", style=_STYLE)
    strength = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="colour strength s",
                                   continuous_update=False, style=_STYLE)
    seed = widgets.IntSlider(value=0, min=0, max=99, description="seed", continuous_update=False, style=_STYLE)
    out = widgets.Output()
    app = App([widgets.HBox([scale, strength, seed], layout=widgets.Layout(flex_flow="row wrap")), out])

    def draw():
        recipe = augment.simclr(size, scale=tuple(scale.value), jitter_strength=strength.value)
        label = f"scale {scale.value[0]:.2f}–{scale.value[1]:.2f}\njitter {strength.value:g}"
        return viz.views_figure(image, {label: recipe}, n_views=n_views, seed=seed.value)

    redraw = _redrawing(app, out, draw)
    for control in (scale, strength, seed):
        control.observe(redraw, names="value")
    redraw()
    return app


def anchor_slider_width(n_anchors: int) -> int:
    """The width in pixels of the anchor picker for ``n_anchors`` anchors: a track of
    :data:`PIXELS_PER_ANCHOR` pixels per anchor, kept between 240 and 640 pixels, plus the description and readout."""
    low, high = _ANCHOR_TRACK
    return int(min(high, max(low, math.ceil(PIXELS_PER_ANCHOR * n_anchors)))) + _SLIDER_EXTRAS


def temperature_explorer(
    z1: Tensor,
    z2: Tensor,
    views: Tensor | None = None,
    labels: Tensor | None = None,
    temperature: float = 0.1,
    anchor: int = 0,
    temperature_range: tuple[float, float] = (0.01, 2.0),
    class_names: Sequence[str] | None = None,
) -> App:
    """A log-scale τ slider, an anchor picker and a "show hard negative" box, wired to
    :func:`clkit.viz.anchor_temperature_figure` (the softmax weights, the push on each negative,
    the loss against τ, and the anchor's images).

    The anchor picker is a slider over the 2N views, one step per anchor, sized by :func:`anchor_slider_width`;
    the arrow keys move it one anchor, Page Up and Page Down ten, and its readout can be typed in.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
        views: optional (2N, C, H, W) images of the stacked views ``[v1; v2]``.
        labels: optional (N,) classes of the N images; class_names: their names.
        temperature, anchor: the starting values.
    Returns:
        the app: ``app.children[0]`` holds the controls (τ, anchor, hard negative), ``app.children[1]``
        the Output the figure is drawn in; ``app.figure`` is the figure last drawn.
    """
    if len(z1) != len(z2):
        raise ValueError(f"z1 and z2 must be row-aligned views of the same images, got {len(z1)} and {len(z2)} rows")
    n_anchors = 2 * len(z1)
    if not 0 <= anchor < n_anchors:
        raise ValueError(f"anchor must index one of the {n_anchors} stacked views [z1; z2], got {anchor}")
    low, high = (math.log10(t) for t in temperature_range)
    tau = widgets.FloatLogSlider(value=temperature, base=10, min=low, max=high, step=0.02, description="temperature τ",
                                 continuous_update=False, readout_format=".3f", style=_STYLE)
    which = widgets.IntSlider(value=anchor, min=0, max=n_anchors - 1, step=1, description="anchor view",
                              continuous_update=False, style=_STYLE,
                              layout=widgets.Layout(width=f"{anchor_slider_width(n_anchors)}px"))
    hard = widgets.Checkbox(value=True, description="show hard negative", indent=False)
    out = widgets.Output()
    app = App([widgets.HBox([tau, which, hard], layout=widgets.Layout(flex_flow="row wrap")), out])

    def draw():
        return viz.anchor_temperature_figure(z1, z2, which.value, tau.value, views=views, labels=labels,
                                             show_hard_negative=hard.value, temperature_range=temperature_range,
                                             class_names=class_names)

    redraw = _redrawing(app, out, draw)
    for control in (tau, which, hard):
        control.observe(redraw, names="value")
    redraw()
    return app


def temperature_embeddings(n_images: int = 128, seed: int = 0, progress: bool = False) -> dict:
    """What the temperature explorer shows, made as lesson 04 makes it: SimCLR trained briefly with the sweep's
    recipe at τ = 0.2 and the active scale's sizes (``CLKIT_SCALE``; one epoch at ``ci``), then two seeded views of
    the first ``n_images`` test images and their projections. ``progress`` shows the training's progress bar (the
    app keeps its page free of it).

    Returns:
        the keyword arguments of :func:`temperature_explorer`: ``z1``, ``z2`` ((n, 128) float), ``views``
        ((2n, C, H, W) float), ``labels`` ((n,) int64) and ``class_names``.
    """
    import torch

    from clkit import scale, sweep, train

    settings = sweep.settings_from(**sweep.preset(), temperature=0.2)
    train_set, test_set = sweep.datasets(settings)
    train.seed_everything(seed)
    _, channels, size, _ = train_set.images.shape
    simclr = sweep.build_method(settings, in_channels=channels, image_size=size)
    train.fit(simclr, train_set, epochs=scale.pick(ci=1, laptop=8, full=15), batch_size=settings.batch_size,
              lr=settings.lr, optimizer=settings.optimizer, weight_decay=settings.weight_decay, seed=seed,
              progress=progress)
    images, labels = test_set.images[:n_images], test_set.labels[:n_images]
    v1, v2 = augment.two_views(images, simclr.augment, generator=torch.Generator().manual_seed(seed))
    simclr.eval()
    with torch.no_grad():
        z1, z2 = simclr.project(v1), simclr.project(v2)
    return {"z1": z1, "z2": z2, "views": torch.cat([v1, v2]), "labels": labels, "class_names": test_set.classes}


#: The app's heading, for a reader who came for the explorers and not the code.
_INTRO = """<h2>Contrastive learning explorers</h2>
<p><b>Augmentations</b>: what two random views of one photo keep and lose as the crop scale and the colour
strength change. <b>Temperature</b>: how τ spreads one anchor's softmax, and its push, over the negatives of a
batch embedded by a SimCLR model trained moments ago.</p>"""


def explorers_app(temperature: float = 0.1, seed: int = 0) -> App:
    """The augmentation explorer (lesson 01's photo of a cat) and the temperature explorer (lesson 04's model) in
    two tabs under a short heading: the page ``make app`` serves with Voila, where no code is shown.

    The temperature tab's model trains once, before the page appears: one epoch at ``CLKIT_SCALE=ci`` (seconds), eight
    at the laptop setting (the model lesson 04 trains in its first cells).

    Returns:
        an :class:`App` whose ``tabs`` attribute is the ``Tab`` and ``apps`` the two explorers, in tab order.
    """
    from clkit import data

    photos = data.load("photos")
    views = views_explorer(photos.images[photos.classes.index("cat")], n_views=8)
    temperatures = temperature_explorer(**temperature_embeddings(seed=seed), temperature=temperature)
    tabs = widgets.Tab(children=[views, temperatures], titles=("Augmentations", "Temperature"))
    app = App([widgets.HTML(_INTRO), tabs])
    app.tabs, app.apps = tabs, (views, temperatures)
    return app
