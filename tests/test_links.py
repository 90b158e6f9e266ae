"""Every relative link in the lessons and the README points at a file that exists."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


def test_every_relative_link_resolves():
    broken = []
    for path in [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb")), *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(markdown_of(path)):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} → {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_tour_lists_every_lesson():
    tour = markdown_of(ROOT / "notebooks" / "00_tour.ipynb")
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00"))
    missing = [name for name in lessons if f"({name})" not in tour]
    assert not missing, f"the tour's map of lessons lacks {missing}"
