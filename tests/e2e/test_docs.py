"""The documentation under docs/ cannot drift from the code: the settings page lists exactly the fields
of ``Settings``, each with its flag, its environment variable and its default, and the Quickstart's
Python blocks and the pytest page's ``MockClient`` block run as printed against a real mock.
(``scripts/docs.sh`` checks that every page is in the nav and every link and anchor resolves.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import python_blocks, run_as_a_new_user

DOCS = Path(__file__).resolve().parents[2] / "docs"


def settings_rows() -> list[list[str]]:
    table = (DOCS / "settings.md").read_text(encoding="utf-8").split("| flag | environment |", 1)[1]
    rows = table.strip().split("\n\n", 1)[0].splitlines()[2:]  # past the header's end and |---|
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def shown(default: object) -> str | None:
    """A default as the table writes it in backticks; None where the table says it in words."""
    if default is None or isinstance(default, (bool, list)):
        return None  # "unset", "off", "the four reference ids", "empty (any key)"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_settings_page_has_one_row_per_setting_with_its_flag_variable_and_default() -> None:
    from perceptron_mock.cli import _flag
    from perceptron_mock.settings import Settings

    rows = {}
    for flag_cell, env_cell, default_cell, _ in settings_rows():
        [flag] = re.findall(r"`(--[a-z-]+)`", flag_cell)
        [env] = re.findall(r"`(PERCEPTRON_MOCK_[A-Z_]+)`", env_cell)
        backticked = re.findall(r"`([^`]+)`", default_cell)
        rows[flag] = (env, backticked[0] if backticked else None)

    expected = {
        _flag(name): (f"PERCEPTRON_MOCK_{name.upper()}", shown(field.get_default(call_default_factory=True)))
        for name, field in Settings.model_fields.items()
    }
    assert rows == expected


QUICKSTART = python_blocks((DOCS / "quickstart.md").read_text(encoding="utf-8"))


def test_the_quickstart_shows_both_sdks() -> None:
    assert any("import openai" in block for block in QUICKSTART)
    assert any("import perceptron" in block for block in QUICKSTART)


@pytest.mark.parametrize("index", range(len(QUICKSTART)), ids=lambda i: f"block{i}")
def test_quickstart_block_runs_against_the_mock(index: int, perceptron_mock, tmp_path: Path) -> None:
    run_as_a_new_user(QUICKSTART[index], perceptron_mock, tmp_path)


def test_the_files_page_example_runs_against_the_mock(perceptron_mock, tmp_path: Path) -> None:
    [block] = python_blocks((DOCS / "files.md").read_text(encoding="utf-8"))
    run_as_a_new_user(block, perceptron_mock, tmp_path)


def test_the_mock_client_example_runs_against_a_mock_of_its_own(perceptron_mock, tmp_path: Path) -> None:
    """The pytest page's ``MockClient`` block, on the plugin's server (reset before each test: the block queues faults)."""
    [block] = [b for b in python_blocks((DOCS / "pytest.md").read_text(encoding="utf-8")) if "MockClient(" in b]
    run_as_a_new_user(block, perceptron_mock, tmp_path)


def test_the_models_page_has_the_catalog_as_a_table() -> None:
    from perceptron_mock.protocol.catalog import Catalog

    table = (DOCS / "models.md").read_text(encoding="utf-8").split("| id | name |", 1)[1].strip().split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in table.splitlines()[2:]]
    written = [
        [
            model.id,
            model.name,
            f"{model.max_context_tokens} / {model.max_output_tokens}",
            ", ".join(model.modalities),
            ", ".join(model.output_formats),
            ", ".join(f"`{c}`" for c in model.capabilities),
            "supported" if model.reasoning.supported else "not supported",
        ]
        for model in Catalog.load().entries.values()
    ]
    assert [[row[0].strip("`"), *row[1:]] for row in rows] == written
