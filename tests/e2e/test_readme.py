"""The README works as printed: each Python block of its one-minute tour, run as a new user would run it
(a fresh interpreter, a ``scene.webp`` in the working directory, the environment the README says to
export), gets an answer from a real mock; only the address is changed, to the test server's port. It
stays short (the reference lives in docs/), and every link in it leads to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import python_blocks, run_as_a_new_user

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MOST_LINES = 250


def tour_blocks() -> list[str]:
    tour = README.read_text(encoding="utf-8").split("## A one-minute tour", 1)[1].split("\n## ", 1)[0]
    return python_blocks(tour)


def test_the_tour_has_a_block_for_each_sdk() -> None:
    blocks = tour_blocks()
    assert any("import openai" in block for block in blocks)
    assert any("import perceptron" in block for block in blocks)


@pytest.mark.parametrize("index", range(len(tour_blocks())), ids=lambda i: f"block{i}")
def test_tour_block_runs_against_the_mock(index: int, perceptron_mock, tmp_path: Path) -> None:
    run_as_a_new_user(tour_blocks()[index], perceptron_mock, tmp_path)


def test_the_readme_is_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MOST_LINES, f"README.md has {lines} lines; move reference material to docs/"


def test_every_link_in_the_readme_leads_to_a_file_that_exists() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text(encoding="utf-8"))
    local = [link.split("#", 1)[0] for link in links if "://" not in link]
    assert local, "the README links to no documentation page"
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
