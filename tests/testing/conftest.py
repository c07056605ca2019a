from __future__ import annotations

import httpx
import pytest

from tests.server import run_server


@pytest.fixture(scope="module")
def mock():
    """One real server per test module."""
    with run_server() as running:
        yield running


@pytest.fixture
def admin(mock):
    """The admin API of ``mock``, reset first (journal, faults, limiter, run-time fixtures)."""
    with httpx.Client(base_url=mock.url + "/_admin", timeout=10) as http:
        http.post("/reset").raise_for_status()
        yield http
