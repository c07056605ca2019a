"""The code keeps the shape docs/architecture.md describes: imports go one way down the layers that
pyproject.toml's import-linter contract lists, no module grows past 400 lines, and module docstrings
stay short (history and measurements live in the docs)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "app").rglob("*.py"))
MAX_LINES = 400
MAX_DOCSTRING_LINES = 5  # a summary line, a blank line and at most three lines of why


def test_no_import_runs_against_the_layers():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concept"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_docstrings_say_what_in_a_line_and_why_in_three_more(path: Path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False) or ""
    assert len(docstring.strip().splitlines()) <= MAX_DOCSTRING_LINES, f"{path.relative_to(ROOT)}: move the rest to docs/"


def test_the_architecture_page_maps_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    mapped = set(re.findall(r"^\| `([\w/]+\.py)` \|", page, re.M))
    assert mapped == {str(path.relative_to(ROOT / "app")) for path in MODULES if path.stat().st_size or path.name != "__init__.py"}
