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


def journal(admin: httpx.Client, **filters) -> list[dict]:
    """The journal's entries (``GET /_admin/requests``) matching ``filters``, oldest first."""
    response = admin.get("/requests", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["data"]
