"""The pytest11 entry point of perceptron-mock: loads ``app.testing.plugin``, or steps aside.

pytest imports every installed plugin at start-up, so a plugin that fails to import breaks the test
runs of every project that has perceptron-mock installed. One way that could happen is handled
here: the project has its own top-level package called ``app``, which shadows the mock's. Then the
``perceptron_mock`` fixture is not offered, pytest says why once, and the project's tests run as
before.
"""

from __future__ import annotations

import pytest

_why_not: str | None = None
try:
    import app as _app

    if not getattr(_app, "IS_PERCEPTRON_MOCK", False):
        raise ImportError(f"the top-level package 'app' at {getattr(_app, '__file__', '?')} is not perceptron-mock's")
    from app.testing.plugin import *  # noqa: F401,F403 - the fixtures and hooks pytest looks for
    from app.testing.plugin import pytest_configure as _configure
except ImportError as exc:
    _why_not = str(exc)
    _configure = None


def pytest_configure(config: pytest.Config) -> None:  # noqa: F811 - wraps the plugin's own hook
    if _configure is not None:
        _configure(config)
    else:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"perceptron-mock's pytest fixture is unavailable: {_why_not}"), stacklevel=2
        )
