"""The tool-calling rule as docs/tools.md states it: which tools a prompt names, the arguments (always valid
against the tool's parameters, filled from the prompt where it fits), and the answer after the results."""

from __future__ import annotations

import json
import random
import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perceptron_mock.answers.tools import MAX_TEXT, WHOLE_NAME_CHARS, name_words, named_tools
from perceptron_mock.protocol.requests import FunctionSpec, FunctionTool
from tests.answers.helpers import answer_for, completion_for

MODEL = "perceptron-mk1.5"


def tool(name: str, parameters: dict | None = None, strict: bool | None = None) -> dict:
    function: dict = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


def ask(text: str, tools: list[dict], **fields):
    return answer_for({"model": MODEL, "messages": [{"role": "user", "content": text}], "tools": tools, **fields})


def called(text: str, tools: list[dict], **fields) -> list[str]:
    return [call.name for call in ask(text, tools, **fields).tool_calls]


def arguments(text: str, parameters: dict, strict: bool | None = None) -> dict:
    [call] = ask(text, [tool("lookup", parameters, strict)]).tool_calls
    return json.loads(call.arguments)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("get_weather", {"weather"}),
        ("getWeather", {"weather"}),
        ("list-calendar.events", {"calendar", "events"}),
        ("HTTPServerStatus", {"http", "server", "status"}),
        ("get_id", set()),  # "get" is a stop word and "id" is too short
        ("functions.search_flights", {"flights"}),
    ],
)
def test_a_tool_names_split_into_words_that_call_it(name, words):
    assert name_words(name) == words


def test_a_word_of_a_tools_name_in_the_prompt_calls_it():
    assert called("Will it rain? Check the weather in Oslo.", [tool("get_weather"), tool("send_email")]) == ["get_weather"]


def test_words_match_whole_words_only_and_ignore_case():
    assert called("WEATHER please", [tool("get_weather")]) == ["get_weather"]
    assert called("weatherproof jackets", [tool("get_weather")]) == []


def test_a_name_without_usable_words_calls_only_when_written_whole():
    assert called("run get_id now", [tool("get_id")]) == ["get_id"]
    assert called("get the id", [tool("get_id")]) == []


def test_several_named_tools_are_called_in_one_message_in_the_order_offered():
    tools = [tool("list_calendar_events"), tool("get_weather")]
    assert called("weather and calendar", tools) == ["list_calendar_events", "get_weather"]
    assert called("weather and calendar", tools, parallel_tool_calls=False) == ["list_calendar_events"]


def test_no_named_tool_or_tool_choice_none_gives_a_text_answer():
    unnamed = ask("Tell me a joke.", [tool("get_weather")])
    assert unnamed.tool_calls == () and unnamed.content and unnamed.finish_reason == "stop"
    answer = ask("What is the weather?", [tool("get_weather")], tool_choice="none")
    assert answer.tool_calls == () and answer.content and answer.finish_reason == "stop"


def test_the_same_request_makes_the_same_calls_with_fresh_ids():
    body = {"model": MODEL, "messages": [{"role": "user", "content": "weather"}], "tools": [tool("get_weather", {"type": "object", "properties": {"x": {"type": "integer"}}})]}
    first, second = completion_for(body), completion_for(body)
    assert [c[1:] for c in first.tool_calls] == [c[1:] for c in second.tool_calls]
    assert first.tool_calls[0][0] != second.tool_calls[0][0] and first.tool_calls[0][0].startswith("call_")


def test_arguments_take_a_quoted_string_a_number_a_proper_name_and_a_mentioned_enum_member():
    parameters = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["title", "city", "days", "unit"],
    }
    got = arguments('lookup: Make a "Trip plan" for 5 days in Lisbon, in Fahrenheit please.', parameters)
    assert got == {"title": "Trip plan", "city": "Lisbon", "days": 5, "unit": "fahrenheit"}


def test_a_prompt_value_that_does_not_fit_is_not_used():
    parameters = {"type": "object", "properties": {"days": {"type": "integer", "maximum": 3}}, "required": ["days"]}
    assert arguments("lookup for 40 days", parameters)["days"] <= 3


def test_strict_arguments_carry_every_property_and_no_other():
    parameters = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}}}
    for text in ("lookup one", "lookup two", "lookup three"):
        assert set(arguments(text, parameters, strict=True)) == {"a", "b"}


def test_a_tool_whose_parameters_cannot_be_satisfied_is_refused_naming_it():
    from perceptron_mock.protocol.errors import APIError

    with pytest.raises(APIError) as caught:
        ask("lookup", [tool("get_weather"), tool("lookup", {"type": "string", "minLength": 5, "maxLength": 2})])
    assert caught.value.status == 400 and caught.value.param == "tools[1].function.parameters"


def test_after_the_results_the_answer_names_each_tool_and_quotes_its_result():
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
        {"id": "call_b", "type": "function", "function": {"name": "list_events", "arguments": "{}"}},
    ]
    messages = [
        {"role": "user", "content": "weather and events?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_b", "content": "dentist at 3"},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
    ]
    answer = answer_for({"model": MODEL, "messages": messages, "tools": [tool("get_weather"), tool("list_events")]})
    assert answer.tool_calls == () and answer.finish_reason == "stop"
    assert answer.content.splitlines()[1:] == ['- list_events returned: "dentist at 3"', '- get_weather returned: "sunny"']


# --- the property: arguments always validate --------------------------------------------------------

_leaf = st.one_of(
    st.just({"type": "string"}),
    st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra}, st.integers(0, 5), st.integers(0, 10)),
    st.builds(lambda lo, extra: {"type": "integer", "minimum": lo, "maximum": lo + extra}, st.integers(-50, 50), st.integers(0, 100)),
    st.just({"type": "number", "exclusiveMinimum": 0}),
    st.just({"type": "boolean"}),
    st.lists(st.sampled_from(["celsius", "fahrenheit", "Paris", "kelvin", 3]), min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e}),
    st.sampled_from([{"type": "string", "format": "date"}, {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}]),
    st.just({"anyOf": [{"type": "integer", "maximum": 9}, {"type": "null"}]}),
    st.just({"$ref": "#/$defs/name"}),
)
_schemas = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda items: {"type": "array", "items": items, "maxItems": 3}, inner),
        st.dictionaries(st.sampled_from(["city", "days", "unit", "note", "when", "tags"]), inner, min_size=1, max_size=4).map(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)[:1]}
        ),
    ),
    max_leaves=6,
)
_parameters = st.dictionaries(st.sampled_from(["city", "days", "unit", "title", "when", "count"]), _schemas, max_size=5).map(
    lambda props: {
        "type": "object",
        "properties": props,
        "required": list(props)[: len(props) // 2],
        "$defs": {"name": {"type": "string", "minLength": 2, "maxLength": 30}},
    }
)
_prompts = st.sampled_from(
    [
        "lookup the weather in Paris for 3 days in celsius",
        'lookup "New York" -4 and 2.5 Kelvin on 2024-05-01 with code AB-123',
        "lookup",
        "lookup Fahrenheit, 99999999999999999999 days, São Paulo and 'x'",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters=_parameters, strict=st.sampled_from([None, False, True]), prompt=_prompts)
def test_generated_arguments_validate_against_any_tool_schema(parameters, strict, prompt):
    from perceptron_mock.answers.tool_arguments import strict_schema

    got = arguments(prompt, parameters, strict)
    schema = strict_schema(parameters) if strict else parameters
    jsonschema.validate(got, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_answer_after_many_results_quotes_32_and_counts_the_rest():
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}} for i in range(40)]
    messages = [
        {"role": "user", "content": "weather"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": f"c{i}", "content": "result " * 40} for i in range(40)),
    ]
    lines = answer_for({"model": MODEL, "messages": messages}).content.splitlines()
    assert len(lines) == 1 + 32 + 1 and lines[-1] == "- and 8 more results"
    assert all(len(line) < 250 for line in lines)


def test_with_a_think_hint_the_calls_come_with_reasoning_that_names_the_tools():
    body = {
        "model": MODEL,
        "messages": [{"role": "system", "content": "<hint>THINK</hint>"}, {"role": "user", "content": "weather and calendar?"}],
        "tools": [tool("get_weather"), tool("list_calendar_events")],
    }
    answer = answer_for(body)
    assert answer.reasoning == (
        "To answer, I need results from get_weather and list_calendar_events: "
        "I call the tools first and answer from what they return."
    )
    assert answer_for({**body, "messages": body["messages"][1:]}).reasoning is None


def test_the_name_search_reads_a_bounded_head_of_the_prompt_and_skips_overlong_whole_names():
    offered = [FunctionTool.model_validate(tool(f"get_weather_{i}")) for i in range(128)]  # the most accepted
    filler = "lorem ipsum " * (MAX_TEXT // 12 + 1)
    assert [t.function.name for t in named_tools(offered[:1], "weather? " + filler)] == ["get_weather_0"]
    assert named_tools(offered, filler + " weather?") == []  # named only past the head: not read
    short, long = "get.set", ".".join(["get", "set"] * (WHOLE_NAME_CHARS // 8 + 1))  # stop words only: whole names alone call them
    assert len(long) > WHOLE_NAME_CHARS and not name_words(long)
    assert named_tools([FunctionTool.model_validate(tool(short))], f"call {short} now") != []
    assert named_tools([FunctionTool.model_validate(tool(long))], f"call {long} now") == []


@pytest.mark.parametrize(
    "member, text",
    [("celsius", "in celsius please"), ("celsius", "celsiusX only"), ("new york", "fly to new york today"),
     ("new york", "new yorker"), ("c++", "written in c++ code"), ("año", "este año"), ("a_b", "x a_b y"), ("3", "page 3.")],
)
def test_a_member_is_mentioned_as_a_whole_word_or_phrase_exactly_when_a_boundary_search_finds_it(member, text):
    from perceptron_mock.answers import tool_arguments
    from perceptron_mock.answers.validators import WorkCounter

    expected = re.search(r"(?<!\w)" + re.escape(member) + r"(?!\w)", text) is not None
    assert (tool_arguments._mentioned([member], text, WorkCounter(10**6)) == member) is expected


def test_enum_members_the_prompt_holds_in_full_cost_a_bounded_number_of_searches(monkeypatch):
    # The worst a request can ask: 32 properties of 64 multi-word members each, every one a substring of
    # the 20,000 characters read but never a whole phrase (so each is searched, and none ends the search).
    # One-word members are set lookups; phrases are searches charged to the filling's work budget, after
    # which the generated arguments are kept.
    from perceptron_mock.answers import tool_arguments

    searches = []
    real = tool_arguments._boundary_search
    monkeypatch.setattr(tool_arguments, "_boundary_search", lambda n, t: searches.append(n) or real(n, t))
    properties = {f"p{k}": {"type": "string", "enum": [f"zone {i} north {k}" for i in range(64)]} for k in range(32)}
    text = " ".join(f"zone {i} north {k}0" for k in range(32) for i in range(64))[: tool_arguments.MAX_TEXT]
    arguments = tool_arguments.arguments_for(
        FunctionSpec(name="f", parameters={"type": "object", "properties": properties}), text, random.Random(1), "tools[0]"
    )
    assert isinstance(json.loads(arguments), dict)
    assert len(searches) <= tool_arguments.FILL_WORK // tool_arguments._search_cost(text.lower()) + 1
