"""Agent loops as clients write them, against the rules alone (no fixtures): the openai SDK sync, async and
streaming, and the perceptron SDK, each run a weather-and-calendar agent to its final answer."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.helpers import python_blocks, run_as_a_new_user

MODEL = "perceptron-mk1.5"  # the catalog model with tool_calling
PROMPT = "What is the weather in Paris in celsius, and what is on my calendar?"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "list_calendar_events",
            "description": "The events on the user's calendar for a day.",
            "parameters": {"type": "object", "properties": {"date": {"type": "string", "format": "date"}}, "required": ["date"]},
        },
    },
]


def run_tool(name: str, arguments: dict) -> str:
    if name == "get_weather":
        return f"18 degrees and sunny in {arguments['city']}"
    return f"{arguments['date']}: 10:00 standup, 15:00 dentist"


def assert_final_answer_quotes_both_results(text: str) -> None:
    assert 'get_weather returned: "18 degrees and sunny in Paris"' in text
    assert "list_calendar_events returned:" in text and "10:00 standup" in text


def test_openai_sdk_runs_a_two_tool_agent_to_its_final_answer(openai_client):
    messages: list = [{"role": "user", "content": PROMPT}]
    first = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert [call.function.name for call in calls] == ["get_weather", "list_calendar_events"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}  # filled from the prompt
    assert all(call.id.startswith("call_") for call in calls) and calls[0].id != calls[1].id
    messages.append(choice.message)
    for call in calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call.function.name, json.loads(call.function.arguments))})
    final = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    assert_final_answer_quotes_both_results(final.choices[0].message.content)


def test_openai_async_client_runs_the_same_loop(perceptron_mock):
    async def agent() -> str:
        async with openai.AsyncOpenAI(base_url=perceptron_mock.base_url, api_key="any-key", max_retries=0) as client:
            messages: list = [{"role": "user", "content": PROMPT}]
            for _ in range(5):
                completion = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
                choice = completion.choices[0]
                messages.append(choice.message)
                if choice.finish_reason != "tool_calls":
                    return choice.message.content
                for call in choice.message.tool_calls:
                    result = run_tool(call.function.name, json.loads(call.function.arguments))
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise AssertionError("the loop did not end")

    assert_final_answer_quotes_both_results(asyncio.run(agent()))  # quotes both results: both tools ran


def test_openai_stream_helper_rebuilds_the_calls_the_json_answer_gives(openai_client):
    messages: list = [{"role": "user", "content": PROMPT}]
    whole = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    with openai_client.chat.completions.stream(
        model=MODEL, messages=messages, tools=TOOLS, stream_options={"include_usage": True}
    ) as stream:
        argument_fragments = sum(1 for event in stream if event.type == "tool_calls.function.arguments.delta")
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and completion.usage.completion_tokens > 0
    streamed = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls]
    assert streamed == [(c.function.name, c.function.arguments) for c in whole.tool_calls]
    assert argument_fragments > len(streamed)  # the arguments arrive in several fragments
    messages.append(choice.message)  # replayed as the helper built it (with index and parsed_arguments)
    for call in choice.message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call.function.name, json.loads(call.function.arguments))})
    with openai_client.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "stop"
    assert_final_answer_quotes_both_results(final.choices[0].message.content)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_perceptron_sdk_runs_a_two_tool_agent_to_its_final_answer(perceptron_sdk, stream):
    messages: list = [{"role": "user", "content": PROMPT}]
    for turn in range(5):
        if stream:
            with perceptron_sdk.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True) as chunks:
                for _ in chunks:
                    pass
                completion = chunks.get_final_completion()
        else:
            completion = perceptron_sdk.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        messages.append(completion.message)
        if completion.finish_reason != "tool_calls":
            break
        assert turn == 0 and [call.name for call in completion.tool_calls] == ["get_weather", "list_calendar_events"]
        for call in completion.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call.name, call.parse_arguments())})
    assert turn == 1 and completion.finish_reason == "stop" and completion.complete
    assert_final_answer_quotes_both_results(completion.message.content)


def test_parallel_tool_calls_false_calls_one_tool_a_turn_until_each_named_one_ran(openai_client):
    messages: list = [{"role": "user", "content": PROMPT}]
    called = []
    for _ in range(5):
        choice = openai_client.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, parallel_tool_calls=False
        ).choices[0]
        messages.append(choice.message)
        if choice.finish_reason != "tool_calls":
            break
        [call] = choice.message.tool_calls
        called.append(call.function.name)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call.function.name, json.loads(call.function.arguments))})
    assert called == ["get_weather", "list_calendar_events"]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert_final_answer_quotes_both_results(choice.message.content)


def test_a_second_user_turn_calls_again(openai_client):
    messages: list = [{"role": "user", "content": "What is the weather in Rome?"}]
    first = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    [call] = first.tool_calls
    messages += [first, {"role": "tool", "tool_call_id": call.id, "content": "warm"}]
    final = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    messages += [final, {"role": "user", "content": "And the weather in Oslo?"}]
    again = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0]
    assert final.tool_calls is None and "warm" in final.content
    assert again.finish_reason == "tool_calls"
    assert json.loads(again.message.tool_calls[0].function.arguments)["city"] == "Oslo"


TOOLS_PAGE = python_blocks((Path(__file__).resolve().parents[2] / "docs" / "tools.md").read_text(encoding="utf-8"))


def test_the_tools_page_shows_an_agent_for_each_sdk():
    assert any("import openai" in block and "chat.completions.stream(" in block for block in TOOLS_PAGE)
    assert any("import perceptron" in block for block in TOOLS_PAGE)


def test_the_tools_page_shows_what_its_openai_agent_prints(perceptron_mock):
    page = (Path(__file__).resolve().parents[2] / "docs" / "tools.md").read_text(encoding="utf-8")
    [shown] = re.findall(r"```text\n(calling.*?)```", page, re.S)
    code = TOOLS_PAGE[0].replace("http://127.0.0.1:8000", perceptron_mock.url)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown * 2  # not streamed, then streamed: the same calls and answer


@pytest.mark.parametrize("index", range(len(TOOLS_PAGE)), ids=lambda i: f"block{i}")
def test_the_tools_page_agent_runs_to_its_final_answer_as_printed(index, perceptron_mock, tmp_path):
    run_as_a_new_user(TOOLS_PAGE[index], perceptron_mock, tmp_path)


def test_openai_parse_with_a_pydantic_strict_tool_gives_parsed_arguments(openai_client):
    from pydantic import BaseModel

    class GetWeather(BaseModel):
        city: str
        days: int

    completion = openai_client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "GetWeather for Lisbon over 3 days"}],
        tools=[openai.pydantic_function_tool(GetWeather)],
    )
    [call] = completion.choices[0].message.tool_calls
    assert call.function.parsed_arguments == GetWeather(city="Lisbon", days=3)


def test_perceptron_sdk_stream_rebuilds_the_calls_the_json_answer_gives(perceptron_sdk):
    messages = [{"role": "user", "content": PROMPT}]
    whole = perceptron_sdk.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    with perceptron_sdk.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True) as chunks:
        for _ in chunks:
            pass
        streamed = chunks.get_final_completion()
    assert streamed.complete and streamed.finish_reason == "tool_calls"
    assert [c.name for c in whole.tool_calls] == ["get_weather", "list_calendar_events"]
    assert [(c.name, c.arguments) for c in streamed.tool_calls] == [(c.name, c.arguments) for c in whole.tool_calls]
