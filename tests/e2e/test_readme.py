"""The README's one-minute tour works as printed: each of its Python blocks, run as a new user would run
it (a fresh interpreter, a ``scene.webp`` in the working directory, the environment the README says to
export), gets an answer from a real mock. Only the address is changed, to the test server's port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


README = Path(__file__).resolve().parents[2] / "README.md"


def tour_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A one-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", tour, re.S)


def test_the_tour_has_a_block_for_each_sdk() -> None:
    blocks = tour_blocks()
    assert any("import openai" in block for block in blocks)
    assert any("import perceptron" in block for block in blocks)


@pytest.mark.parametrize("index", range(len(tour_blocks())), ids=lambda i: f"block{i}")
def test_tour_block_runs_against_the_mock(index: int, perceptron_mock, tmp_path: Path) -> None:
    code = tour_blocks()[index].replace("http://127.0.0.1:8000", perceptron_mock.url)
    Image.new("RGB", (640, 480), "teal").save(tmp_path / "scene.webp", "WEBP")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERCEPTRON_", "OPENAI_"))}
    # What the README tells the reader to export for the perceptron helpers.
    env |= {"PERCEPTRON_BASE_URL": perceptron_mock.base_url, "PERCEPTRON_API_KEY": "any-key"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Every block prints what the mock answered: non-empty text on each print.
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    assert printed and all(line.strip() != "None" for line in printed), done.stdout


def test_the_settings_table_has_one_row_per_setting_flag() -> None:
    """Every ``Settings`` field is a CLI flag, and the README's settings table lists exactly those flags."""
    from perceptron_mock.cli import _flag
    from perceptron_mock.settings import Settings

    table = README.read_text(encoding="utf-8").split("| flag | environment |", 1)[1].split("\n\n", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines()[2:]]  # past the header's end and |---|
    listed = [flag for cell in first_cells for flag in re.findall(r"`(--[a-z-]+)`", cell)]
    assert sorted(listed) == sorted(_flag(name) for name in Settings.model_fields)
