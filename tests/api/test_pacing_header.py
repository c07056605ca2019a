"""Picking a latency model per request (``X-Mock-Pacing``) and per fixture (``pacing``), on a real server:
what was scheduled is read back from ``/metrics``, so nothing here depends on the machine's speed."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_metrics_route import scrape, value
from tests.helpers import MODEL, chat, post

SCHEDULED = "perceptron_mock_first_token_scheduled_seconds_sum"


def scheduled_first_token(mock, client: httpx.Client, body: dict, **headers: str) -> float:
    """The first-token wait the server scheduled for one streamed request."""
    before = value(scrape(mock.url), SCHEDULED)
    response = post(client, {**body, "stream": True, "max_completion_tokens": 2}, **headers)
    assert response.status_code == 200, response.text
    return round(value(scrape(mock.url), SCHEDULED) - before, 9)


@pytest.mark.parametrize(
    "spec, says",
    [
        ("ttft=abc", "'ttft' must be a number"),
        ("ttft=-5", "between 0 and 600000"),
        ("dist=uniform; sd=3", "normal or lognormal"),
        ("warp=9", "unknown pacing item 'warp'"),
        ("jitter=4", "give a rate too"),
        ("x" * 300, "characters long"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_an_unreadable_pacing_header_is_a_400_naming_the_problem(client, spec, says, stream):
    response = post(client, chat("Hi", stream=stream), **{"x-mock-pacing": spec})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_pacing" and error["type"] == "invalid_request_error" and error["param"] is None
    assert error["message"].startswith("Invalid X-Mock-Pacing header: ") and says in error["message"]


def test_the_header_sets_one_stream_pacing(perceptron_mock, client):
    assert scheduled_first_token(perceptron_mock, client, chat("Hi"), **{"x-mock-pacing": "ttft=30; tps=500"}) == 0.03


def test_the_openai_sdk_paces_a_stream_with_the_mock_client_helper(perceptron_mock, openai_client):
    before = value(scrape(perceptron_mock.url), SCHEDULED)
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True, max_completion_tokens=2,
        extra_headers=perceptron_mock.pacing_header("ttft=35; tps=500"),
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert round(value(scrape(perceptron_mock.url), SCHEDULED) - before, 9) == 0.035


@pytest.mark.perceptron_mock(stream_first_token_ms=30, stream_tokens_per_second=500)
def test_none_in_the_header_turns_a_paced_server_off_for_one_request(perceptron_mock, client):
    assert scheduled_first_token(perceptron_mock, client, chat("Hi")) == 0.03
    assert scheduled_first_token(perceptron_mock, client, chat("Hi"), **{"x-mock-pacing": "none"}) == 0  # not paced: not reported


def test_the_same_request_draws_the_same_wait_and_another_request_another(perceptron_mock, client):
    header = {"x-mock-pacing": "ttft=40; sd=15; dist=lognormal; tps=1000; jitter=0.2"}
    first = scheduled_first_token(perceptron_mock, client, chat("Hi"), **header)
    again = scheduled_first_token(perceptron_mock, client, chat("Hi"), **header)
    other = scheduled_first_token(perceptron_mock, client, chat("Hello there"), **header)
    assert first == again != other
    reseeded = scheduled_first_token(perceptron_mock, client, chat("Hi"), **{"x-mock-pacing": header["x-mock-pacing"] + "; seed=5"})
    assert reseeded != first


@pytest.mark.perceptron_mock(stream_first_token_ms=20, stream_tokens_per_second=500, stream_prefill_ms_per_1k_tokens=1000)
def test_server_pacing_stretches_the_first_token_by_the_prompt_length(perceptron_mock, client):
    for text in ("Hi", "word " * 100):
        prompt_tokens = post(client, chat(text)).json()["usage"]["prompt_tokens"]
        assert scheduled_first_token(perceptron_mock, client, chat(text)) == pytest.approx(0.02 + prompt_tokens / 1000)


FIXTURE_FORMS = [
    {"first_token_ms": 25, "tokens_per_second": 500},  # the original shape
    {"first_token_ms": 25, "tokens_per_second": 500, "first_token_sd_ms": 0, "token_jitter_ms": 0.1, "seed": 3},
    "ttft=25; tps=500",  # the header's grammar
]


@pytest.mark.parametrize("form", FIXTURE_FORMS, ids=["object", "model", "spec"])
def test_a_fixture_paces_its_answer_in_each_form(perceptron_mock, client, admin, form):
    fixture = {"name": "paced", "match": {"user_text": "^pace me$"}, "respond": {"content": "a b c", "pacing": form}}
    assert admin.post("/fixtures", json=fixture).status_code == 201
    assert scheduled_first_token(perceptron_mock, client, chat("pace me")) == 0.025
    # The request's own header wins over the fixture's pacing.
    assert scheduled_first_token(perceptron_mock, client, chat("pace me"), **{"x-mock-pacing": "ttft=5; tps=500"}) == 0.005


def test_a_fixture_with_an_unreadable_pacing_spec_is_refused(admin):
    fixture = {"name": "bad", "respond": {"content": "x", "pacing": "ttft=soon"}}
    response = admin.post("/fixtures", json=fixture)
    assert response.status_code == 400 and "invalid pacing spec 'ttft=soon'" in response.json()["error"]["message"]
