"""The interactive parts in a real browser: lessons 01, 04 and 06 in JupyterLab, the explorer app in Voila, and
the page ``make lab`` opens. Debian's Chromium, driven by Playwright, against servers the tests start themselves on
copies of the notebooks (``tests/browser_support.py``); every lesson runs at CLKIT_SCALE=ci.

What a person would do, and what they would see:
- a lesson with widgets: run all cells, drag every slider and click every checkbox with the mouse; the readout and
  the figure change each time, no cell fails, and the notebook on disk is unchanged (autosave is off);
- lesson 06: hover the interactive UMAP at its lowest point and at its lowest point of the right-hand panel; the
  thumbnail appears, whole inside the plot, clipped by nothing, and clear of plotly's hover label;
- the app: no code on the page; both tabs work with the mouse as above;
- ``make lab``'s first page: the README rendered, its links open a lesson, the file browser reaches notebooks/,
  and no news prompt appears.

Each test keeps a screenshot in ``runs/browser/`` (``CLKIT_BROWSER_ARTIFACTS``). ``make test-browser`` runs them.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import browser_support as bs
import pytest

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(bs.skip_reason() is not None, reason=str(bs.skip_reason()))]

LESSONS = ["01_two_views.ipynb", "04_temperature.ipynb", "06_embedding_geometry.ipynb"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, on copies of the three lessons."""
    with bs.lab(tmp_path_factory.mktemp("lab"), LESSONS) as server:
        yield server


@pytest.fixture()
def page():
    with bs.browser() as page:
        yield page


# ----------------------------------------------------------------------------- a lesson, run as a reader runs it

# The lesson's notebook, read through the app's model: is every code cell run, and which failed.
_PROGRESS = f"""(path) => {{
  const panel = ({bs.PANEL})(path);
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const state = {{ idle: !!kernel && kernel.status === "idle", waiting: 0, errors: [], counts: [] }};
  for (const cell of panel.content.model.cells) {{
    if (cell.type !== "code") continue;
    if (cell.executionCount === null) state.waiting += 1; else state.counts.push(cell.executionCount);
    for (let k = 0; k < cell.outputs.length; k++) {{
      const out = cell.outputs.get(k).toJSON();
      if (out.output_type === "error") state.errors.push(out.ename + ": " + out.evalue);
    }}
  }}
  return state;
}}"""


def open_lesson(page, lab, name: str) -> None:
    """Open a lesson in JupyterLab and wait for its kernel."""
    bs.open_notebook(page, lab, f"notebooks/{name}")


def run_all_cells(page, name: str) -> dict:
    """Clear the outputs (a clean start: no count left from the stored run), choose Run ▸ Run All Cells from the
    menu, and wait until every code cell has run or one has failed."""
    path = f"notebooks/{name}"
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function(f"(path) => ({_PROGRESS})(path).counts.length === 0", arg=path)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(f"(path) => ({_PROGRESS})(path).counts.length > 0", arg=path)  # it has started
    deadline = time.monotonic() + bs.RUN_ALL_S
    while time.monotonic() < deadline:
        state = page.evaluate(_PROGRESS, path)
        if state["errors"] or (state["idle"] and state["waiting"] == 0):
            return state
        time.sleep(1)
    raise AssertionError(f"the lesson did not finish within {bs.RUN_ALL_S} s: {page.evaluate(_PROGRESS, path)}")


def check_ran_clean(state: dict) -> None:
    assert not state["errors"], f"cells failed: {state['errors']}"
    assert state["waiting"] == 0
    assert state["counts"] == list(range(1, len(state["counts"]) + 1)), "every cell ran once, in order"


@pytest.mark.parametrize("name", ["01_two_views.ipynb", "04_temperature.ipynb"])
def test_a_lessons_explorer_answers_the_mouse(lab, page, name):
    open_lesson(page, lab, name)
    check_ran_clean(run_all_cells(page, name))
    app = page.locator(".jp-NotebookPanel .clkit-labelled").first
    app.wait_for(state="attached")  # JupyterLab lays out only the cells in view: bring the app there first
    bs.settled_box(app)
    app.locator("img").first.wait_for()
    moved = bs.drag_every_slider(page, app)
    clicked = bs.click_every_checkbox(page, app)
    expected = {"01_two_views.ipynb": (["crop scale", "colour strength s", "seed"], []),
                "04_temperature.ipynb": (["temperature τ", "anchor view"], ["show hard negative"])}[name]
    assert (moved, clicked) == expected
    app.scroll_into_view_if_needed()
    bs.screenshot(page, f"lab_{name.split('_')[0]}_explorer")
    on_disk = bs.ROOT / "notebooks" / name
    assert (lab_root(lab) / "notebooks" / name).read_bytes() == on_disk.read_bytes(), \
        "running the lesson changed the notebook file without a save (autosave must be off)"


def lab_root(lab) -> Path:
    """The folder the test JupyterLab serves (beside its log)."""
    return lab.log.parent / "root"


# ----------------------------------------------------------------------------- hover thumbnails on the UMAP

# The plot carrying the thumbnails, its points in page pixels, per panel: [{x, y, i}] for each subplot's x axis.
_POINTS = """(gd) => {
  const panels = {};
  gd._fullData.forEach((trace) => {
    const xa = gd._fullLayout[trace.xaxis.replace("x", "xaxis")], ya = gd._fullLayout[trace.yaxis.replace("y", "yaxis")];
    const box = gd.getBoundingClientRect();
    (panels[trace.xaxis] = panels[trace.xaxis] || []).push(...Array.from(trace.x, (x, k) => ({
      x: box.left + xa._offset + xa.l2p(x), y: box.top + ya._offset + ya.l2p(trace.y[k]), i: trace.customdata[k] })));
  });
  return Object.keys(panels).sort().map((key) => panels[key]);
}"""

# Where the thumbnail is, and what could hide it: the plot, plotly's hover labels, and every ancestor that clips.
_TIP = """(gd) => {
  const tip = gd.querySelector(".clkit-thumbnail");
  const rect = (r) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
  const clips = [];
  // The page's own root and body scroll nothing here (JupyterLab lays its shell out absolutely): the window is their clip.
  for (let el = tip.parentElement; el && el !== document.body && el !== document.documentElement; el = el.parentElement) {
    const s = getComputedStyle(el);
    if (s.overflow !== "visible" || s.overflowX !== "visible" || s.overflowY !== "visible") {
      clips.push(rect(el.getBoundingClientRect()));
    }
  }
  clips.push({ left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight });
  return { shown: getComputedStyle(tip).display !== "none", tip: rect(tip.getBoundingClientRect()),
           plot: rect(gd.getBoundingClientRect()), caption: tip.textContent, clips,
           labels: Array.from(gd.querySelectorAll(".hoverlayer .hovertext"), (l) => rect(l.getBoundingClientRect())) };
}"""


def inside(a: dict, b: dict, slack: float = 0.5) -> bool:
    return (a["left"] >= b["left"] - slack and a["top"] >= b["top"] - slack and a["right"] <= b["right"] + slack
            and a["bottom"] <= b["bottom"] + slack)


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def hover_and_measure(page, gd, point: dict) -> dict:
    """Move the mouse onto a point (from a few pixels away, as a hand does) and read where the thumbnail is."""
    page.mouse.move(point["x"] - 30, point["y"] - 30)
    page.mouse.move(point["x"], point["y"], steps=6)
    page.wait_for_function("(gd) => { const t = gd.querySelector('.clkit-thumbnail');"
                           " return t && getComputedStyle(t).display !== 'none'; }", arg=gd.element_handle())
    # Where it rests: the same box twice, half a second apart (the script may move it once plotly's label is drawn).
    measured, deadline = gd.evaluate(_TIP), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        again = gd.evaluate(_TIP)
        if again == measured:
            break
        measured = again
    return measured


def test_hover_shows_the_whole_thumbnail_beside_the_label(lab, page):
    open_lesson(page, lab, "06_embedding_geometry.ipynb")
    check_ran_clean(run_all_cells(page, "06_embedding_geometry.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .js-plotly-plot .main-svg")
    gd = page.locator(".jp-NotebookPanel .js-plotly-plot").filter(
        has=page.locator(".scatterlayer, .gl-container")).first
    page.wait_for_function("(gd) => gd.layout && gd.layout.meta && gd.layout.meta.clkit_thumbnails",
                           arg=gd.element_handle())
    bs.settled_box(gd)
    page.wait_for_function("(id) => document.getElementById(id) && "
                           "document.getElementById(id).textContent.startsWith('hover over')",
                           arg="clkit-thumbs-" + gd.evaluate("(gd) => gd.layout.meta.clkit_thumbnails"))
    panels = gd.evaluate(_POINTS)
    assert len(panels) == 3, "raw pixels, random init, trained"
    lowest_left = max(panels[0], key=lambda p: p["y"])
    lowest_right = max(panels[-1], key=lambda p: p["y"] + 0.2 * p["x"])
    measured = {}
    for where, point in (("lowest point, left panel", lowest_left), ("lowest point, right panel", lowest_right)):
        m = hover_and_measure(page, gd, point)
        measured[where] = m
        assert m["shown"], where
        assert inside(m["tip"], m["plot"]), f"{where}: the thumbnail leaves the plot: {m['tip']} not in {m['plot']}"
        for clip in m["clips"]:
            assert inside(m["tip"], clip), f"{where}: the thumbnail is clipped by {clip}: {m['tip']}"
        for label in m["labels"]:
            assert not overlap(m["tip"], label), f"{where}: the thumbnail covers plotly's label {label}: {m['tip']}"
        assert m["caption"].endswith(tuple(f" · {p['i']}" for panel in panels for p in panel))
        bs.screenshot(page, "lab_06_hover_" + where.split(",")[1].strip().split()[0])
    bs.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (bs.ARTIFACTS / "lab_06_hover_boxes.json").write_text(json.dumps(measured, indent=1))
    assert (lab_root(lab) / "notebooks" / "06_embedding_geometry.ipynb").read_bytes() == \
        (bs.ROOT / "notebooks" / "06_embedding_geometry.ipynb").read_bytes()


# ----------------------------------------------------------------------------- the app without code


def test_the_explorer_app_works_without_code(tmp_path, page):
    with bs.voila(tmp_path) as server:
        page.goto(server.url, timeout=bs.RUN_ALL_S * 1000)
        root = page.locator(".clkit-labelled").first
        root.wait_for(timeout=bs.RUN_ALL_S * 1000)
        text = page.locator("body").inner_text()
        assert "explorers_app" not in text and "import" not in text, "the app shows code"
        assert page.locator(".jp-InputArea, .jp-Cell-inputWrapper:visible").count() == 0
        tabs = page.get_by_role("tab")
        assert tabs.all_inner_texts() == ["Augmentations", "Temperature"]
        done = {}
        for k, title in enumerate(["Augmentations", "Temperature"]):
            tabs.nth(k).click()
            app = root.locator(".clkit-labelled:visible").first
            app.locator("img").first.wait_for()
            done[title] = (bs.drag_every_slider(page, app), bs.click_every_checkbox(page, app))
            bs.screenshot(page, f"app_{title.lower()}")
        assert done == {"Augmentations": (["crop scale", "colour strength s", "seed"], []),
                        "Temperature": (["temperature τ", "anchor view"], ["show hard negative"])}


# ----------------------------------------------------------------------------- the first five minutes


def effective_setting(server, plugin: str, name: str):
    """A JupyterLab setting as the page gets it: the reader's own value, else the default with the kit's overrides."""
    with urllib.request.urlopen(server.at(f"/lab/api/settings/{plugin}")) as answer:
        got = json.load(answer)
    return got["settings"].get(name, got["schema"]["properties"][name]["default"])


def test_make_lab_opens_at_the_readme_with_the_lessons_in_reach(tmp_path, page):
    with bs.lab(tmp_path, ["00_tour.ipynb", "01_two_views.ipynb"]) as server:
        page.goto(server.at("/"))
        readme = page.locator(".jp-RenderedMarkdown", has_text="clkit — the contrastive learning kit")
        readme.wait_for()
        assert "README.md" in page.url
        page.locator(".jp-DirListing-item", has_text="notebooks").first.wait_for()
        settings = {name: effective_setting(server, plugin, name) for plugin, name in
                    (("@jupyterlab/docmanager-extension:plugin", "autosave"),
                     ("@jupyterlab/apputils-extension:notification", "fetchNews"))}
        assert settings == {"autosave": False, "fetchNews": "false"}
        time.sleep(3)  # the news prompt, when asked for, appears a moment after the page
        toasts = " ".join(page.locator(".Toastify__toast").all_inner_texts())
        assert "news" not in toasts.lower(), toasts
        bs.screenshot(page, "lab_first_page")
        readme.get_by_role("link", name="00 · Tour").click()
        page.locator(".jp-NotebookPanel .jp-RenderedMarkdown", has_text="A tour of clkit").first.wait_for()
