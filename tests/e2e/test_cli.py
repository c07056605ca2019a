"""The ``perceptron-mock`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.server import free_port, run_server


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m perceptron_mock *args`` for a command that must exit by itself (the timeout guards a start by mistake)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTRON_MOCK_")}
    return subprocess.run(
        [sys.executable, "-m", "perceptron_mock", "--port", str(free_port()), *args], env=env, capture_output=True, text=True, timeout=60
    )


# "trace" too: uvicorn knows it, but registers its name with logging only inside uvicorn.run, after the
# CLI has configured logging with it; until that changes it is refused as clearly as a typo.
@pytest.mark.parametrize("value", ["foo", "verbose", "", "trace"])
def test_a_bad_log_level_is_a_usage_error_not_a_traceback(value):
    done = run_cli("--log-level", value)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("perceptron-mock: error: --log-level:"), done.stderr
    assert all(f"'{level}'" in last for level in ("critical", "error", "warning", "info", "debug")), last


@pytest.mark.parametrize("value", ["DEBUG", "error"])
def test_every_uvicorn_log_level_starts_the_server_in_any_case(value):
    with run_server("--log-level", value) as server:
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
