"""Hostile multilook bodies get a 4xx envelope or a 200, never a 5xx or a stall; the worst case the
limits allow (16 prompts x n 8, reasoning, images in every prompt) is answered in full."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import data_url, image_bytes

PATH = "/v1/chat/completions/multilook"
MK15 = "perceptron-mk1.5"
WATCHDOG = 30.0  # seconds: catches a stall, not a speed target
ENVELOPE = {"message", "type", "param", "code"}


def post(client: httpx.Client, body: dict | bytes) -> httpx.Response:
    if isinstance(body, bytes):
        return client.post(PATH, content=body, headers={"content-type": "application/json"}, timeout=WATCHDOG)
    return client.post(PATH, json=body, timeout=WATCHDOG)


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert set(response.json()["error"]) == ENVELOPE


def test_the_worst_case_the_limits_allow_is_answered_in_full(client):
    image = data_url(image_bytes(size=(1024, 768)))
    context = [
        {"role": "system", "content": "<hint>BOX THINK</hint>Find every object."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": "the scene " * 2000}]},
    ]
    prompts = [{"content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": f"Where are the cups, {i}?"}]} for i in range(16)]

    answer = post(client, {"model": MK15, "context": context, "prompts": prompts, "n": 4, "temperature": 1.0, "reasoning_effort": "high"})
    assert answer.status_code == 200, answer.text[:500]
    results = answer.json()["results"]
    assert len(results) == 16 and all(len(r["completions"]) == 4 for r in results)
    assert all(c["message"]["reasoning_content"] and "<point_box" in c["message"]["content"] for r in results for c in r["completions"])

    plain = post(client, {"model": MK15, "context": [], "prompts": [f"Count the cups, {i}." for i in range(8)], "n": 8, "temperature": 2.0})
    assert plain.status_code == 200 and sum(len(r["completions"]) for r in plain.json()["results"]) == 64


def test_a_hundred_thousand_tiny_prompts_are_refused_without_reading_them_all(client):
    body = json.dumps({"model": MK15, "context": [], "prompts": ["q"] * 100_000}).encode()
    error = post(client, body).json()["error"]
    assert error["code"] in ("request_too_complex", "invalid_parameter")


def test_sixteen_prompts_each_past_the_window_fail_as_one_400(client):
    prompts = ["word " * 200_000 for _ in range(16)]  # 16 MB of text, each prompt far past 36,864 tokens
    answer = post(client, {"model": MK15, "context": [], "prompts": prompts})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "prompts[0]")
    assert len(answer.content) < 2000  # the prompt is not echoed


def test_a_context_past_the_window_refuses_the_request_naming_the_context(client):
    answer = post(client, {"model": MK15, "context": [{"role": "user", "content": "word " * 100_000}], "prompts": ["a", "b"]})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "context" and answer.json()["error"]["code"] == "context_length_exceeded"


def test_a_huge_model_name_is_not_echoed(client):
    answer = post(client, {"model": "m" * 1_000_000, "context": [], "prompts": ["q"]})
    assert answer.status_code == 404 and len(answer.content) < 1000


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_prompt = st.one_of(
    st.text(max_size=40),
    st.fixed_dictionaries({"content": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "audio_url"]), "text": st.text(max_size=10)}), max_size=3)}),
    _json,
)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer", "x"]), "content": st.one_of(st.text(max_size=30), _json)}
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(
    context=st.one_of(st.lists(_message, max_size=4), _json),
    prompts=st.one_of(st.lists(_prompt, max_size=20), _json),
    n=st.one_of(st.none(), st.integers(-3, 12), _json),
    temperature=st.one_of(st.none(), st.floats(-1, 3, allow_nan=False)),
)
def test_arbitrary_multilook_bodies_never_produce_a_5xx(perceptron_mock_server, context, prompts, n, temperature):
    body = {"model": MK15, "context": context, "prompts": prompts}
    if n is not None:
        body["n"] = n
    if temperature is not None:
        body["temperature"] = temperature
    with httpx.Client(base_url=perceptron_mock_server.url, headers={"authorization": "Bearer test-key"}) as client:
        assert_answered(post(client, body))
