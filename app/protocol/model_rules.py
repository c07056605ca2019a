"""What the requested model accepts: its output cap and the parameters and inputs it supports (docs/validation.md).

Runs after validation and the model lookup, before accounting: a refusal here opens no image. A THINK
hint or ``vision_config.enable_thinking`` is not a parameter: a model without reasoning ignores it.
"""

from __future__ import annotations

from perceptron_mock.protocol.catalog import ModelEntry
from perceptron_mock.protocol.errors import APIError, clip, invalid
from perceptron_mock.protocol.media_parts import MODALITY
from perceptron_mock.protocol.requests import ChatCompletionRequest


def unsupported(model: ModelEntry, what: str, param: str) -> APIError:
    """The service's wording, as the perceptron SDK's own tests quote it for tools (no final period)."""
    return invalid(f"Model '{clip(model.id)}' does not support {what}", param, "unsupported_parameter")


def output_too_large(field: str, asked: int, cap: int) -> APIError:
    """OpenAI's "max_tokens is too large" answer, naming the field the client sent."""
    return invalid(
        f"{field} is too large: {asked}. This model supports at most {cap} completion tokens, whereas you provided {asked}.",
        field,
        "invalid_value",
    )


def check(request: ChatCompletionRequest, model: ModelEntry) -> None:
    """Raises the first refusal, in the order docs/validation.md lists: output cap, tools, reasoning_effort,
    regex, json_schema, then each content part of a modality the model lacks, in message order."""
    limit = request.completion_limit
    if limit is not None and limit > model.max_output_tokens:
        field = "max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens"
        raise output_too_large(field, limit, model.max_output_tokens)
    if request.tools and not model.supports("tool_calling"):
        raise unsupported(model, "tool calling", "tools")
    effort = request.reasoning_effort
    if effort is not None and effort != "none" and not model.reasoning.supported:
        raise unsupported(model, "reasoning", "reasoning_effort")
    if request.regex is not None and not model.supports("regex"):
        raise unsupported(model, "regex", "regex")
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema" and not model.supports("response_format_json_schema"):
        raise unsupported(model, "json_schema response formats", "response_format")
    for i, message in enumerate(request.messages):
        if isinstance(message.content, list):
            for j, part in enumerate(message.content):
                modality = MODALITY.get(part.type)
                if modality is not None and modality not in model.modalities:
                    raise unsupported(model, f"{modality} input", f"messages[{i}].content[{j}]")
