"""Tool calls on the wire, streamed as the service sends them: per call a first fragment with index, id,
type and name, then the arguments in several fragments; finish_reason ``tool_calls``, usage, ``[DONE]``."""

from __future__ import annotations

import json

from tests.helpers import post, sse_data, sse_events

MODEL = "perceptron-mk1.5"
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "list_calendar_events", "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}}},
]
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "weather in Paris and my calendar"}], "tools": TOOLS}


def test_each_call_streams_its_head_once_then_argument_fragments_and_joins_to_the_json_answer(client):
    whole = post(client, BODY).json()
    chunks = sse_data(sse_events(post(client, {**BODY, "stream": True, "stream_options": {"include_usage": True}}).content))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    fragments = [piece for c in chunks for piece in (c["choices"][0]["delta"].get("tool_calls") or [])]
    calls: dict[int, dict] = {}
    for piece in fragments:
        if piece["index"] not in calls:
            assert set(piece) == {"index", "id", "type", "function"} and piece["id"].startswith("call_")
            assert piece["type"] == "function" and piece["function"]["arguments"] == ""
            calls[piece["index"]] = {"name": piece["function"]["name"], "arguments": ""}
        else:
            assert set(piece) == {"index", "function"} and set(piece["function"]) == {"arguments"}
            calls[piece["index"]]["arguments"] += piece["function"]["arguments"]
    assert list(calls) == [0, 1] and len(fragments) > 4
    expected = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in whole["choices"][0]["message"]["tool_calls"]]
    assert [calls[0], calls[1]] == expected
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "tool_calls" and last["usage"] == whole["usage"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_the_json_answer_has_null_content_and_the_calls(client):
    message = post(client, BODY).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls" and message["message"]["content"] is None
    for call in message["message"]["tool_calls"]:
        assert set(call) == {"id", "type", "function"} and json.loads(call["function"]["arguments"])


def test_a_completion_limit_cuts_the_calls_and_finishes_with_length(client):
    cut = post(client, {**BODY, "max_completion_tokens": 12}).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] <= 12
