"""A bearer key is required; with configured keys only those are accepted."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import MODEL, chat
from tests.server import declared_body, run_server


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": ""}, {"authorization": "Bearer"}, {"authorization": "Basic abc"}],
)
def test_missing_key_is_401(server, headers):
    response = httpx.post(server.url + "/v1/chat/completions", json=chat(), headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "missing_api_key"
    assert "Authorization" in error["message"]


def test_auth_is_checked_before_the_body(server):
    response = httpx.post(server.url + "/v1/chat/completions", content=b"{not json")
    assert response.status_code == 401


def test_a_declared_oversized_body_is_refused_before_auth(server):
    # As the edge proxy in front of the real service does: the answer comes before any body is sent.
    with declared_body(server.url, 21 * 1024 * 1024) as sock:
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_any_non_empty_key_is_accepted_by_default(server):
    response = httpx.post(server.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer whatever"})
    assert response.status_code == 200


@pytest.fixture(scope="module")
def keyed_server():
    with run_server("--api-key", "sk-first-key-0001", "--api-key", "sk-second-key-0002") as running:
        yield running


@pytest.mark.parametrize("key", ["sk-first-key-0001", "sk-second-key-0002"])
def test_configured_keys_are_accepted(keyed_server, key):
    client = openai.OpenAI(base_url=keyed_server.base_url, api_key=key, max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices


def test_other_keys_are_refused_and_masked(keyed_server):
    client = openai.OpenAI(base_url=keyed_server.base_url, api_key="sk-wrong-key-123456789", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-123456789" not in str(caught.value)
    assert "6789" in str(caught.value)


def test_keys_from_the_environment():
    with run_server(env={"PERCEPTRON_MOCK_API_KEYS": "env-key-a,env-key-b"}) as running:
        ok = httpx.post(running.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer env-key-b"})
        bad = httpx.post(running.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer env-key-c"})
    assert ok.status_code == 200 and bad.status_code == 401
