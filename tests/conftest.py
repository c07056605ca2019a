from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from tests.server import RunningServer, run_server

MODEL = "isaac-0.2-2b-preview"
# The prompt tokens a one-message request adds to its content: the message's chat template (5) and the
# generation prompt (3). Written out, not read from perceptron_mock.accounting.tokens, so that a change there shows.
OVERHEAD = 5 + 3


@pytest.fixture(scope="session")
def server() -> RunningServer:
    """One mock on default settings, shared by the tests that need nothing special. Its rate limit is
    raised so far that the whole suite, sharing one key, never meets it (the x-ratelimit headers stay);
    tests/test_limits_rate*.py start their own servers for the limit itself."""
    with run_server("--rate-limit-per-minute", "1000000") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> httpx.Client:
    with httpx.Client(base_url=server.url, headers={"authorization": "Bearer test-key"}, timeout=30) as http:
        yield http


@pytest.fixture
def openai_client(server: RunningServer):
    import openai

    return openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)


def point_perceptron_at(server: RunningServer, monkeypatch: pytest.MonkeyPatch, api_key: str = "test-key") -> None:
    """Point the perceptron SDK's module-level helpers (``perceptron.detect``, ``question``, …) at
    ``server``: they read PERCEPTRON_BASE_URL and PERCEPTRON_API_KEY, and a FAL_KEY in the environment
    could send them to fal.ai instead."""
    monkeypatch.setenv("PERCEPTRON_BASE_URL", server.base_url)
    monkeypatch.setenv("PERCEPTRON_API_KEY", api_key)
    monkeypatch.delenv("FAL_KEY", raising=False)


@pytest.fixture
def perceptron_sdk(server: RunningServer, monkeypatch: pytest.MonkeyPatch):
    """The perceptron SDK's client for ``server``, its module-level helpers pointed there too."""
    import perceptron

    point_perceptron_at(server, monkeypatch)
    with perceptron.Client(base_url=server.base_url, api_key="test-key") as client:
        yield client


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def chat(text: str = "Hello", **fields) -> dict:
    """A minimal valid request body, with ``fields`` merged in."""
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}
