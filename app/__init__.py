"""perceptron-mock: an offline stand-in for Perceptron's chat-completions API, and a toolkit for testing clients.

Names are imported when first used: pytest imports the plugin, and so this package, in every project
that has the mock installed, and most of them never start a server.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["MockAdminError", "MockClient", "RecordedRequest", "Settings", "__version__", "create_app"]

_HOMES = {
    "MockAdminError": "perceptron_mock.testing.client",
    "MockClient": "perceptron_mock.testing.client",
    "RecordedRequest": "perceptron_mock.testing.client",
    "Settings": "perceptron_mock.settings",
    "create_app": "perceptron_mock.main",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'perceptron_mock' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
