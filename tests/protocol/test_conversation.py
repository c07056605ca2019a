"""The tool-call order of a conversation, as the service enforces it: each rule broken is a 400 whose
``param`` names the first message that breaks it, in OpenAI's wording."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import post

MODEL = "perceptron-mk1.5"
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def call(call_id: str, name: str = "get_weather") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}


def calls(*ids: str) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [call(i) for i in ids]}


def result(call_id: str, content: str = "sunny") -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


USER = {"role": "user", "content": "What is the weather in Paris?"}


def refusal(client, messages: list[dict]) -> dict:
    response = post(client, {"model": MODEL, "messages": messages})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return error


def test_a_tool_message_without_a_preceding_tool_call_is_refused(client):
    error = refusal(client, [USER, {"role": "assistant", "content": "Let me see."}, result("call_1")])
    assert (error["param"], error["code"]) == ("messages[2].role", "invalid_tool_message")
    assert error["message"] == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'."
    )


def test_a_tool_message_first_in_the_conversation_is_refused(client):
    assert refusal(client, [result("call_1"), USER])["param"] == "messages[0].role"


def test_a_tool_message_after_a_user_message_is_refused_even_after_answered_calls(client):
    messages = [USER, calls("call_1"), result("call_1"), {"role": "user", "content": "thanks"}, result("call_1")]
    assert refusal(client, messages)["param"] == "messages[4].role"


def test_a_tool_call_id_not_among_the_calls_is_refused(client):
    error = refusal(client, [USER, calls("call_1", "call_2"), result("call_1"), result("call_9")])
    assert (error["param"], error["code"]) == ("messages[3].tool_call_id", "invalid_tool_call_id")
    assert error["message"] == "Invalid parameter: 'tool_call_id' of 'call_9' not found in 'tool_calls' of previous message."


def test_a_call_answered_twice_is_refused(client):
    error = refusal(client, [USER, calls("call_1", "call_2"), result("call_1"), result("call_1")])
    assert (error["param"], error["code"]) == ("messages[3].tool_call_id", "invalid_tool_call_id")


def test_a_call_left_unanswered_before_the_next_message_is_refused(client):
    messages = [USER, calls("call_1", "call_2"), result("call_2"), {"role": "user", "content": "and?"}]
    error = refusal(client, messages)
    assert (error["param"], error["code"]) == ("messages[3].role", "missing_tool_response")
    assert error["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
        "The following tool_call_ids did not have response messages: call_1"
    )


def test_a_conversation_that_ends_with_unanswered_calls_is_refused(client):
    error = refusal(client, [USER, calls("call_1")])
    assert (error["param"], error["code"]) == ("messages[1].tool_calls", "missing_tool_response")


def test_two_calls_with_one_id_are_refused(client):
    error = refusal(client, [USER, calls("call_1", "call_1"), result("call_1")])
    assert (error["param"], error["code"]) == ("messages[1].tool_calls[1].id", "duplicate_tool_call_id")


@pytest.mark.parametrize(
    ("message", "param", "code"),
    [
        ({"role": "tool", "content": "x"}, "messages[1].tool_call_id", "missing_required_parameter"),
        ({"role": "tool", "tool_call_id": "call_1"}, "messages[1].content", "missing_required_parameter"),
        ({"role": "assistant", "content": None, "tool_calls": []}, "messages[1].tool_calls", "empty_array"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}, "messages[1].tool_calls[0].function", "missing_required_parameter"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}, "messages[1].tool_calls[0].type", "invalid_value"),
    ],
)
def test_malformed_tool_messages_and_calls_name_their_field(client, message, param, code):
    error = refusal(client, [USER, message])
    assert (error["param"], error["code"]) == (param, code)


def test_assistant_calls_with_null_content_and_text_part_results_are_accepted(client):
    messages = [
        USER,
        calls("call_1", "call_2"),
        result("call_2", "cloudy"),
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
    ]
    response = post(client, {"model": MODEL, "messages": messages})
    assert response.status_code == 200, response.text
    assert "sunny" in response.json()["choices"][0]["message"]["content"]


def test_tools_are_refused_beyond_openais_bound_of_128(client):
    tools = [{"type": "function", "function": {"name": f"tool_{i}"}} for i in range(129)]
    response = post(client, {"model": MODEL, "messages": [USER], "tools": tools})
    assert response.status_code == 400
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == ("tools", "array_above_max_length")


# --- any order of calls and results: a 200 or a 400 that names a message, never a 500 ---------------

_ids = st.sampled_from(["call_1", "call_2", "call_3"])
_steps = st.one_of(
    st.just(USER),
    st.just({"role": "assistant", "content": "ok"}),
    st.lists(_ids, min_size=1, max_size=3).map(lambda ids: calls(*ids)),
    _ids.map(result),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(_steps, min_size=1, max_size=7))
def test_any_order_of_calls_and_results_is_answered_or_refused_naming_a_message(client, messages):
    response = post(client, {"model": MODEL, "messages": messages, "tools": [TOOL]})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["param"].startswith("messages[")
    else:
        choice = response.json()["choices"][0]
        assert choice["finish_reason"] in ("stop", "tool_calls")
