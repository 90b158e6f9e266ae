"""Stamp every lesson for the classroom: Colab and Binder badges, the Colab install cell, and the versions that
made the outputs.

At the top of each ``notebooks/*.ipynb`` it puts, in this order:

1. a Markdown cell (id ``clkit-badges``): "Open in Colab" and "Launch Binder" badges for this notebook, and one line
   naming the versions of Python and of the packages that shape the outputs;
2. a code cell (id ``clkit-colab``) that on Colab clones the kit, installs what Colab lacks (``pip install -e
   .[lab]`` installs only what is missing or too old), moves into ``notebooks/`` so the lessons' relative paths hold,
   and turns on Colab's widget manager; anywhere else it does nothing and prints nothing, so nbval sees no output;

and records the same versions in the notebook's metadata (``metadata.clkit.versions``). Run it from the repository
root in the environment that executed the notebooks, right after ``make notebooks``:

    python bench/stamp_notebooks.py            # the repository named in pyproject.toml's project.urls
    python bench/stamp_notebooks.py --check    # exit 1 if a notebook lacks the stamp or carries other versions

It is idempotent: the two cells are found by their ids and replaced, never added twice, and each notebook is
written by nbformat exactly as JupyterLab and nbclient write it, so a second run changes no byte. ``--check`` writes
nothing and exits 1 when a notebook would change.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import re
import sys
from pathlib import Path

import nbformat

BADGES_ID, INSTALL_ID = "clkit-badges", "clkit-colab"
#: The packages whose versions shape the lessons' outputs, as their distributions are named.
PACKAGES = ("clkit", "torch", "torchvision", "numpy", "matplotlib", "plotly", "ipywidgets", "umap-learn",
            "scikit-learn", "scikit-image")

INSTALL = '''# On Colab: fetch the kit, install what Colab lacks (about a minute, once a session) and open the lessons' folder.
# Anywhere else this cell does nothing: `make lab`, Binder and conda have installed the kit already.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("/content/clkit"):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "https://github.com/{repo}",
                        "/content/clkit"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--editable", "/content/clkit[lab]"],
                       check=True)
    if "/content/clkit" not in sys.path:
        sys.path.insert(0, "/content/clkit")  # the editable install, for this running kernel
    os.chdir("/content/clkit/notebooks")
    from google.colab import output

    output.enable_custom_widget_manager()  # ipywidgets 8 on Colab'''


def versions() -> dict[str, str]:
    """Python's version and each of :data:`PACKAGES`' installed versions."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            sys.exit(f"{name} is not installed here: run this in the environment that executed the notebooks")
    return found


def badges(repo: str, branch: str, notebook: str, made_with: dict[str, str]) -> str:
    """The Markdown of the first cell."""
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{notebook}"
    binder = f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/notebooks/{notebook}"
    line = " · ".join(f"{'Python' if name == 'python' else name} {version}" for name, version in made_with.items())
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder})\n"
            "\n"
            f"*The outputs below were made with {line}.*")


def stamp(path: Path, repo: str, branch: str, made_with: dict[str, str]) -> bool:
    """Stamp one notebook in place; returns whether its file changed."""
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    top = nbformat.v4.new_markdown_cell(badges(repo, branch, path.name, made_with), id=BADGES_ID)
    install = nbformat.v4.new_code_cell(INSTALL.format(repo=repo, branch=branch), id=INSTALL_ID)
    rest = [cell for cell in nb.cells if cell.get("id") not in (BADGES_ID, INSTALL_ID)]
    nb.cells = [top, install, *rest]
    nb.metadata["clkit"] = {"versions": made_with}
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def repository(pyproject: Path = Path(__file__).resolve().parents[1] / "pyproject.toml") -> str:
    """OWNER/NAME of the kit's GitHub repository, from ``project.urls`` in pyproject.toml (the one place it is set)."""
    found = re.search(r'Repository\s*=\s*"https://github\.com/([^/"]+/[^/"]+?)/?"', pyproject.read_text())
    if not found:
        raise SystemExit(f"{pyproject} names no GitHub repository (project.urls Repository); pass --repo OWNER/NAME")
    return found.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=None, help="the GitHub repository, OWNER/NAME (default: pyproject.toml's)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook would change")
    args = parser.parse_args(argv)
    args.repo = args.repo or repository()
    if args.repo.count("/") != 1 or not all(args.repo.split("/")):
        parser.error(f"--repo must be OWNER/NAME, got {args.repo!r}")
    paths = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        parser.error(f"no lessons (NN_*.ipynb) in {args.notebooks}/: run this from the repository root")
    made_with, changed = versions(), []
    for path in paths:
        if args.check:
            text = path.read_text(encoding="utf-8")
            if stamp(path, args.repo, args.branch, made_with):
                path.write_text(text, encoding="utf-8")
                changed.append(path.name)
        elif stamp(path, args.repo, args.branch, made_with):
            changed.append(path.name)
    print(f"{'would change' if args.check else 'stamped'} {len(changed)} of {len(paths)} notebooks"
          + (f": {', '.join(changed)}" if changed else ""))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
