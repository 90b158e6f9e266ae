"""What the browser tests share: Debian's Chromium driven by Playwright, and JupyterLab and Voila servers of their own.

Every server runs on 127.0.0.1 at a free port, from the command its ``make`` target runs (read with ``make -n``, so
the tests open what a reader opens), with its own config, settings, runtime and workspace folders in a temporary
folder. JupyterLab serves a copy of the files a lesson needs, so the committed notebooks are never written.
The widget helpers move controls with the mouse and the keyboard as a person would, and wait for the kernel's answer
(the readout and the figure) instead of sleeping.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Where screenshots go: ``CLKIT_BROWSER_ARTIFACTS``, else ``runs/browser`` (ignored by git).
ARTIFACTS = Path(os.environ.get("CLKIT_BROWSER_ARTIFACTS", ROOT / "runs" / "browser"))
# Chromium as root in a container, with no network but loopback: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
# Seconds: a server's start, one cell's answer to a control, a whole lesson run at CLKIT_SCALE=ci.
START_S, ANSWER_S, RUN_ALL_S = 90, 60, 480


def chromium_path() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), or ``CLKIT_CHROMIUM`` when set; None when absent."""
    for candidate in (os.environ.get("CLKIT_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


#: Set (CI sets it) to make a missing browser or playwright fail the browser tests instead of skipping them.
REQUIRED = bool(os.environ.get("CLKIT_REQUIRE_BROWSER"))


def skip_reason() -> str | None:
    """Why the browser tests are skipped here: what is missing, unless :data:`REQUIRED` says they must run."""
    return None if REQUIRED else missing()


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install playwright; no browser download: it drives Debian's chromium)"
    if chromium_path() is None:
        return "needs Debian's chromium (apt-get install -y chromium)"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server is started with no retries, so a taken port fails loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_command(target: str) -> tuple[dict[str, str], list[str]]:
    """The environment assignments and the argument list of the command ``make <target>`` runs to serve.

    Read from ``make -n`` (nothing is run), as the last line of the recipe; install steps printed before it are
    ignored. The assignments in front of the program are expanded by bash, as make's shell would.
    """
    printed = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), target], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
    match = re.match(r"""((?:[A-Z_][A-Z0-9_]*=(?:"[^"]*"|'[^']*'|\S+)\s+)*)(.*)""", printed)
    assignments, command = match.group(1), match.group(2)
    names = re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", assignments)
    shown = subprocess.run(["bash", "-c", assignments + "env -0"], capture_output=True, text=True, check=True).stdout
    env = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
    return {name: env[name] for name in names}, shlex.split(command)


@dataclass
class Server:
    """A server the test started: its base URL, its token (empty when it has none) and its log."""

    url: str
    token: str
    log: Path

    def at(self, path: str) -> str:
        """The URL of ``path`` on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}" if self.token else f"{self.url}{path}"


def answers(url: str) -> Callable[[], bool]:
    """A readiness check: ``url`` answers an HTTP GET without an error."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return True
        except OSError:
            return False

    return check


def listens(port: int) -> Callable[[], bool]:
    """A readiness check: something accepts TCP connections on 127.0.0.1:``port`` (without asking for a page, which
    for Voila would start the app)."""

    def check() -> bool:
        with socket.socket() as s:
            s.settimeout(2)
            return s.connect_ex(("127.0.0.1", port)) == 0

    return check


def _wait_until_up(ready: Callable[[], bool], process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"the server was not up within {START_S} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(command: list[str], env: dict[str, str], ready: Callable[[], bool], log: Path, cwd: Path) -> Iterator[None]:
    """Run ``command`` until the block ends, once ``ready()`` is true; stop it and its kernels after."""
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_until_up(ready, process, log)
        yield
    finally:
        # The server's own process group: the server and the kernels it started, nothing else.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def private_jupyter_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a test server: the caller's, the ``make`` command's assignments, CLKIT_SCALE=ci,
    and config, settings, runtime and workspace folders of its own under ``tmp``."""
    env = {**os.environ, **extra, "CLKIT_SCALE": "ci", "PYTHONUNBUFFERED": "1"}
    for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                      ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "matplotlib")):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(tmp / sub)
    return env


def copy_lessons(root: Path, notebooks: list[str]) -> Path:
    """A copy under ``root`` of what the lessons ``notebooks`` read: the README and docs/ (the first page),
    the notebooks, their stored results and bench/results. Returns ``root``."""
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "README.md", root / "README.md")
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copytree(ROOT / "bench" / "results", root / "bench" / "results")
    shutil.copytree(ROOT / "notebooks" / "results", root / "notebooks" / "results")
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / name, root / "notebooks" / name)
    return root


@contextmanager
def lab(tmp: Path, notebooks: list[str]) -> Iterator[Server]:
    """JupyterLab as ``make lab`` starts it, on a copy of ``notebooks`` under ``tmp`` (see the module's notes),
    with autosave left as the kit's settings make it, a token, no browser, and the app reachable from the page
    (``window.jupyterapp``) so that the tests can read the notebook's model."""
    root = copy_lessons((tmp / "root").resolve(), notebooks) if notebooks else tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    assigned, words = make_command("lab")
    jupyter = words.index("lab")
    args = [w for w in words[jupyter + 1:] if not w.startswith("--ServerApp.root_dir")]
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", *args, f"--ServerApp.root_dir={root}", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    env = private_jupyter_env(tmp / "jupyter", assigned)
    server = Server(f"http://127.0.0.1:{port}", token, tmp / "lab.log")
    with serve(command, env, answers(server.at("/api/status")), server.log, cwd=root):
        yield server


@contextmanager
def voila(tmp: Path) -> Iterator[Server]:
    """The explorer app as ``make app`` serves it, at CLKIT_SCALE=ci, on 127.0.0.1."""
    assigned, words = make_command("app")
    voila_at = next(i for i, w in enumerate(words) if Path(w).name == "voila")
    args = [(str(ROOT / w) if w.endswith(".py") else w) for w in words[voila_at + 1:]]
    port = free_port()
    command = [sys.executable, "-m", "voila", *args, "--no-browser", "--Voila.ip=127.0.0.1", f"--Voila.port={port}",
               "--Voila.port_retries=0"]
    env = private_jupyter_env(tmp / "jupyter", assigned)
    server = Server(f"http://127.0.0.1:{port}", "", tmp / "voila.log")
    with serve(command, env, listens(port), server.log, cwd=tmp):
        yield server


@contextmanager
def browser() -> Iterator:
    """A headless Chromium (Debian's) under Playwright; yields a new page 1280×900."""
    if why := missing():
        raise RuntimeError(f"the browser tests must run here (CLKIT_REQUIRE_BROWSER) but: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(ANSWER_S * 1000)
            yield page
        finally:
            chromium.close()


#: Finds the notebook panel open on ``path`` in JupyterLab's main area (undefined until it is there).
PANEL = """(path) => Array.from(window.jupyterapp ? window.jupyterapp.shell.widgets("main") : [])
    .find((w) => w.context && w.context.path === path && w.content && w.content.model)"""


def open_notebook(page, server: Server, path: str) -> None:
    """Open a notebook in JupyterLab (``path`` from the server's root) in a workspace of its own, so that nothing a
    previous page left open is restored beside it, make it the current tab, and wait until its kernel is idle."""
    page.goto(server.at(f"/lab/workspaces/t{secrets.token_hex(4)}/tree/{path}?reset"))
    page.wait_for_function(f"""(path) => {{ const p = ({PANEL})(path);
        const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
        if (p && window.jupyterapp.shell.currentWidget !== p) window.jupyterapp.shell.activateById(p.id);
        return !!k && k.status === "idle" && window.jupyterapp.shell.currentWidget === p
            && !!p.node.querySelector(".jp-Cell"); }}""", arg=path, timeout=START_S * 1000)


def screenshot(page, name: str) -> Path:
    """Keep a screenshot of the whole page as ``ARTIFACTS/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ----------------------------------------------------------------------------- widgets, as a person uses them


def wait_for_change(read: Callable[[], object], before: object, what: str, timeout: float = ANSWER_S) -> object:
    """Poll ``read()`` until it differs from ``before``; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read()
        if now != before:
            return now
        time.sleep(0.2)
    raise AssertionError(f"{what} did not change within {timeout:.0f} s (still {str(before)[:80]!r})")


def figure_of(app) -> str:
    """The figure an app shows, as its image's ``src`` (a PNG's data URI); '' while none is drawn."""
    images = app.locator("img")
    return images.first.get_attribute("src") or "" if images.count() else ""


def readout_of(slider) -> str:
    """The value a slider shows beside its track."""
    return slider.locator(".widget-readout").text_content().strip()


def settled_box(locator, timeout: float = 20) -> dict:
    """Bring ``locator`` to the middle of the view and return its box once the page has stopped moving it.

    In JupyterLab the notebook lays out cells lazily and guesses the height of those out of view, so one scroll may
    land short: the notebook is asked to show the cell (``scrollToItem``), then the element is centred, again until
    its box is inside the window and stays put.
    """
    centre = """async (el) => {
      const cell = el.closest(".jp-Cell"), app = window.jupyterapp;
      if (cell && app && cell.dataset.windowedListIndex !== undefined) {
        const panel = Array.from(app.shell.widgets("main")).find((w) => w.node.contains(cell));
        if (panel) await panel.content.scrollToItem(Number(cell.dataset.windowedListIndex), "center");
      }
      let box = el.parentElement;  // the nearest ancestor that scrolls (JupyterLab's notebook, or the page)
      while (box && !(box.scrollHeight > box.clientHeight && getComputedStyle(box).overflowY !== "visible")) {
        box = box.parentElement;
      }
      if (!box) { el.scrollIntoView({block: "center"}); return; }
      const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
      // Taller than the view: its top just inside the view; else its middle in the middle.
      box.scrollTop += r.height > b.height ? r.top - b.top - 8 : (r.top + r.height / 2) - (b.top + b.height / 2);
    }"""
    height = locator.page.viewport_size["height"]
    box, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        locator.evaluate(centre)
        time.sleep(0.4)
        now = locator.bounding_box()
        in_view = 0 <= now["y"] and (now["y"] + now["height"] <= height or now["y"] < height / 2)
        if now == box and in_view:
            return now
        box = now
    raise AssertionError(f"could not bring the element into view: last box {box}")


def drag(page, handle, dx: float) -> None:
    """Press the mouse on a slider's handle, move it ``dx`` pixels sideways in a few steps, and let go."""
    box = settled_box(handle)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def drag_every_slider(page, app) -> list[str]:
    """Drag every handle of every slider in ``app`` with the mouse (the lower end of a range right, the upper end
    left, a single handle towards the far side), and check each time that the readout and the figure change.

    Returns:
        the description of each slider moved.
    """
    moved = []
    sliders = app.locator(".widget-slider")
    for k in range(sliders.count()):
        slider = sliders.nth(k)
        name = slider.locator(".widget-label").text_content().strip()
        handles = slider.locator(".noUi-handle")
        track = slider.locator(".noUi-target").bounding_box()
        for h in range(handles.count()):
            handle = handles.nth(h)
            box = handle.bounding_box()
            centre = box["x"] + box["width"] / 2 - track["x"]
            if handles.count() > 1:
                dx = 0.2 * track["width"] if h == 0 else -0.2 * track["width"]
            else:
                dx = 0.3 * track["width"] if centre < track["width"] / 2 else -0.3 * track["width"]
            readout, figure = readout_of(slider), figure_of(app)
            drag(page, handle, dx)
            wait_for_change(lambda: readout_of(slider), readout, f"the readout of {name!r}")
            wait_for_change(lambda: figure_of(app), figure, f"the figure after dragging {name!r}")
        moved.append(name)
    return moved


def click_every_checkbox(page, app) -> list[str]:
    """Click every checkbox in ``app`` with the mouse and check that it toggles and that the figure changes."""
    clicked = []
    boxes = app.locator("input[type=checkbox]")
    for k in range(boxes.count()):
        box = boxes.nth(k)
        checked, figure = box.is_checked(), figure_of(app)
        r = settled_box(box)
        page.mouse.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
        wait_for_change(box.is_checked, checked, "the checkbox")
        wait_for_change(lambda: figure_of(app), figure, "the figure after clicking the checkbox")
        clicked.append(box.locator("xpath=..").text_content().strip())
    return clicked
