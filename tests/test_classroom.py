"""The first five minutes of a newcomer, on every route in: Colab, Binder and ``make lab``.

- every lesson opens with "Open in Colab" and "Launch Binder" badges for itself, then a cell that on Colab fetches
  the kit and installs what is missing, and elsewhere does nothing (run here both ways, with Colab faked);
- every lesson says which versions made its outputs, in a line a reader sees and in its metadata; they are the same
  for every lesson, allowed by pyproject.toml, and what the install here gives (to the minor version);
- the README carries the same badges;
- the lesson list (notebooks/) holds lessons and their stored results, no test files;
- Binder builds from environment.yml (binder/environment.yml is the same list) and starts JupyterLab with the
  kit's settings, which ``make lab`` uses too: autosave off, no news prompt, Markdown opened as a page.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from unittest import mock

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLAB = re.compile(r"\]\(https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/notebooks/"
                   r"([\w.-]+\.ipynb)\)")
BINDER = re.compile(r"\]\(https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/([\w.-]+)\?urlpath=lab/tree/notebooks/"
                    r"([\w.-]+\.ipynb)\)")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_lessons():
    assert len(LESSONS) >= 20


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_opens_with_its_badges_then_the_colab_cell(path):
    first, second = cells(path)[:2]
    assert (first["cell_type"], first.get("id")) == ("markdown", "clkit-badges")
    assert (second["cell_type"], second.get("id")) == ("code", "clkit-colab")
    (colab,), (binder,) = COLAB.findall(source(first)), BINDER.findall(source(first))
    assert colab[2] == binder[2] == path.name, "each badge opens this lesson"
    assert colab[:2] == binder[:2], "Colab and Binder open the same repository and branch"
    assert f"https://github.com/{colab[0]}" in source(second) and f'"{colab[1]}"' in source(second)
    assert second["outputs"] == [], "the cell prints nothing outside Colab, so the stored notebook holds no output"


def test_every_lesson_and_the_readme_point_to_one_repository():
    places = {COLAB.findall(source(cells(path)[0]))[0][:2] for path in LESSONS}
    assert len(places) == 1, places
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "colab-badge.svg" in readme and "mybinder.org/badge_logo.svg" in readme
    assert {m[:2] for m in COLAB.findall(readme) + BINDER.findall(readme)} == places


def run_colab_cell(path: Path, on_colab: bool, cloned: bool = False) -> tuple[list, list, object]:
    """Run a lesson's Colab cell with subprocess.run, os.chdir and (on a fake Colab) the widget manager recorded."""
    cell = cells(path)[1]
    assert cell.get("id") == "clkit-colab", f"{path.name} has no Colab cell second"
    code = source(cell)
    calls, moves = [], []
    widgets = mock.Mock()
    colab = types.ModuleType("google.colab")
    colab.output = widgets
    modules = {"google": types.ModuleType("google"), "google.colab": colab} if on_colab else {}
    with mock.patch.dict(sys.modules, modules), \
            mock.patch("subprocess.run", side_effect=lambda *a, **k: calls.append(a[0])), \
            mock.patch("os.chdir", side_effect=moves.append), \
            mock.patch("os.path.isdir", return_value=cloned), \
            mock.patch.object(sys, "path", list(sys.path)):
        if not on_colab:
            sys.modules.pop("google.colab", None)
        exec(compile(code, str(path), "exec"), {"__name__": "__main__"})
    return calls, moves, widgets


@pytest.mark.parametrize("path", LESSONS[:1] + LESSONS[-1:], ids=lambda p: p.stem)
def test_the_colab_cell_does_nothing_outside_colab(path):
    assert run_colab_cell(path, on_colab=False)[:2] == ([], [])


@pytest.mark.parametrize("path", LESSONS[:1] + LESSONS[-1:], ids=lambda p: p.stem)
def test_on_colab_the_cell_fetches_the_kit_and_installs_what_is_missing(path):
    repo, branch, _ = COLAB.findall(source(cells(path)[0]))[0]
    calls, moves, widgets = run_colab_cell(path, on_colab=True)
    clone, install = calls
    assert clone[:2] == ["git", "clone"] and f"https://github.com/{repo}" in clone and branch in clone
    assert install[:3] == [sys.executable, "-m", "pip"] and install[-1] == "/content/clkit[lab]"
    assert "--editable" in install  # pip installs only what is missing or too old
    assert moves == ["/content/clkit/notebooks"], "the lessons' relative paths (../bench, results/) hold"
    widgets.enable_custom_widget_manager.assert_called_once()
    # A second run in the same session (the kit already cloned) installs nothing again.
    assert run_colab_cell(path, on_colab=True, cloned=True)[0] == []


# ----------------------------------------------------------------------------- the versions that made the outputs


def recorded(path: Path) -> dict[str, str]:
    return json.loads(path.read_text(encoding="utf-8"))["metadata"]["clkit"]["versions"]


def test_every_lesson_says_which_versions_made_its_outputs():
    made = {path.name: recorded(path) for path in LESSONS}
    first = made[LESSONS[0].name]
    assert {"python", "clkit", "torch", "numpy", "matplotlib"} <= set(first)
    assert all(v == first for v in made.values()), "the lessons were executed in one environment"
    for path in LESSONS:
        line = source(cells(path)[0])
        for name, version in first.items():
            assert f"{'Python' if name == 'python' else name} {version}" in line, f"{path.name} does not show {name}"


def test_those_versions_are_what_the_install_gives():
    made = recorded(LESSONS[0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *(s for extra in project["optional-dependencies"].values() for s in extra)]
    wanted = {Requirement(s).name.lower(): Requirement(s) for s in specs if not s.startswith("clkit")}
    for name, version in made.items():
        if name in wanted:
            assert wanted[name].specifier.contains(version), f"pyproject.toml's {wanted[name]} refuses {name} {version}"
    installed = {name: platform.python_version() if name == "python" else importlib.metadata.version(name)
                 for name in made}
    minor = {name: Version(v).release[:2] for name, v in made.items()}
    stale = {name: (made[name], installed[name]) for name in made if Version(installed[name]).release[:2] != minor[name]}
    assert not stale, f"the lessons' outputs were made with other versions than this install gives: {stale}; " \
                      "run `make notebooks`, then stamp the notebooks again"


# ----------------------------------------------------------------------------- the lesson list and Binder


def test_the_lesson_list_holds_only_lessons():
    others = sorted(p.name for p in (ROOT / "notebooks").iterdir()
                    if not (p.suffix == ".ipynb" and re.fullmatch(r"\d\d_\w+", p.stem))
                    and p.name not in ("results", ".ipynb_checkpoints"))
    assert not others, f"notebooks/ is the lesson list a reader browses; move {others} elsewhere (tests/)"


def conda_dependencies(path: Path) -> tuple[list, list]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return [d for d in deps if isinstance(d, str)], [d for d in deps if isinstance(d, dict)]


def test_binder_builds_from_environment_yml():
    ours, ours_pip = conda_dependencies(ROOT / "environment.yml")
    binder, binder_pip = conda_dependencies(ROOT / "binder" / "environment.yml")
    assert binder == ours, "binder/environment.yml must list what environment.yml lists"
    # The one difference: conda reads pip's paths from the file's folder, so Binder's copy installs the kit from "..".
    assert [[p.replace("--editable ..", "--editable .") for p in d["pip"]] for d in binder_pip] == \
        [d["pip"] for d in ours_pip]
    assert any("--editable .." in p for d in binder_pip for p in d["pip"])


def test_binder_and_make_lab_start_jupyterlab_with_the_kits_settings():
    overrides = json.loads((ROOT / "binder" / "jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["autosave"] is False
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    start = ROOT / "binder" / "start"
    assert os.access(start, os.X_OK), "repo2docker runs binder/start only when it is executable"
    shown = subprocess.run([str(start), "sh", "-c", 'printf %s "$JUPYTER_CONFIG_PATH"'], capture_output=True,
                           text=True, check=True, env={**os.environ, "REPO_DIR": str(ROOT), "JUPYTER_CONFIG_PATH": ""})
    assert shown.stdout.split(os.pathsep)[0] == str(ROOT / "binder" / "jupyter")
    lab = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "lab"], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert f'JUPYTER_CONFIG_PATH="{ROOT}/binder/jupyter' in lab and "--LabApp.default_url=/lab/tree/README.md" in lab
