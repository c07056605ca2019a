"""Every limit of a multilook body refused as the perceptron SDK refuses it (its messages, codes and
params), on the wire: whatever client sent it, nothing past a limit is answered."""

from __future__ import annotations

import pytest

PATH = "/v1/chat/completions/multilook"
MK15 = "perceptron-mk1.5"


def body(**fields) -> dict:
    return {"model": MK15, "context": [], "prompts": ["q"], **fields}


@pytest.mark.parametrize(
    ("fields", "param", "code", "message"),
    [
        ({"prompts": []}, "prompts", "invalid_parameter", "Invalid prompts: expected between 1 and 16 prompts, got 0."),
        ({"prompts": ["q"] * 17}, "prompts", "invalid_parameter", "Invalid prompts: expected between 1 and 16 prompts, got 17."),
        ({"n": 0}, "n", "invalid_parameter", "Invalid n: 0. Expected an integer between 1 and 8."),
        ({"n": 9, "temperature": 1.0}, "n", "invalid_parameter", "Invalid n: 9. Expected an integer between 1 and 8."),
        (
            {"prompts": ["q"] * 9, "n": 8, "temperature": 1.0},
            "n",
            "invalid_parameter",
            "len(prompts) * n = 72 exceeds the per-call limit of 64 completions.",
        ),
        ({"n": 2}, "temperature", "invalid_parameter", "Invalid request: n = 2 requires temperature > 0."),
        ({"n": 2, "temperature": 0}, "temperature", "invalid_parameter", "Invalid request: n = 2 requires temperature > 0."),
        (
            {"context": [{"role": "tool", "tool_call_id": "c", "content": "x"}]},
            "context[0]",
            "unsupported_parameter",
            "Tool calling is not supported on multilook: context may not hold tool results or tool calls.",
        ),
        (
            {"context": [{"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function"}]}]},
            "context[0]",
            "unsupported_parameter",
            "Tool calling is not supported on multilook: context may not hold tool results or tool calls.",
        ),
        ({"stream": True}, "stream", "unsupported_parameter", "'stream' is not supported on multilook."),
        ({"tools": []}, "tools", "unsupported_parameter", "'tools' is not supported on multilook."),
        ({"messages": []}, "messages", "unsupported_parameter", "'messages' is not supported on multilook."),
        ({"surprise": 1}, "surprise", "unknown_parameter", "Unrecognized request argument supplied: surprise."),
        (
            {"model": "isaac-0.2-1b"},
            "model",
            "unsupported_parameter",
            "Model 'isaac-0.2-1b' does not support multilook",
        ),
    ],
)
def test_each_limit_is_a_400_naming_its_parameter(client, fields, param, code, message):
    answer = client.post(PATH, json=body(**fields))
    assert answer.status_code == 400
    assert answer.json() == {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"n": True}, "n", "invalid_parameter"),
        ({"n": 2.0, "temperature": 1.0}, "n", "invalid_parameter"),
        ({"temperature": -0.5}, "temperature", "invalid_temperature"),
        ({"prompts": [3]}, "prompts[0]", "invalid_value"),
        ({"prompts": [{"content": "text"}]}, "prompts[0].content", "invalid_type"),
        ({"prompts": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "prompts[0].role", "unknown_parameter"),
        ({"prompts": [{"content": [{"type": "sound", "x": 1}]}]}, "prompts[0].content[0].type", "invalid_value"),
        ({"context": "hello"}, "context", "invalid_type"),
        ({"context": [{"role": "user", "content": 3}]}, "context[0].content", "invalid_type"),
        ({"max_tokens": 10, "max_completion_tokens": 20}, "max_tokens", "conflicting_parameters"),
        ({"max_completion_tokens": 9000}, "max_completion_tokens", "invalid_value"),
        ({"context": None}, "context", "invalid_type"),
    ],
)
def test_malformed_fields_are_refused_as_chat_refuses_them(client, fields, param, code):
    answer = client.post(PATH, json=body(**fields))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_missing_fields_are_named(client):
    for field in ("model", "context", "prompts"):
        fields = body()
        del fields[field]
        error = client.post(PATH, json=fields).json()["error"]
        assert (error["param"], error["code"]) == (field, "missing_required_parameter")


def test_the_limits_are_inclusive(client):
    answer = client.post(PATH, json=body(prompts=[f"q{i}" for i in range(16)], n=4, temperature=0.5))
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert len(results) == 16 and all(len(r["completions"]) == 4 for r in results)
    an_answer = {"role": "assistant", "content": "ok"}  # an assistant turn without calls is not tool traffic
    assert client.post(PATH, json=body(context=[{"role": "user", "content": "hi"}, an_answer])).status_code == 200


@pytest.mark.perceptron_mock(unknown_fields="ignore")
def test_unknown_fields_may_be_ignored_but_chat_only_fields_are_still_refused(client):
    assert client.post(PATH, json=body(surprise=1)).status_code == 200
    assert client.post(PATH, json=body(regex="a+")).json()["error"]["code"] == "unsupported_parameter"
