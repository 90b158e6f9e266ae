"""The package's architecture, checked: stages import only the stages before them, and modules stay readable."""

import ast
from pathlib import Path

import clkit

PACKAGE = Path(clkit.__file__).resolve().parent

# The data flow, in order. A stage may import any stage at or before its own position.
STAGES = ["scale", "data", "augment", "models", "losses", "methods", "evaluate", "train", "recipes", "sweep", "cli"]
# Drawing (and the lessons' self-checks) sit beside the flow: they may import any stage, and no stage of the
# flow imports them.
DRAWING = ["viz", "widgets", "exercises"]
# ``python -m clkit`` comes last: it only starts the command line.
ORDER = STAGES + ["__main__"]


def stage_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def clkit_imports(path: Path) -> set[str]:
    """The clkit stages a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "clkit":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("clkit.")}
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_stage_imports_only_earlier_stages():
    backwards = []
    for path in modules():
        stage = stage_of(path)
        if stage in DRAWING:
            continue
        for imported in clkit_imports(path) - {stage}:
            if imported in DRAWING or ORDER.index(imported) > ORDER.index(stage):
                backwards.append(f"{path.relative_to(PACKAGE)} imports clkit.{imported}")
    assert not backwards, "imports against the data flow:\n" + "\n".join(backwards)


def test_every_module_stays_short_and_no_module_is_a_grab_bag():
    long = [f"{p.relative_to(PACKAGE)}: {n} lines" for p in modules() if (n := len(p.read_text().splitlines())) > 400]
    assert not long, long
    vague = [p for p in modules() if p.stem in ("utils", "helpers", "misc", "common")]
    assert not vague, vague


def test_every_stage_is_reachable_from_import_clkit():
    for name in STAGES + DRAWING:
        assert getattr(clkit, name).__name__ == f"clkit.{name}"
