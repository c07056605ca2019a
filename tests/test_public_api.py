"""What users import from ``perceptron_mock`` itself: exactly the names of ``__all__``, each the object of
its home module, and an ``import perceptron_mock`` that stays cheap (pytest imports the plugin, and so
this package, in every project that has the mock installed)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import perceptron_mock

PUBLIC = ["MockAdminError", "MockClient", "RecordedRequest", "Settings", "__version__", "create_app"]


def test_the_package_exports_exactly_its_public_names():
    assert sorted(perceptron_mock.__all__) == PUBLIC
    assert [name for name in dir(perceptron_mock) if not name.startswith("_")] == sorted(
        name for name in PUBLIC if not name.startswith("_")
    )


def test_every_exported_name_imports_and_is_its_home_module_s_object():
    for name in perceptron_mock.__all__:
        exported = getattr(perceptron_mock, name)
        home = getattr(exported, "__module__", None)
        if home is not None:
            assert getattr(importlib.import_module(home), name) is exported
    from perceptron_mock import MockClient, create_app  # noqa: F401 -- the spelling the docs use


def test_an_unknown_name_is_an_attribute_error():
    try:
        perceptron_mock.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("perceptron_mock.nothing_here did not raise AttributeError")


def test_importing_the_package_or_the_plugin_loads_no_server():
    code = (
        "import sys, perceptron_mock, perceptron_mock.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn', 'pydantic', 'redis')"
        " or m.startswith(('perceptron_mock.main', 'perceptron_mock.api', 'perceptron_mock.answers'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_version_is_the_installed_distribution_s():
    from importlib.metadata import version

    assert perceptron_mock.__version__ == version("perceptron-mock")
