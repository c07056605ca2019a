"""What ``verify`` calls drift: the shape of an answer (status, the headers clients read, JSON keys and
types, finish reasons, usage and its arithmetic, the SSE framing), never its text."""

from __future__ import annotations

import json

from perceptron_mock.contract.shapes import drift, shape

JSON = {"content-type": "application/json", "x-request-id": "req_1"}
SSE = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_1"}


def _completion(content="Hi", finish="stop", usage=(5, 2, 7), **extra) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": dict(zip(("prompt_tokens", "completion_tokens", "total_tokens"), usage)),
        **extra,
    }
    return json.dumps(body).encode()


def _stream(*deltas: dict, finish="stop", usage=True, done=True) -> bytes:
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    events += [{"choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if usage:
        last["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    events.append(last)
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


def test_different_text_in_the_same_shape_is_no_drift():
    assert drift(shape(200, JSON, _completion("Hello")), shape(200, JSON, _completion("Something else entirely", usage=(9, 40, 49)))) == []
    one, many = _stream({"content": "a"}), _stream({"content": "a"}, {"content": "b"}, {"content": "c"})
    assert drift(shape(200, SSE, one), shape(200, SSE, many)) == []


def test_a_changed_type_a_missing_key_and_a_new_key_are_each_named():
    recorded = shape(200, JSON, _completion(system_fingerprint="fp"))
    fresh = shape(200, JSON, _completion(content=None, service_tier="default"))
    assert drift(recorded, fresh) == [
        "body: choices[].message.content type string -> null",
        "body: system_fingerprint missing",
        "body: service_tier is new",
    ]


def test_finish_reason_values_and_usage_arithmetic_are_compared():
    recorded = shape(200, JSON, _completion())
    assert drift(recorded, shape(200, JSON, _completion(finish="length"))) == ["finish_reason ['stop'] -> ['length']"]
    assert drift(recorded, shape(200, JSON, _completion(usage=(5, 2, 9)))) == [
        "usage total_tokens is no longer prompt_tokens + completion_tokens"
    ]


def test_an_error_is_compared_by_status_and_envelope_fields_not_message():
    def error(code, message, status=400):
        return shape(status, JSON, json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": "top_p", "code": code}}).encode())

    assert drift(error("above_max_value", "too big"), error("above_max_value", "worded otherwise")) == []
    assert drift(error("above_max_value", "x"), error("invalid_value", "x", 422)) == [
        "status 400 -> 422",
        "error.code 'above_max_value' -> 'invalid_value'",
    ]


def test_the_sse_framing_names_where_role_finish_usage_and_done_moved():
    recorded = shape(200, SSE, _stream({"content": "a"}))
    assert recorded["framing"] == ["role", "content", "finish_reason+usage", "[DONE]"]
    assert drift(recorded, shape(200, SSE, _stream({"content": "a"}, done=False))) == [
        "SSE framing role > content > finish_reason+usage > [DONE] -> role > content > finish_reason+usage"
    ]
    assert drift(recorded, shape(200, SSE, _stream({"content": "a"}, usage=False)))[0] == (
        "SSE framing role > content > finish_reason+usage > [DONE] -> role > content > finish_reason > [DONE]"
    )


def test_headers_clients_read_and_the_content_type_are_compared():
    recorded = shape(429, {**JSON, "retry-after": "2"}, b'{"error": {}}')
    fresh = shape(429, {"content-type": "text/html"}, b'{"error": {}}')
    assert drift(recorded, fresh)[:2] == ["content-type 'application/json' -> 'text/html'", "headers missing: retry-after, x-request-id"]
