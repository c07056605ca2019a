"""Fixtures for agent flows: answering with tool calls, matching on the tools offered, the last tool result
and the turn, a script that gives its nth answer at the nth assistant turn, the one-line helper, and the
journal showing the calls each answer made."""

from __future__ import annotations

import json

import pytest

from perceptron_mock.answers.fixtures import FixtureFileError, FixtureStore
from tests.answers.helpers import answer_for

MODEL = "perceptron-mk1.5"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
STOCKS = {"type": "function", "function": {"name": "get_quote"}}


def body(*messages: dict, tools: list | None = None) -> dict:
    out: dict = {"model": MODEL, "messages": list(messages) or [{"role": "user", "content": "Hello"}]}
    if tools is not None:
        out["tools"] = tools
    return out


def store(match: dict, respond: dict) -> FixtureStore:
    fixtures = FixtureStore()
    fixtures.add({"name": "it", "match": match, "respond": respond})
    return fixtures


def after_call(result: str, *, tools: list | None = None) -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    return body(
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
        tools=tools,
    )


def test_a_fixture_answers_with_tool_calls_whose_arguments_are_an_object_a_string_or_made():
    fixtures = store(
        {},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_quote", "arguments": "not json"}, {"name": "get_weather"}]},
    )
    answer = answer_for(body({"role": "user", "content": "Hi"}, tools=[WEATHER, STOCKS]), fixtures)
    assert answer.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in answer.tool_calls[:2]] == [("get_weather", '{"city":"Oslo"}'), ("get_quote", "not json")]
    assert set(json.loads(answer.tool_calls[2].arguments)) == {"city"}  # made from the offered tool's parameters


@pytest.mark.parametrize(
    ("match", "request_", "matches"),
    [
        ({"tools": ["get_weather"]}, body(tools=[WEATHER, STOCKS]), True),
        ({"tools": "get_weather"}, body(tools=[STOCKS]), False),
        ({"tools": ["get_weather", "get_quote"]}, body(tools=[WEATHER]), False),
        ({"tools": []}, body(), True),
        ({"tools": []}, body(tools=[WEATHER]), False),
        ({"tool_result": "(?i)sunny"}, after_call("Sunny, 20C"), True),
        ({"tool_result": "rain"}, after_call("Sunny, 20C"), False),
        ({"tool_result": "."}, body(), False),  # no tool result at all
        ({"turn": 0}, body(), True),
        ({"turn": 1}, after_call("x"), True),
        ({"turn": 0}, after_call("x"), False),
    ],
)
def test_tool_matchers(match, request_, matches):
    answer = answer_for(request_, store(match, {"content": "SCRIPTED"}))
    assert (answer.content == "SCRIPTED") is matches


def test_a_script_gives_its_nth_answer_at_the_nth_assistant_turn_and_then_leaves_it_to_the_rules():
    fixtures = store({}, {"script": [{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}, {"content": "It is sunny in Rome."}]})
    first = answer_for(body({"role": "user", "content": "Hi"}, tools=[WEATHER]), fixtures)
    assert [c.name for c in first.tool_calls] == ["get_weather"]
    assert answer_for(after_call("sunny", tools=[WEATHER]), fixtures).content == "It is sunny in Rome."
    later = after_call("sunny", tools=[WEATHER])
    later["messages"] += [{"role": "assistant", "content": "It is sunny."}, {"role": "user", "content": "thanks"}]
    assert answer_for(later, fixtures).content != "It is sunny in Rome."  # turn 2: past the script


@pytest.mark.parametrize(
    ("respond", "problem"),
    [
        ({"script": [{"content": "a"}], "content": "b"}, "holds nothing else"),
        ({"script": [{"script": [{"content": "a"}]}]}, "cannot hold scripts"),
        ({"script": [{"content": str(i)} for i in range(33)]}, "at most 32"),
        ({"tool_calls": [{"name": "f", "arguments": "x" * 70_000}]}, "at most 65536"),
        ({"tool_calls": []}, "at least 1"),
        ({"tool_calls": [{"name": "f", "arguments": {"x": float("nan")}}]}, "must be JSON values"),
    ],
)
def test_scripts_and_tool_calls_are_bounded_and_refused_at_load_time(respond, problem):
    with pytest.raises(FixtureFileError, match=problem):
        FixtureStore().add({"name": "x", "respond": respond})


def test_arguments_written_in_yaml_must_be_json_values(tmp_path):
    (tmp_path / "agent.yaml").write_text("respond:\n  tool_calls:\n    - name: f\n      arguments: {when: 2024-05-01}\n")
    with pytest.raises(FixtureFileError, match="must be JSON values"):
        FixtureStore.load(tmp_path)


def test_the_one_line_helper_scripts_a_tool_call_and_the_journal_shows_it(perceptron_mock, openai_client):
    perceptron_mock.script_tool_call("get_weather", {"city": "Oslo"}, then="Cold in Oslo.")
    messages: list = [{"role": "user", "content": "Hello there"}]  # names no tool: the fixture calls it
    first = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER]).choices[0].message
    [call] = first.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    messages += [first, {"role": "tool", "tool_call_id": call.id, "content": "-3C"}]
    final = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER]).choices[0]
    assert (final.finish_reason, final.message.content) == ("stop", "Cold in Oslo.")
    first_entry, second_entry = perceptron_mock.requests()
    assert first_entry.tool_calls == [{"id": call.id, "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
    assert second_entry.tool_calls is None


def test_a_fixture_that_writes_no_content_keeps_the_rules_calls():
    fixtures = store({}, {"latency_ms": 1})
    answer = answer_for(body({"role": "user", "content": "weather in Rome"}, tools=[WEATHER]), fixtures)
    assert [c.name for c in answer.tool_calls] == ["get_weather"] and answer.finish_reason == "tool_calls"
    assert answer.latency_ms == 1


def test_the_journal_keeps_the_head_of_long_arguments(perceptron_mock, client):
    perceptron_mock.script_tool_call("get_weather", {"city": "x" * 5000})
    response = client.post("/v1/chat/completions", json=body({"role": "user", "content": "Hi"}, tools=[WEATHER]))
    assert len(response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == 5011
    [entry] = perceptron_mock.requests()
    assert entry.tool_calls[0]["arguments"] == '{"city":"' + "x" * 2039 + "...[5011 chars]"
