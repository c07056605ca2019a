"""Messages as the openai SDK's own request types allow them, replayed answers, and the perceptron SDK's
own request checks answered with its codes for clients that bypass it (docs/validation.md)."""

from __future__ import annotations

import collections.abc
import types
import typing

import pydantic
import typing_extensions
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion_message_param import ChatCompletionMessageParam
from perceptron import BadRequestError
from perceptron.chat import _validate_request_body

from tests.helpers import MODEL, chat

IMAGE_URL = "https://example.com/a.png"
# What this API does not take, whatever the openai types allow: the deprecated function role and file
# parts; audio parts are refused by a model without audio (MODEL).
REFUSED_ROLES = {"function"}
REFUSED_PARTS = {"input_audio", "file"}
UNSUPPORTED_PARTS = {"input_audio"}


def samples(tp: typing.Any, key: str = "") -> list:
    """Values of the type ``tp``, read from its definition: every Literal value, every member of a union,
    every optional key of a TypedDict once set (the first value of each) and once left out."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing_extensions.Required, typing_extensions.NotRequired, typing.Annotated):
        return samples(args[0], key)
    if origin is typing.Literal:
        return list(args)
    if origin in (typing.Union, types.UnionType):
        return [value for arg in args for value in samples(arg, key)]
    if origin in (collections.abc.Iterable, list):
        return [[value] for value in samples(args[0], key)]
    if typing_extensions.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        full = {name: samples(hint, name)[0] for name, hint in hints.items()}
        # the classes are total=False with Required[...] keys (and __required_keys__ misses those under
        # postponed annotations), so a key is required when its hint says so
        required = [name for name, hint in hints.items() if typing.get_origin(hint) is typing_extensions.Required]
        variants = [full, {name: full[name] for name in required}]
        for name, hint in hints.items():
            variants += [{**full, name: value} for value in samples(hint, name)[1:]]
        return variants
    if tp is str:
        return [IMAGE_URL if key == "url" else "x"]
    if tp is type(None):
        return [None]
    raise AssertionError(f"no samples for {tp!r}")


def _accepted(message: dict) -> bool:
    content = message.get("content")
    parts = content if isinstance(content, list) else []
    calls = message.get("tool_calls") or [] if message["role"] == "assistant" else []
    return (
        message["role"] not in REFUSED_ROLES
        and not any(part["type"] in REFUSED_PARTS for part in parts)
        and all(call["type"] == "function" for call in calls)  # custom tools: OpenAI's, not Perceptron's
    )


MESSAGES = samples(ChatCompletionMessageParam)


def test_the_openai_types_give_every_role_and_part():
    assert {message["role"] for message in MESSAGES} == {"developer", "system", "user", "assistant", "tool", "function"}
    parts = {part["type"] for message in MESSAGES if isinstance(message.get("content"), list) for part in message["content"]}
    assert parts == {"text", "image_url", "input_audio", "file", "refusal"}
    assert {m["refusal"] for m in MESSAGES if m["role"] == "assistant" and "refusal" in m} == {"x", None}


def _in_conversation(message: dict) -> list[dict]:
    """``message`` where the tool-call order allows it: a tool result after the call it answers, calls
    followed by their results."""
    if message["role"] == "tool":
        call = {"id": message["tool_call_id"], "type": "function", "function": {"name": "f", "arguments": "{}"}}
        return [{"role": "assistant", "content": None, "tool_calls": [call]}, message]
    calls = message.get("tool_calls") or [] if message["role"] == "assistant" else []
    return [message, *({"role": "tool", "tool_call_id": call["id"], "content": "ok"} for call in calls)]


@pytest.mark.parametrize("message", [m for m in MESSAGES if _accepted(m)], ids=repr)
def test_every_message_the_openai_types_allow_is_accepted(client, message):
    body = {"model": MODEL, "messages": [*_in_conversation(message), {"role": "user", "content": "And now?"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("message", [m for m in MESSAGES if not _accepted(m)], ids=repr)
def test_function_messages_custom_tool_calls_and_audio_and_file_parts_are_refused(client, message):
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [message]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    types_ = {part["type"] for part in message["content"]} if isinstance(message.get("content"), list) else set()
    if message["role"] in REFUSED_ROLES:
        assert (error["code"], error["param"]) == ("invalid_value", "messages[0].role")
    elif types_ & UNSUPPORTED_PARTS and not types_ & (REFUSED_PARTS - UNSUPPORTED_PARTS):
        assert error["code"] == "unsupported_parameter" and error["message"].endswith("does not support audio input")
    else:
        assert error["code"] == "invalid_value" and error["param"].endswith(".type")


def test_a_developer_message_is_read_as_a_system_message(client):
    image = [{"type": "image_url", "image_url": {"url": IMAGE_URL}}, {"type": "text", "text": "Find the cups."}]
    answers = [
        client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": role, "content": "<hint>BOX</hint>"}, {"role": "user", "content": image}]},
        ).json()["choices"][0]["message"]["content"]
        for role in ("system", "developer")
    ]
    assert answers[0] == answers[1] and "<point_box" in answers[1]


def test_an_openai_shaped_answer_replays(openai_client):
    # An answer as OpenAI's API shapes it, replayed as openai's docs do (messages.append(message)):
    # the SDK sends back every key it was given, the output-only `annotations` included.
    answer = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "A cup.", "refusal": None, "annotations": [], "audio": None,
                "function_call": None, "tool_calls": None}}],
        }
    )
    messages = [{"role": "user", "content": "What is there?"}, answer.choices[0].message, {"role": "user", "content": "More?"}]
    assert openai_client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the openai SDK dumping its own parsed message
def test_the_mocks_own_answers_replay_through_both_openai_calls(openai_client):
    class Cup(pydantic.BaseModel):
        colour: str

    messages: list = [{"role": "user", "content": "Describe the cup."}]
    messages.append(openai_client.chat.completions.create(model=MODEL, messages=messages).choices[0].message)
    messages.append({"role": "user", "content": "As JSON."})
    parsed = openai_client.chat.completions.parse(model=MODEL, messages=messages, response_format=Cup)
    messages.append(parsed.choices[0].message)  # sent back with `parsed` and `tool_calls: null`
    messages.append({"role": "user", "content": "Thanks."})
    assert openai_client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content


FUNCTION = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}


def _tool(name: object) -> dict:
    return {"type": "function", "function": {"name": name}}


# Bodies the perceptron SDK refuses before sending (perceptron/chat.py, _validate_request_body), with the
# param and code it gives; the mock answers a client that bypasses it with the same two.
SDK_REFUSALS = [
    ({"regex": "a+", "response_format": {"type": "text"}}, "regex", "conflicting_structured_output_controls"),
    ({"regex": "a+", "response_format": JSON_SCHEMA}, "regex", "conflicting_structured_output_controls"),
    ({"tools": [FUNCTION], "regex": "a+"}, "tools", "unsupported_tools_combination"),
    ({"tools": [FUNCTION], "response_format": JSON_SCHEMA}, "tools", "unsupported_tools_combination"),
    ({"tools": [FUNCTION], "regex": "a+", "response_format": {"type": "text"}}, "tools", "unsupported_tools_combination"),
    ({"tool_choice": "required"}, "tool_choice", "unsupported_tool_choice"),
    ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice", "unsupported_tool_choice"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type", "unsupported_tool_type"),
    ({"tools": [FUNCTION, {"function": {"name": "x"}}]}, "tools[1].type", "unsupported_tool_type"),
    ({"tools": [{"type": "function"}]}, "tools[0].function.name", "invalid_tools"),
    ({"tools": [_tool("   ")]}, "tools[0].function.name", "invalid_tools"),
    ({"tools": [_tool(7)]}, "tools[0].function.name", "invalid_tools"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, "tools[0].function.parameters", "invalid_tools"),
    ({"tools": [_tool("parallel")]}, "tools[0].function.name", "reserved_tool_name"),
    ({"tools": [_tool("functions.parallel")]}, "tools[0].function.name", "reserved_tool_name"),
    ({"tools": [_tool("get weather"), _tool("get_weather")]}, "tools[1].function.name", "duplicate_tool_name"),
    ({"tools": [_tool("get_weather"), _tool("functions.get_weather")]}, "tools[1].function.name", "duplicate_tool_name"),
    ({"tools": [_tool("vision.crop"), _tool("vision.crop")]}, "tools[1].function.name", "duplicate_tool_name"),
    ({"tools": [{"type": "perceptron.FOCUS"}, FUNCTION]}, "tools", "conflicting_tools"),
    ({"parallel_tool_calls": "yes"}, "parallel_tool_calls", "invalid_parameter"),
    ({"response_format": {"type": "json_object"}}, "response_format.type", "unsupported_response_format"),
    ({"response_format": {"type": "regex", "regex": "a+"}}, "response_format.type", "unsupported_response_format"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "invalid_response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": "a"}}, "response_format.json_schema", "invalid_response_format"),
    ({"regex": ""}, "regex", "invalid_regex"),
    ({"regex": 5}, "regex", "invalid_regex"),
    ({"temperature": -0.5}, "temperature", "invalid_temperature"),
    ({"temperature": "1"}, "temperature", "invalid_temperature"),
    ({"temperature": True}, "temperature", "invalid_temperature"),
]


@pytest.mark.parametrize(("fields", "param", "code"), SDK_REFUSALS, ids=repr)
def test_what_the_perceptron_sdk_refuses_the_mock_refuses_with_its_code(client, fields, param, code):
    with pytest.raises(BadRequestError) as sdk:
        _validate_request_body(chat(model="perceptron-mk1.5", **fields))
    assert (sdk.value.param, sdk.value.code) == (param, code)
    response = client.post("/v1/chat/completions", json=chat(model="perceptron-mk1.5", **fields))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        # the reference's upper bound, which the SDK does not check
        ({"temperature": 2.5}, "temperature", "invalid_temperature"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort", "invalid_reasoning_effort"),
        ({"reasoning_effort": "High"}, "reasoning_effort", "invalid_reasoning_effort"),
        ({"vision_config": {"internal_tools": True}}, "vision_config.internal_tools", "unsupported_parameter"),
        ({"vision_config": {"annotation_format": "track"}}, "vision_config.annotation_format", "invalid_vision_config"),
        ({"vision_config": {"enable_thinking": "yes"}}, "vision_config.enable_thinking", "invalid_vision_config"),
        ({"n": 2}, "n", "invalid_parameter"),
        ({"n": True}, "n", "invalid_parameter"),
    ],
    ids=repr,
)
def test_the_service_codes_the_sdk_names_for_other_rules(client, fields, param, code):
    response = client.post("/v1/chat/completions", json=chat(model="perceptron-mk1.5", **fields))
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code)


@pytest.mark.parametrize(
    "tools",
    [
        [_tool("vision.crop"), _tool("crop"), _tool("get-weather")],
        [_tool("get weather"), _tool("функция")],
        [{"type": "perceptron.FOCUS"}],
    ],
    ids=repr,
)
def test_tools_the_perceptron_sdk_lets_through_are_accepted(client, tools):
    _validate_request_body({"tools": tools})
    response = client.post("/v1/chat/completions", json=chat(model="perceptron-mk1.5", tools=tools, response_format={"type": "text"}))
    assert response.status_code == 200, response.text


def test_max_completion_tokens_zero_is_valid_as_the_reference_says(client):
    # the perceptron SDK refuses 0 client-side (>= 1); the reference's range is x >= 0, and it wins
    response = client.post("/v1/chat/completions", json=chat(max_completion_tokens=0))
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] == 0


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"tool_choice": "required"}, "tool_choice", "unsupported_tool_choice"),
        ({"tools": [_tool("parallel")]}, "tools[0].function.name", "reserved_tool_name"),
        ({"response_format": {"type": "text"}, "regex": "a+"}, "regex", "conflicting_structured_output_controls"),
    ],
    ids=repr,
)
def test_the_perceptron_sdks_extra_body_gets_the_refusal_it_would_have_given(perceptron_sdk, extra, param, code):
    # extra_body is merged last and unvalidated by the SDK: the server's answer is what the caller sees
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    with pytest.raises(BadRequestError) as refused:
        perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=messages, extra_body=extra)
    assert (refused.value.param, refused.value.code, refused.value.status_code) == (param, code, 400)


def test_the_perceptron_sdk_sends_a_developer_message_verbatim_and_it_is_answered(perceptron_sdk):
    messages = [{"role": "developer", "content": "Be brief.", "name": "ops"}, {"role": "user", "content": "Hi", "name": "me"}]
    assert perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=messages).text
