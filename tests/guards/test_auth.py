"""A bearer key is required; with configured keys only those are accepted."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.helpers import MODEL, chat
from tests.server import declared_body, run_server


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": ""}, {"authorization": "Bearer"}, {"authorization": "Basic abc"}],
)
def test_missing_key_is_401(perceptron_mock, headers):
    response = httpx.post(perceptron_mock.url + "/v1/chat/completions", json=chat(), headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "missing_api_key"
    assert "Authorization" in error["message"]


def test_auth_is_checked_before_the_body(perceptron_mock):
    response = httpx.post(perceptron_mock.url + "/v1/chat/completions", content=b"{not json")
    assert response.status_code == 401


def test_a_declared_oversized_body_is_refused_before_auth(perceptron_mock):
    # As the edge proxy in front of the real service does: the answer comes before any body is sent.
    with declared_body(perceptron_mock.url, 21 * 1024 * 1024) as sock:
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_any_non_empty_key_is_accepted_by_default(perceptron_mock):
    response = httpx.post(perceptron_mock.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer whatever"})
    assert response.status_code == 200


KEYED = pytest.mark.perceptron_mock(api_keys=["sk-first-key-0001", "sk-second-key-0002"])


@KEYED
@pytest.mark.parametrize("key", ["sk-first-key-0001", "sk-second-key-0002"])
def test_configured_keys_are_accepted(perceptron_mock, key):
    client = perceptron_mock.openai_client(api_key=key, max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices


@KEYED
def test_other_keys_are_refused_and_masked(perceptron_mock):
    client = perceptron_mock.openai_client(api_key="sk-wrong-key-123456789", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-123456789" not in str(caught.value)
    assert "6789" in str(caught.value)


def test_keys_from_the_environment():  # the CLI reads the environment: a process of its own
    with run_server(env={"PERCEPTRON_MOCK_API_KEYS": "env-key-a,env-key-b"}) as running:
        ok = httpx.post(running.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer env-key-b"})
        bad = httpx.post(running.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer env-key-c"})
    assert ok.status_code == 200 and bad.status_code == 401
