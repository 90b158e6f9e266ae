"""The two install routes (pip with pyproject.toml, conda with environment.yml) stay in step."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Names that differ between PyPI and conda-forge.
CONDA_NAME = {"torch": "pytorch", "playwright": "playwright-python"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_every_dependency_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(s) for s in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {requirement_name(s) for s in extra if not s.startswith("clkit")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    conda = {requirement_name(s) for s in env["dependencies"] if isinstance(s, str)}
    missing = {name for name in wanted if CONDA_NAME.get(name, name) not in conda}
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    extra = {name for name in conda - {CONDA_NAME.get(n, n) for n in wanted} if name not in ("python", "pip")}
    assert not extra, f"environment.yml has {sorted(extra)} that pyproject.toml does not"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert re.search(r"^make test\b", ci, re.MULTILINE)


def test_import_clkit_needs_neither_plotting_nor_widgets():
    code = (
        "import sys, clkit, clkit.train, clkit.cli;"
        "bad = [m for m in ('matplotlib', 'plotly', 'ipywidgets', 'umap', 'sklearn', 'skimage') if m in sys.modules];"
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
