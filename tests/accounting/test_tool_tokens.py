"""Tool definitions, calls and results count toward prompt tokens as Qwen3's tool-calling chat template
writes them (the template is written out here, not read from perceptron_mock.accounting)."""

from __future__ import annotations

import json

from perceptron_mock.accounting import tokens
from tests.helpers import post

MODEL = "perceptron-mk1.5"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ARGUMENTS = '{"city": "Paris"}'
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def qwen3_rendered(with_system: bool) -> str:
    """Qwen3's template (tokenizer_config.json, chat_template) rendered for MESSAGES by hand."""
    tools = (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        + json.dumps(TOOL, ensure_ascii=False)
        + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )
    system = "You are terse.\n\n" if with_system else ""
    return (
        f"<|im_start|>system\n{system}{tools}<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        f'<|im_start|>assistant\n<tool_call>\n{{"name": "get_weather", "arguments": {ARGUMENTS}}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def prompt_tokens(client, messages: list[dict], **fields) -> int:
    response = post(client, {"model": MODEL, "messages": messages, **fields})
    assert response.status_code == 200, response.text
    return response.json()["usage"]["prompt_tokens"]


def test_tools_calls_and_results_cost_what_the_qwen3_template_renders(client):
    # Counted piece by piece, a token may merge differently at a seam than in the whole: within two.
    assert abs(prompt_tokens(client, MESSAGES, tools=[TOOL]) - tokens.count(qwen3_rendered(True))) <= 2
    assert abs(prompt_tokens(client, MESSAGES[1:], tools=[TOOL]) - tokens.count(qwen3_rendered(False))) <= 2


def test_offering_a_tool_costs_its_definition(client):
    bare = prompt_tokens(client, MESSAGES)
    offered = prompt_tokens(client, MESSAGES, tools=[TOOL])
    assert offered - bare >= tokens.count(json.dumps(TOOL))


def test_a_longer_tool_result_costs_more_prompt_tokens(client):
    longer = [*MESSAGES[:-1], {**MESSAGES[-1], "content": "sunny, " * 50}]
    grown = prompt_tokens(client, longer) - prompt_tokens(client, MESSAGES)
    assert abs(grown - (tokens.count("sunny, " * 50) - tokens.count("sunny"))) <= 2  # seams again
