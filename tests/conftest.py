"""Fixtures only (what tests import comes from tests/helpers.py). The server is the project's own:
the pytest plugin's ``perceptron_mock`` fixture, reset before each test, or its marker for a test's
own settings; subprocess servers (tests/server.py) are for tests about the process itself."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import point_perceptron_at
from tests.redis_server import run_redis


@pytest.fixture
def client(perceptron_mock) -> httpx.Client:
    """httpx on the mock, with its key."""
    with httpx.Client(base_url=perceptron_mock.url, headers={"authorization": f"Bearer {perceptron_mock.api_key}"}, timeout=30) as http:
        yield http


@pytest.fixture
def openai_client(perceptron_mock):
    return perceptron_mock.openai_client(max_retries=0)


@pytest.fixture
def perceptron_sdk(perceptron_mock, monkeypatch: pytest.MonkeyPatch):
    """The perceptron SDK's client for the mock, its module-level helpers pointed there too."""
    point_perceptron_at(perceptron_mock, monkeypatch, perceptron_mock.api_key)
    with perceptron_mock.perceptron_client() as client:
        yield client


@pytest.fixture
def admin(perceptron_mock) -> httpx.Client:
    """httpx on the mock's ``/_admin``, for what the tests check on the wire (MockClient is the Python way)."""
    with httpx.Client(base_url=perceptron_mock.url + "/_admin", timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def redis_url():
    """A real redis-server of this module's own, on a free port."""
    with run_redis() as url:
        yield url
