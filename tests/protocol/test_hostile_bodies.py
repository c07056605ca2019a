"""Hostile bodies get a 4xx envelope: never a 500, never a hang, never the input echoed back in bulk."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import MODEL, post

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _assert_envelope(response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "EOF"),
        (b'{"model": "x",}', "trailing comma"),
        (b"[1, 2, 3]", "got an array"),
        (b'"just a string"', "got a string"),
        (b"null", "got null"),
        (b"42", "got an integer"),
        (b"", "empty"),
        (b"   ", "EOF"),
        (json.dumps(GOOD).encode() + b" trailing", "trailing characters"),
        (b"\xff\xfe\x00{", "expected value"),
        ('{"model":"isaac-0.1","messages":[{"role":"user","content":"é"}]}'.encode("latin-1"), "unicode"),
        ('{"model":"isaac-0.1","messages":[]}'.encode("utf-16"), "expected value"),
        (b'{"model":"isaac-0.1","messages":[{"role":"user","content":"\\ud800"}]}', "escape"),
        (b'{"model":"isaac-0.1","messages":[],"top_k":' + b"9" * 5000 + b"}", "number out of range"),
    ],
)
def test_bodies_that_are_not_a_json_object_get_400_invalid_json(client, body, words):
    error = _assert_envelope(post(client, body), 400)
    assert error["code"] == "invalid_json" and error["param"] is None
    assert words in error["message"]


@pytest.mark.parametrize(
    ("depth", "code", "words"),
    [
        (300, "invalid_json", "recursion limit"),
        # 100,000 objects are more JSON items than the server parses (--max-json-items): refused uncounted
        (100_000, "request_too_complex", "more than 25000 JSON items"),
    ],
)
def test_deep_nesting_is_refused(client, depth, code, words):
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    body = b'{"model":"isaac-0.1","messages":[{"role":"user","content":"x"}],"vision_config":' + nested + b"}"
    error = _assert_envelope(post(client, body), 400)
    assert error["code"] == code and words in error["message"]


def test_deeply_nested_arrays_in_content_are_refused(client):
    body = b'{"model":"isaac-0.1","messages":[{"role":"user","content":' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    _assert_envelope(post(client, body), 400)


def test_huge_strings_in_unexpected_places_are_not_echoed(client):
    huge = "x" * 3_000_000
    for body in (
        {**GOOD, "model": huge},
        {**GOOD, huge: 1},
        {**GOOD, "messages": [{"role": huge, "content": "hi"}]},
        {**GOOD, "reasoning_effort": huge},
        {**GOOD, "messages": [{"role": "user", "content": [{"type": huge}]}]},
        {**GOOD, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": huge}}]}]},
    ):
        response = post(client, json.dumps(body).encode())
        assert 400 <= response.status_code < 500, response.text[:300]
        assert len(response.content) < 2000
        _assert_envelope(response, response.status_code)


def test_a_huge_valid_text_prompt_is_refused_for_context_not_crashed(client):
    body = {**GOOD, "messages": [{"role": "user", "content": "word " * 1_000_000}]}
    error = _assert_envelope(post(client, json.dumps(body).encode()), 400)
    assert error["code"] == "context_length_exceeded"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "model", "messages", "temperature", "top_p", "top_k", "max_completion_tokens", "max_tokens",
    "frequency_penalty", "presence_penalty", "regex", "response_format", "stream", "stream_options",
    "vision_config", "reasoning_effort", "n", "tools", "tool_choice", "parallel_tool_calls",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_wrong_types_everywhere_never_produce_a_5xx(client, field, value):
    response = post(client, json.dumps({**GOOD, field: value}).encode())
    assert response.status_code < 500, response.text[:500]
    if response.status_code != 200:
        _assert_envelope(response, response.status_code)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.dictionaries(st.sampled_from(["role", "content", "name", "reasoning_content", "x"]), json_values, max_size=4))
def test_arbitrary_messages_never_produce_a_5xx(client, message):
    response = post(client, json.dumps({**GOOD, "messages": [message]}).encode())
    assert response.status_code < 500, response.text[:500]
    if response.status_code != 200:
        _assert_envelope(response, response.status_code)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_produce_a_5xx(client, raw):
    response = post(client, raw)
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text[:500]
    if response.status_code != 200:
        _assert_envelope(response, response.status_code)
