"""Each fault as a client sees it: the openai SDK (with its retry logic) and the perceptron SDK (with its
error classes), against a real server."""

from __future__ import annotations

import json

import httpx
import openai
import perceptron
import pytest
from perceptron import errors as perr

from perceptron_mock.guards.rate_limit import Quota
from perceptron_mock.protocol.faults import FaultSpecError, parse
from tests.helpers import MODEL, chat

MESSAGES = [{"role": "user", "content": "Describe the scene."}]


def oai(mock, **options) -> openai.OpenAI:
    """The openai SDK on ``mock``, with no retries unless asked for."""
    return mock.openai_client(**{"max_retries": 0, **options})


def sdk(mock) -> perceptron.Client:
    return mock.perceptron_client()


def stream_text(stream) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


# --- statuses and the openai SDK's retries -------------------------------------------------------


def test_header_fault_gives_the_status_and_its_envelope(perceptron_mock):
    with pytest.raises(openai.InternalServerError) as caught:
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "503"})
    error = caught.value
    assert error.status_code == 503
    assert error.code == "server_is_overloaded" and error.type == "service_unavailable_error"
    assert error.request_id and error.request_id.startswith("req_")
    [entry] = perceptron_mock.requests()
    assert entry.status == 503 and entry.fault == "503"


def test_openai_retries_through_two_queued_503s_and_succeeds(perceptron_mock):
    perceptron_mock.fail_next("503; retry_after=0.05", count=2)
    completion = oai(perceptron_mock, max_retries=2).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content
    entries = perceptron_mock.requests()
    assert [e.status for e in entries] == [503, 503, 200]
    assert [e.headers["x-stainless-retry-count"] for e in entries] == ["0", "1", "2"]
    assert perceptron_mock.faults() == []


def test_openai_gives_up_when_failures_outlast_its_retries(perceptron_mock):
    perceptron_mock.fail_next("429; retry_after=0.05", count=3)
    with pytest.raises(openai.RateLimitError) as caught:
        oai(perceptron_mock, max_retries=2).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert [e.status for e in perceptron_mock.requests()] == [429, 429, 429]
    # the queue is used up: the next request is answered normally
    assert oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES).choices


def test_openai_does_not_retry_a_400(perceptron_mock):
    perceptron_mock.fail_next("400", count=2)
    with pytest.raises(openai.BadRequestError):
        oai(perceptron_mock, max_retries=2).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(perceptron_mock.requests()) == 1
    assert [q["remaining"] for q in perceptron_mock.faults()] == [1]


def test_perceptron_sdk_error_classes_for_injected_statuses(perceptron_mock):
    perceptron_mock.fail_next("429; retry_after=2")
    perceptron_mock.fail_next("503")
    perceptron_mock.fail_next("500")
    client = sdk(perceptron_mock)
    with pytest.raises(perr.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert limited.value.retry_after == 2 and limited.value.status_code == 429
    with pytest.raises(perr.ServerError) as overloaded:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert overloaded.value.status_code == 503 and overloaded.value.code == "server_is_overloaded"
    with pytest.raises(perr.ServerError) as crashed:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert crashed.value.status_code == 500 and crashed.value.error_type == "server_error"


def test_perceptron_sdk_gets_a_bad_request_for_an_injected_400(perceptron_mock):
    perceptron_mock.fail_next("400")
    with pytest.raises(perr.BadRequestError) as caught:
        sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.status_code == 400


def test_a_queued_fault_only_takes_the_model_it_names(perceptron_mock):
    perceptron_mock.fail_next("503", model="isaac-0.1")
    client = oai(perceptron_mock)
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="isaac-0.1", messages=MESSAGES)


def test_a_request_with_its_own_fault_header_leaves_the_queue_alone(perceptron_mock):
    perceptron_mock.fail_next("503")
    with pytest.raises(openai.InternalServerError) as caught:
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "502"})
    assert caught.value.status_code == 502
    assert [q["fault"] for q in perceptron_mock.faults()] == ["503"]


@pytest.mark.parametrize(
    "fields",
    [
        {"top_p": 7},  # refused by validation
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]}]},
        {"max_completion_tokens": 10**6},  # refused by the context check
        # Refused while the answer is chosen, which comes before the fault step.
        {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"not": {}}}}},
        {"extra_body": {"regex": "(unclosed"}},
    ],
)
def test_invalid_requests_keep_their_400_and_do_not_use_up_a_fault(perceptron_mock, fields):
    perceptron_mock.fail_next("503")
    with pytest.raises(openai.BadRequestError):
        oai(perceptron_mock).chat.completions.create(**{"model": MODEL, "messages": MESSAGES, **fields})
    assert perceptron_mock.faults()[0]["remaining"] == 1


# --- latency, hang, reset ----------------------------------------------------------------------------


def test_latency_delays_a_normal_answer(perceptron_mock, monkeypatch):
    completion = oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "latency=250"})
    assert completion.choices[0].message.content
    [entry] = perceptron_mock.requests()
    assert entry.status == 200 and entry.fault == "latency=250"
    # How long: on a recorded sleep, not a clock (the timer may fire a fraction of a ms early).
    import asyncio

    from perceptron_mock.answers.answer import Answer
    from perceptron_mock.exchange import Exchange
    from perceptron_mock.render import delivery

    slept: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(delivery.asyncio, "sleep", recorded_sleep)
    asyncio.run(delivery.before_answer(parse("latency=250"), Answer(content=""), Exchange(), None))
    assert slept == [0.25]


def test_hang_lasts_until_the_client_gives_up(perceptron_mock):
    with pytest.raises(openai.APITimeoutError):
        oai(perceptron_mock, timeout=0.5).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "hang"})
    [entry] = perceptron_mock.wait_for_requests(1, timeout=10)
    assert entry.status is None and entry.complete is False and entry.fault == "hang"


def test_perceptron_sdk_times_out_on_a_hang(perceptron_mock):
    perceptron_mock.fail_next("hang")
    with pytest.raises(perr.TimeoutError):
        sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, timeout=0.5)


def test_reset_is_a_connection_error_that_openai_retries(perceptron_mock):
    with pytest.raises(openai.APIConnectionError):
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "reset"})
    perceptron_mock.fail_next("reset")
    perceptron_mock.clear_requests()
    assert oai(perceptron_mock, max_retries=1).chat.completions.create(model=MODEL, messages=MESSAGES).choices
    assert [e.status for e in perceptron_mock.wait_for_requests(2, timeout=10)] == [None, 200]


def test_reset_is_a_transport_error_for_the_perceptron_sdk(perceptron_mock):
    perceptron_mock.fail_next("reset")
    with pytest.raises(perr.TransportError):
        sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES)


# --- broken answers ------------------------------------------------------------------------------------


def test_malformed_json_is_200_with_a_body_that_does_not_parse(perceptron_mock):
    response = httpx.post(
        perceptron_mock.base_url + "/chat/completions",
        json=chat(),
        headers={"authorization": "Bearer k", "x-mock-fault": "malformed"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.text.startswith('{\n  "id": "chatcmpl-')
    with pytest.raises(ValueError):
        response.json()


def test_malformed_json_through_both_sdks(perceptron_mock):
    # the openai SDK does not wrap a body that is not JSON: json.JSONDecodeError reaches the caller
    with pytest.raises(json.JSONDecodeError):
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "malformed"})
    perceptron_mock.fail_next("malformed")
    with pytest.raises(perr.ServerError) as caught:
        sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.code == "invalid_response"


def test_a_cut_body_is_a_connection_error(perceptron_mock):
    with pytest.raises(openai.APIConnectionError):
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "cut"})
    perceptron_mock.fail_next("cut")
    with pytest.raises(perr.TransportError):
        sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES)
    entries = perceptron_mock.wait_for_requests(2, timeout=10)
    assert [(e.status, e.complete) for e in entries] == [(200, False), (200, False)]


# --- streams -------------------------------------------------------------------------------------------


def test_a_stream_cut_after_three_events(perceptron_mock):
    stream = oai(perceptron_mock).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers={"X-Mock-Fault": "cut=3"}
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    perceptron_mock.fail_next("cut=3")
    with pytest.raises(perr.IncompleteStreamError) as caught:
        list(sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert caught.value.code == "stream_truncated"


def test_an_sse_error_event_mid_stream(perceptron_mock):
    stream = oai(perceptron_mock).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers={"X-Mock-Fault": "sse_error=2"}
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    assert "The server had an error" in caught.value.message
    perceptron_mock.fail_next("sse_error=2; 503")
    with pytest.raises(perr.ServerError) as failed:
        list(sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert failed.value.code == "server_is_overloaded"


def test_a_malformed_stream_event(perceptron_mock):
    perceptron_mock.fail_next("malformed", count=2)
    with pytest.raises(json.JSONDecodeError):
        list(oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    with pytest.raises(perr.ServerError) as caught:
        list(sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert caught.value.code == "invalid_stream_chunk"


def test_a_slow_drip_delivers_the_same_answer(perceptron_mock):
    client = oai(perceptron_mock)
    plain = stream_text(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, max_tokens=5))
    dripped = stream_text(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=5, extra_headers={"X-Mock-Fault": "drip=60"}
        )
    )
    assert dripped == plain
    entries = perceptron_mock.requests()
    assert entries[1].fault == "drip=60"


def test_a_slow_drip_trips_a_read_timeout(perceptron_mock):
    client = oai(perceptron_mock, timeout=httpx.Timeout(10, read=0.3))
    with pytest.raises((openai.APITimeoutError, httpx.ReadTimeout)):
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, extra_headers={"X-Mock-Fault": "drip=1500"}))


def test_a_slow_drip_times_out_the_perceptron_sdk(perceptron_mock):
    perceptron_mock.fail_next("drip=1500")
    with pytest.raises(perr.TimeoutError):
        list(sdk(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, timeout=0.3))


def test_stream_faults_wait_in_the_queue_for_a_streamed_request(perceptron_mock):
    perceptron_mock.fail_next("sse_error=1")
    assert oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES).choices
    assert len(perceptron_mock.faults()) == 1  # the plain request left it queued
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            received.append(chunk)
    # The SSE error event itself: one chunk, then the error's envelope (not a dropped connection or a
    # timeout, which are APIError subclasses).
    assert type(caught.value) is openai.APIError
    assert len(received) == 1
    assert "The server had an error" in caught.value.message
    assert perceptron_mock.faults() == []
    assert [e.fault for e in perceptron_mock.requests()] == [None, "sse_error=1"]


def test_a_stream_fault_in_the_header_of_a_plain_request_is_refused(perceptron_mock):
    with pytest.raises(openai.BadRequestError) as caught:
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Mock-Fault": "drip=10"})
    assert caught.value.code == "invalid_fault"


def test_a_status_fault_on_a_stream_is_an_ordinary_error_response(perceptron_mock):
    with pytest.raises(openai.InternalServerError):
        oai(perceptron_mock).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, extra_headers={"X-Mock-Fault": "500"})


# --- the spec ------------------------------------------------------------------------------------------


def test_unknown_fault_header_is_a_clear_400(perceptron_mock):
    response = httpx.post(
        perceptron_mock.base_url + "/chat/completions", json=chat(), headers={"authorization": "Bearer k", "x-mock-fault": "explode"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_fault" and "unknown fault 'explode'" in error["message"]


def test_a_fault_header_longer_than_any_spec_is_a_400(perceptron_mock):
    response = httpx.post(
        perceptron_mock.base_url + "/chat/completions", json=chat(), headers={"authorization": "Bearer k", "X-Mock-Fault": "latency=1;" * 1_000}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_fault" and "10000 characters long" in response.json()["error"]["message"]
    assert perceptron_mock.requests()[0].fault is None


def test_admin_refuses_an_invalid_fault(admin):
    response = admin.post("/faults", json={"fault": "503; hang"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "fault"
    response = admin.post("/faults", json={"fault": "503", "count": 0})
    assert response.status_code == 400 and response.json()["error"]["param"] == "count"


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("503", {"status": 503}),
        ("status=429; retry_after=1.5", {"status": 429, "retry_after": 1.5}),
        ("latency=200, 500", {"latency_ms": 200.0, "status": 500}),
        ("hang", {"hang": True}),
        ("cut=3; drip=50", {"cut_after": 3, "drip_ms": 50.0}),
        ("sse_error=2; 503", {"error_after": 2, "status": 503}),
        ("MALFORMED", {"malformed": True}),
    ],
)
def test_parse(spec, expected):
    fault = parse(spec)
    assert {name: getattr(fault, name) for name in expected} == expected


@pytest.mark.parametrize(
    "spec, says",
    [
        ("", "empty"),
        ("teapot", "unknown fault"),
        ("503; 502", "twice"),
        ("503; reset", "choose one"),
        ("status=200", "between 400 and 599"),
        ("latency=-5", "between"),
        ("latency=abc", "a number"),
        ("retry_after=1", "goes with a status"),
        ("hang=3", "takes no value"),
        ("drip=10; 503", "cannot go with"),
        ("latency=1;" + " " * 200, "210 characters long; the most accepted is 200"),
    ],
)
def test_parse_refuses(spec, says):
    with pytest.raises(FaultSpecError, match=says):
        parse(spec)


@pytest.mark.parametrize(
    "spec, retry_after, retry_after_ms",
    [
        ("429; retry_after=1000000", "1000000", "1000000000"),
        ("429; retry_after=2", "2", "2000"),
        ("503; retry_after=1.5", "2", "1500"),
        ("429; retry_after=0.29", "1", "290"),
        ("429; retry_after=0.0001", "1", "1"),
        # Never less than 1: the openai SDK ignores a wait of 0 and backs off on its own (0.5 s and up),
        # while 1 ms it honours; "retry at once" is the 1 ms.
        ("429; retry_after=0", "1", "1"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up_and_retry_after_ms_is_exact(spec, retry_after, retry_after_ms):
    headers = parse(spec).error().headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == (retry_after, retry_after_ms)


@pytest.mark.parametrize("wait_s", [0, 0.0001, 0.0015, 0.29, 1, 1.5, 2, 59.9991, 1000000])
def test_a_fault_and_the_rate_limiter_send_the_same_retry_headers_for_the_same_wait(wait_s):
    retry = ("retry-after", "retry-after-ms")
    fault = parse(f"429; retry_after={wait_s}").error().headers
    refusal = {k.decode(): v.decode() for k, v in Quota(5, 0, 0, retry_us=round(wait_s * 1_000_000)).headers()}
    assert {k: refusal[k] for k in retry} == {k: fault[k] for k in retry}


def test_a_status_without_retry_after_sends_neither_header():
    assert not {"retry-after", "retry-after-ms"} & set(parse("429").error().headers)
