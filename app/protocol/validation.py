"""Raw request bytes → a validated ``ChatCompletionRequest``, or one ``APIError`` naming the problem.

pydantic's first error becomes the OpenAI envelope, ``param`` a path such as
``messages[1].content[0].image_url.url``; values are quoted at most 60 characters long.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from perceptron_mock.protocol.conversation import check_conversation
from perceptron_mock.protocol.errors import APIError, clip, invalid, unparseable_json
from perceptron_mock.protocol.json_items import items_over
from perceptron_mock.protocol.data_urls import LIFT_ABOVE, Body, Lifted, lift
from perceptron_mock.protocol.requests import ChatCompletionRequest, FocusTool
from perceptron_mock.protocol.tool_names import RESERVED_RECIPIENT, tool_recipient

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "none_required": "null",
}


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _quote(value: Any) -> str:
    return clip(repr(value) if not isinstance(value, str) else f"'{value}'")


def param_path(loc: tuple[Any, ...]) -> str | None:
    """``('messages', 1, 'role:user', 'content', 'list[...]', 0, 'part:image_url', 'image_url', 'url')``
    → ``messages[1].content[0].image_url.url``; union member labels are dropped."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        elif ":" in item or "[" in item or item in ("str", "int", "float", "bool", "function-after"):
            continue
        else:
            out += f".{item}" if out else item
    return out or None


def _describe(error: dict[str, Any], param: str | None) -> tuple[str, str]:
    """(message, code) for one pydantic error."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    name = f"'{param}'" if param else "the request body"
    if kind == "missing":
        return f"Missing required parameter: {name}.", "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {clip(param or '')}.", "unknown_parameter"
    if kind in _TYPE_NAMES:
        return (
            f"Invalid type for {name}: expected {_TYPE_NAMES[kind]}, but got {json_kind(value)}.",
            "invalid_type",
        )
    if kind in ("greater_than_equal", "greater_than"):
        return (
            f"Invalid {name}: {_quote(value)} is below the minimum of {_number(ctx.get('ge', ctx.get('gt')))}.",
            "below_min_value",
        )
    if kind in ("less_than_equal", "less_than"):
        return (
            f"Invalid {name}: {_quote(value)} is above the maximum of {_number(ctx.get('le', ctx.get('lt')))}.",
            "above_max_value",
        )
    if kind == "too_short":
        return f"Invalid {name}: expected at least {ctx.get('min_length')} item(s), got none.", "empty_array"
    if kind == "string_too_short":
        return f"Invalid {name}: must not be empty.", "empty_string"
    if kind == "string_pattern_mismatch":
        return f"Invalid {name}: {_quote(value)} does not match the pattern {ctx.get('pattern')}.", "invalid_value"
    if kind == "literal_error":
        return f"Invalid value for {name}: {_quote(value)}. Supported values are: {ctx.get('expected')}.", "invalid_value"
    if kind in _UNION_TAGS:
        if not isinstance(value, dict):
            return f"Invalid type for {name}: expected an object, but got {json_kind(value)}.", "invalid_type"
        field = "role" if kind == "invalid_role" else "type"
        found = value.get(field)
        if found is None:
            return f"Missing required parameter: '{param}'.", "missing_required_parameter"
        return f"Invalid value for '{param}': {_quote(found)}; {error['msg']}.", "invalid_value"
    if kind == "finite_number":
        return f"Invalid {name}: must be a finite number.", "invalid_value"
    return f"Invalid {name}: {error['msg']}.", "invalid_value"


def first_error(errors: list[dict[str, Any]]) -> APIError:
    """The 400 for pydantic's errors (``ValidationError.errors()``): the one a person needs, described."""
    if errors and errors[0]["type"] == "json_invalid":
        return unparseable_json(str(errors[0].get("ctx", {}).get("error", "invalid JSON")))
    if errors and errors[0]["type"] in ("model_type", "model_attributes_type") and not errors[0]["loc"]:
        return unparseable_json(f"got {json_kind(errors[0].get('input'))}, not an object")
    # A value that matches neither member of ``str | list`` produces one error per member; the
    # type error of the first is the one a person needs.
    error = errors[0]
    param = param_path(error["loc"])
    related = [e for e in errors if (param_path(e["loc"]) or "").startswith(param or "")]
    deepest = max(related, key=lambda e: (len(e["loc"]), e["type"] not in _TYPE_NAMES))
    if deepest is not error:
        error, param = deepest, param_path(deepest["loc"])
    if error["type"] in ("string_type", "list_type") and param and param.endswith("content"):
        return invalid(
            f"Invalid type for '{param}': expected a string or an array of content parts, "
            f"but got {json_kind(error.get('input'))}.",
            param,
            "invalid_type",
        )
    if error["type"] in _UNION_TAGS and isinstance(error.get("input"), dict):
        param = f"{param}.role" if error["type"] == "invalid_role" else f"{param}.type"
    message, code = _describe(error, param)
    param, code = sdk_code(param, error["type"], code)
    return invalid(message, clip(param, 200) if param else None, code)


_UNION_TAGS = ("invalid_role", "invalid_part_type", "invalid_format_type", "invalid_tool_type")
# The perceptron SDK's codes for the fields it checks itself, "the gateway's code where it has one"
# (perceptron/errors.py): any refusal of these fields carries them (docs/validation.md, codes changed).
_SDK_CODES = {
    "temperature": "invalid_temperature",
    "reasoning_effort": "invalid_reasoning_effort",
    "n": "invalid_parameter",
    "parallel_tool_calls": "invalid_parameter",
    "tool_choice": "unsupported_tool_choice",
    "regex": "invalid_regex",
    "response_format.type": "unsupported_response_format",
    "vision_config.annotation_format": "invalid_vision_config",
    "vision_config.enable_audio_in_video": "invalid_vision_config",
    "vision_config.enable_thinking": "invalid_vision_config",
}
_TOOL_FIELD = re.compile(r"(tools\[\d+\])(\.type|\.function(?:\.name|\.parameters)?)$")


def sdk_code(param: str | None, kind: str, code: str) -> tuple[str | None, str]:
    """(param, code) as the perceptron SDK names them where it checks the same field."""
    if param is None:
        return param, code
    if param in _SDK_CODES:
        return param, _SDK_CODES[param]
    if param.startswith("vision_config.") and kind == "extra_forbidden":
        return param, "unsupported_parameter"
    if param == "response_format.json_schema" and code in ("missing_required_parameter", "invalid_type"):
        return param, "invalid_response_format"
    tool = _TOOL_FIELD.match(param)
    if tool is None:
        return param, code
    if tool.group(2) == ".type":
        return param, "unsupported_tool_type"
    if tool.group(2) == ".function":  # missing or not an object: the SDK names the name it lacks
        return f"{tool.group(1)}.function.name", "invalid_tools"
    return param, "invalid_tools"


# What ChatCompletionRequest.model_validate_json calls, without its frame of keyword defaults.
_validate_json = ChatCompletionRequest.__pydantic_validator__.validate_json


def parse_request(body: Body, *, reject_unknown: bool = True) -> ChatCompletionRequest:
    if not body:
        raise unparseable_json("the body is empty")
    try:
        request = _validate_json(body)
    except ValidationError as exc:
        raise first_error(exc.errors(include_url=False)) from None
    check_request(request, reject_unknown=reject_unknown)
    return request


def check_token_alias(request: Any) -> None:
    """``max_tokens`` is an alias of ``max_completion_tokens``: both may be sent only with one value."""
    if (
        request.max_tokens is not None
        and request.max_completion_tokens is not None
        and request.max_tokens != request.max_completion_tokens
    ):
        raise invalid(
            "Send either 'max_completion_tokens' or its alias 'max_tokens', not two different values.",
            "max_tokens",
            "conflicting_parameters",
        )


def too_complex(limit: int) -> APIError:
    return invalid(
        f"The request body holds more than {limit} JSON items (array elements and object members, "
        "counted together); this server reads at most that many. Send fewer messages or content parts, "
        "or smaller schemas.",
        None,
        "request_too_complex",
    )


def parse_request_lifting(
    body: Body, *, reject_unknown: bool = True, max_items: int | None = None
) -> tuple[ChatCompletionRequest, dict[str, bytes]]:
    """``parse_request`` for a body that may carry large data-URL images: their base64 payloads are
    lifted out and decoded before pydantic reads the body (``perceptron_mock.protocol.data_urls`` says why) and the
    images returned beside the request, keyed by the placeholder URL that stands for each in it;
    ``perceptron_mock.accounting.prompt`` reads them from there. Whenever the lifted body does not validate, or a
    placeholder is not exactly one image part's URL, the whole body is parsed as ``parse_request``
    does, so every answer and every error is the one the full parse gives.

    ``max_items``: a body holding more JSON items than this is refused before it is parsed
    (``perceptron_mock.protocol.json_items``), since parsing costs about a microsecond an item."""
    if max_items is not None and items_over(body, max_items):
        raise too_complex(max_items)
    parsed = _parse_lifted(lift(body)) if len(body) > LIFT_ABOVE else None  # small: no calls on the hot path
    if parsed is None:
        return parse_request(body, reject_unknown=reject_unknown), {}
    check_request(parsed[0], reject_unknown=reject_unknown)
    return parsed


def _parse_lifted(lifted: Lifted | None) -> tuple[ChatCompletionRequest, dict[str, bytes]] | None:
    # A function of its own so that the small body is freed before a full parse of the large one.
    if lifted is None:
        return None
    try:
        request = ChatCompletionRequest.model_validate_json(lifted.body)
    except ValidationError:
        return None
    return (request, lifted.payloads) if lifted.placed_in(request) else None


def check_request(request: ChatCompletionRequest, *, reject_unknown: bool = True) -> None:
    """The rules that tie fields together, which a per-field model cannot say."""
    if reject_unknown and request.__pydantic_extra__:  # model_extra's value, without its property call
        name = clip(next(iter(request.model_extra)))
        raise invalid(f"Unrecognized request argument supplied: {name}.", name, "unknown_parameter")
    if request.stream_options is not None and not request.stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        )
    check_token_alias(request)
    if request.tools and (request.regex is not None or (request.response_format and request.response_format.type == "json_schema")):
        raise invalid(
            "'tools' cannot be combined with a json_schema 'response_format' or 'regex'.",
            "tools",
            "unsupported_tools_combination",
        )
    if request.regex is not None and request.response_format is not None:
        raise invalid(
            "Send either 'regex' or 'response_format', not both.",
            "regex",
            "conflicting_structured_output_controls",
        )
    if request.tools:
        check_tools(request.tools)
    check_conversation(request.messages)


MAX_TOOLS = 128  # OpenAI's bound on the list; the answer rules try every tool's name against the prompt


def check_tools(tools: list) -> None:
    """The perceptron SDK's rules over the list (``_validate_tools``): no reserved or shared recipient,
    and ``perceptron.FOCUS`` alone; and OpenAI's bound on its length."""
    if len(tools) > MAX_TOOLS:
        raise invalid(
            f"Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, "
            f"but got an array with length {len(tools)} instead.",
            "tools",
            "array_above_max_length",
        )
    seen: dict[str, str] = {}
    for i, tool in enumerate(tools):
        if isinstance(tool, FocusTool):
            continue
        name = tool.function.name
        recipient = tool_recipient(name)
        if recipient == RESERVED_RECIPIENT:
            raise invalid(
                f"Tool name {_quote(name)} is reserved (it resolves to {RESERVED_RECIPIENT}).",
                f"tools[{i}].function.name",
                "reserved_tool_name",
            )
        if recipient in seen:
            raise invalid(
                f"Tool names {_quote(seen[recipient])} and {_quote(name)} both resolve to {_quote(recipient)}.",
                f"tools[{i}].function.name",
                "duplicate_tool_name",
            )
        seen[recipient] = name
    if len(tools) > 1 and any(isinstance(tool, FocusTool) for tool in tools):
        raise invalid("'perceptron.FOCUS' must be the only tool in 'tools'.", "tools", "conflicting_tools")
