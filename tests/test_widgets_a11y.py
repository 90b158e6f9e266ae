"""The explorers for every reader: each control labelled, sliders moved by the keyboard, an anchor picker that
can pick one anchor, and the app that puts both explorers in tabs.

The first tests read the widgets in the kernel; the browser tests (marked ``browser``, run by ``make test-browser``)
open a small notebook in JupyterLab and check what a screen reader and a keyboard get: the names of the sliders
and the checkbox, Tab reaching every handle, one arrow key moving a slider one step and redrawing the figure, and
at least 2 pixels of track per anchor.
"""

from __future__ import annotations

import json
import math
from unittest import mock

import browser_support as bs
import ipywidgets
import pytest
import torch

from clkit import widgets


def controls(app: widgets.App) -> list[ipywidgets.Widget]:
    return list(app.children[0].children)


@pytest.fixture(scope="module")
def explorers():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(128, 16, generator=g), torch.randn(128, 16, generator=g)
    views = torch.rand(256, 3, 8, 8, generator=g)
    return (widgets.views_explorer(torch.rand(3, 16, 16, generator=g), n_views=3),
            widgets.temperature_explorer(z1, z2, views=views, temperature=0.1))


def test_every_control_is_labelled_in_full(explorers):
    names = [[c.description for c in controls(app)] for app in explorers]
    assert names == [["crop scale", "colour strength s", "seed"], ["temperature τ", "anchor view", "show hard negative"]]
    for app in explorers:
        for control in controls(app):
            if isinstance(control, ipywidgets.Checkbox):
                assert control.indent is False  # its description sits beside the box, inside its label
            else:
                assert control.style.description_width == "initial", f"{control.description!r} would be cut short"


def test_every_slider_steps_and_answers_on_release(explorers):
    for app in explorers:
        for control in controls(app):
            if hasattr(control, "step"):
                assert control.step > 0 and control.continuous_update is False


def test_the_anchor_picker_gives_every_anchor_its_pixels(explorers):
    _, anchor, _ = controls(explorers[1])
    assert (anchor.min, anchor.max, anchor.step) == (0, 255, 1)
    width = int(anchor.layout.width.removesuffix("px"))
    assert width == widgets.anchor_slider_width(256)
    track = width - widgets._SLIDER_EXTRAS
    assert track / 256 >= widgets.PIXELS_PER_ANCHOR >= 2  # lesson 04's 256 anchors: 2.5 px each, not 0.47
    # Few anchors: never narrower than a usual slider; many: capped, and the arrow keys pick one at a time.
    assert widgets.anchor_slider_width(10) - widgets._SLIDER_EXTRAS == 240
    assert widgets.anchor_slider_width(10_000) - widgets._SLIDER_EXTRAS == 640
    for n in (2, 50, 100, 256):
        assert widgets.anchor_slider_width(n) - widgets._SLIDER_EXTRAS >= min(640, math.ceil(2.5 * n))


def test_the_anchor_picker_refuses_what_it_cannot_show():
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="row-aligned"):
        widgets.temperature_explorer(z, torch.randn(5, 8))
    with pytest.raises(ValueError, match="one of the 8 stacked views"):
        widgets.temperature_explorer(z, z, anchor=8)


def test_showing_an_app_sends_the_widget_and_the_script_that_names_its_sliders(explorers):
    app = explorers[0]
    assert "clkit-labelled" in app._dom_classes
    with mock.patch.object(widgets, "display") as shown:
        app._ipython_display_()
    (bundle,), raw = shown.call_args_list[0].args, shown.call_args_list[0].kwargs
    assert raw == {"raw": True}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.model_id
    (html,) = shown.call_args_list[1].args
    assert html.data == widgets.LABEL_SCRIPT
    assert "aria-label" in html.data and ".clkit-labelled" in html.data and "MutationObserver" in html.data


def test_the_explorers_app_puts_both_explorers_in_tabs(monkeypatch):
    z = torch.randn(6, 8)
    monkeypatch.setattr(widgets, "temperature_embeddings",
                        lambda seed=0: {"z1": z, "z2": z.flip(0), "views": torch.rand(12, 3, 8, 8),
                                        "labels": torch.arange(6) % 2, "class_names": ["a", "b"]})
    app = widgets.explorers_app()
    assert app.tabs.titles == ("Augmentations", "Temperature")
    assert list(app.tabs.children) == list(app.apps)
    assert [c.description for c in controls(app.apps[1])] == ["temperature τ", "anchor view", "show hard negative"]
    assert controls(app.apps[1])[1].max == 11 and app.apps[1].figure is not None
    assert "clkit-labelled" in app._dom_classes and isinstance(app.children[0], ipywidgets.HTML)


def test_temperature_embeddings_are_the_lessons_views_and_projections():
    made = widgets.temperature_embeddings(n_images=16, seed=0)
    assert made["z1"].shape == made["z2"].shape == (16, 128)
    assert made["views"].shape == (32, 3, 32, 32) and made["labels"].shape == (16,)
    assert len(made["class_names"]) == 10
    # The two views of one image are closer than views of two images, on average: the model learned something.
    z1, z2 = torch.nn.functional.normalize(made["z1"], dim=1), torch.nn.functional.normalize(made["z2"], dim=1)
    sim = z1 @ z2.T
    assert sim.diag().mean() > sim[~torch.eye(16, dtype=torch.bool)].mean()


# ----------------------------------------------------------------------------- in the browser

NOTEBOOK_CELL = """import torch
from clkit import widgets
g = torch.Generator().manual_seed(0)
z1, z2 = torch.randn(128, 16, generator=g), torch.randn(128, 16, generator=g)
widgets.temperature_explorer(z1, z2, views=torch.rand(256, 3, 8, 8, generator=g), temperature=0.1)"""


@pytest.mark.browser
@pytest.mark.skipif(bs.skip_reason() is not None, reason=str(bs.skip_reason()))
def test_a_keyboard_and_a_screen_reader_can_use_the_explorer(tmp_path):
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a11y", "metadata": {}, "outputs": [],
                           "source": NOTEBOOK_CELL}],
                "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                            "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "explorer.ipynb").write_text(json.dumps(notebook))
    with bs.lab(tmp_path, []) as server, bs.browser() as page:
        bs.open_notebook(page, server, "explorer.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        app = page.locator(".clkit-labelled").first
        app.locator("img").first.wait_for()

        # What a screen reader announces.
        tau = page.get_by_role("slider", name="temperature τ")
        anchor = page.get_by_role("slider", name="anchor view")
        hard = page.get_by_role("checkbox", name="show hard negative")
        for control in (tau, anchor, hard):
            control.wait_for()
        assert page.get_by_role("textbox", name="anchor view: type a value").count() == 1

        # Tab walks to every control.
        app.locator(".widget-label").first.click()
        reached = set()
        for _ in range(20):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("() => document.activeElement.getAttribute('aria-label') || "
                                      "(document.activeElement.labels && document.activeElement.labels.length ? "
                                      "document.activeElement.labels[0].textContent.trim() : '')"))
        assert {"temperature τ", "anchor view", "show hard negative"} <= reached, reached

        # One arrow key moves the anchor one view and redraws; the readout says so.
        slider = app.locator(".widget-slider").nth(1)
        anchor.focus()
        figure = bs.figure_of(app)
        for expected in ("1", "2"):
            page.keyboard.press("ArrowRight")
            bs.wait_for_change(lambda: bs.readout_of(slider), str(int(expected) - 1), "the anchor's readout")
            assert bs.readout_of(slider) == expected
            figure = bs.wait_for_change(lambda: bs.figure_of(app), figure, "the figure after an arrow key")
        assert anchor.get_attribute("aria-valuenow") in ("2", "2.0", "2.00")
        tau.focus()
        page.keyboard.press("ArrowLeft")
        bs.wait_for_change(lambda: bs.readout_of(app.locator(".widget-slider").nth(0)), "0.100", "τ's readout")
        bs.wait_for_change(lambda: bs.figure_of(app), figure, "the figure after an arrow key on τ")

        # The anchor picker's track: at least 2 pixels per anchor, as drawn.
        track = slider.locator(".noUi-target").bounding_box()["width"]
        assert track / 256 >= 2, f"{track:.0f} px for 256 anchors"
        bs.screenshot(page, "a11y_temperature_explorer")
