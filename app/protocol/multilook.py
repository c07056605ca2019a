"""The body of ``POST /v1/chat/completions/multilook``: its model, its limits, and each prompt as a chat request.

Messages, parts and sampling fields are chat's own (``protocol.requests``), so every rule and error of
chat holds for them; the limits and codes are the perceptron SDK's (``perceptron/multilook.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from perceptron_mock.protocol.data_urls import LIFT_ABOVE, Body, Lifted, lift
from perceptron_mock.protocol.errors import APIError, clip, invalid, unparseable_json
from perceptron_mock.protocol.json_items import items_over
from perceptron_mock.protocol.media_parts import Strict
from perceptron_mock.protocol.requests import (
    INT32_MAX,
    ChatCompletionRequest,
    ContentPart,
    Message,
    UserMessage,
    VisionConfig,
)
from perceptron_mock.protocol.validation import check_token_alias, first_error, json_kind, too_complex

MAX_PROMPTS = 16
MAX_N = 8
MAX_COMPLETIONS = 64
INVALID_PARAMETER = "invalid_parameter"  # the SDK's code for every multilook limit

# Chat fields a multilook request does not take: refused by name whatever --unknown-fields says, as the
# SDK refuses them (a TypeError there; "no streaming, and no tools, response_format, regex or stop").
CHAT_ONLY = ("messages", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
             "response_format", "regex", "stop", "seed")
# The fields every prompt's chat request takes from the multilook request.
_SHARED = ("model", "frequency_penalty", "presence_penalty", "max_completion_tokens", "max_tokens",
           "temperature", "top_k", "top_p", "vision_config", "reasoning_effort")


class PromptParts(Strict):
    """A prompt with media: ``{"content": [parts]}`` (no role: a prompt is always the last user turn)."""

    content: Annotated[list[ContentPart], Field(min_length=1, fail_fast=True)]


def _prompt_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "prompt:text"
    return "prompt:parts" if isinstance(value, (dict, PromptParts)) else None


Prompt = Annotated[
    Union[Annotated[str, Tag("prompt:text")], Annotated[PromptParts, Tag("prompt:parts")]],
    Discriminator(
        _prompt_kind,
        custom_error_type="invalid_prompt",
        custom_error_message="a prompt is a string or an object {\"content\": [content parts]}",
    ),
]


class MultilookRequest(BaseModel):
    """Every field the service reads; others land in ``model_extra`` to be refused or ignored."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)

    model: str
    context: Annotated[list[Message], Field(fail_fast=True)]
    prompts: Annotated[list[Prompt], Field(fail_fast=True)]
    n: int | None = None  # its range is checked with the SDK's wording (check_limits)
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    max_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_k: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    vision_config: VisionConfig | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None

    @property
    def samples(self) -> int:
        """Completions per prompt: ``n``, 1 when unset."""
        return 1 if self.n is None else self.n


def tool_traffic(index: int) -> APIError:
    return invalid(
        "Tool calling is not supported on multilook: context may not hold tool results or tool calls.",
        f"context[{index}]",
        "unsupported_parameter",
    )


def _refusal(errors: list[dict[str, Any]]) -> APIError:
    """The 400 for pydantic's errors: chat's (``validation.first_error``), but for the shapes only a
    multilook body has: tool traffic in the context, a prompt's content that is not a list."""
    first = errors[0]
    loc = first["loc"]
    if len(loc) >= 3 and loc[0] == "context" and isinstance(loc[1], int) and "tool_calls" in loc[2:4]:
        return tool_traffic(loc[1])  # a malformed call is still tool traffic: that is the refusal to name
    if len(loc) == 2 and loc[0] == "context" and first["type"] == "invalid_role":
        value = first.get("input")
        if isinstance(value, dict) and value.get("role") == "tool":
            return tool_traffic(loc[1])
    if len(loc) >= 2 and loc[0] == "prompts" and loc[-1] == "content" and first["type"] == "list_type":
        return invalid(
            f"Invalid type for 'prompts[{loc[1]}].content': expected an array of content parts (send text as a "
            f"plain string prompt), but got {json_kind(first.get('input'))}.",
            f"prompts[{loc[1]}].content",
            "invalid_type",
        )
    return first_error(errors)


def _parse(body: Body) -> MultilookRequest:
    if not body:
        raise unparseable_json("the body is empty")
    try:
        return MultilookRequest.model_validate_json(body)
    except ValidationError as exc:
        raise _refusal(exc.errors(include_url=False)) from None


def _parse_lifted(lifted: Lifted | None) -> tuple[MultilookRequest, dict[str, bytes]] | None:
    """As ``validation.parse_request_lifting``: the lifted body, kept only when each placeholder is
    exactly one image part's URL; otherwise None, and the whole body is parsed."""
    if lifted is None:
        return None
    try:
        request = MultilookRequest.model_validate_json(lifted.body)
    except ValidationError:
        return None
    contents = [m.content for m in request.context] + [p.content for p in request.prompts if isinstance(p, PromptParts)]
    return (request, lifted.payloads) if lifted.placed_among(contents) else None


def parse_multilook(
    body: Body, *, reject_unknown: bool = True, max_items: int | None = None
) -> tuple[MultilookRequest, dict[str, bytes]]:
    """The validated request and its lifted images (by placeholder URL), or the first refusal."""
    if max_items is not None and items_over(body, max_items):
        raise too_complex(max_items)
    parsed = _parse_lifted(lift(body)) if len(body) > LIFT_ABOVE else None
    request, payloads = parsed if parsed is not None else (_parse(body), {})
    check_limits(request, reject_unknown=reject_unknown)
    return request, payloads


def check_limits(request: MultilookRequest, *, reject_unknown: bool = True) -> None:
    """The rules between fields, in the order the SDK checks them, with its messages and codes."""
    extra = request.model_extra or {}
    for name in CHAT_ONLY:
        if name in extra:
            raise invalid(f"'{name}' is not supported on multilook.", name, "unsupported_parameter")
    if reject_unknown and extra:
        name = clip(next(iter(extra)))
        raise invalid(f"Unrecognized request argument supplied: {name}.", name, "unknown_parameter")
    count = len(request.prompts)
    if not 1 <= count <= MAX_PROMPTS:
        raise invalid(
            f"Invalid prompts: expected between 1 and {MAX_PROMPTS} prompts, got {count}.", "prompts", INVALID_PARAMETER
        )
    n = request.n
    if n is not None and not 1 <= n <= MAX_N:
        raise invalid(f"Invalid n: {n}. Expected an integer between 1 and {MAX_N}.", "n", INVALID_PARAMETER)
    if count * request.samples > MAX_COMPLETIONS:
        raise invalid(
            f"len(prompts) * n = {count * request.samples} exceeds the per-call limit of {MAX_COMPLETIONS} completions.",
            "n",
            INVALID_PARAMETER,
        )
    if request.samples > 1 and not request.temperature:
        raise invalid(
            f"Invalid request: n = {request.samples} requires temperature > 0.", "temperature", INVALID_PARAMETER
        )
    check_token_alias(request)
    for i, message in enumerate(request.context):
        if message.role == "tool" or (message.role == "assistant" and message.tool_calls):
            raise tool_traffic(i)


def _shared_fields(request: MultilookRequest) -> dict[str, Any]:
    return {name: value for name in _SHARED if (value := getattr(request, name)) is not None}


def context_request(request: MultilookRequest) -> ChatCompletionRequest:
    """The shared context as a chat request of its own (it may be empty): what every prompt follows."""
    return ChatCompletionRequest.model_construct(messages=list(request.context), **_shared_fields(request))


def prompt_message(request: MultilookRequest, index: int) -> UserMessage:
    prompt = request.prompts[index]
    content = prompt if isinstance(prompt, str) else prompt.content
    return UserMessage.model_construct(role="user", content=content, name=None)


def prompt_request(request: MultilookRequest, index: int, *, alone: bool = False) -> ChatCompletionRequest:
    """Prompt ``index`` as chat would be asked it: ``[*context, {"role": "user", "content": prompt}]``
    (``alone``: its user message only, for accounting it after the context)."""
    user = prompt_message(request, index)
    messages = [user] if alone else [*request.context, user]
    return ChatCompletionRequest.model_construct(messages=messages, **_shared_fields(request))


def in_prompt(error: APIError, index: int) -> APIError:
    """``error``, raised for prompt ``index`` asked alone (``messages[0]…``), naming the prompt instead."""
    param = error.param
    if param == "messages" or param == "messages[0]" or param == "messages[0].content":
        error.param = f"prompts[{index}]"
    elif param is not None and param.startswith("messages[0]."):
        error.param = f"prompts[{index}]." + param.removeprefix("messages[0].")
    return error


def in_context(error: APIError) -> APIError:
    """``error``, raised for the context asked alone, naming the context instead of ``messages``."""
    if error.param is not None and error.param.startswith("messages"):
        error.param = "context" + error.param.removeprefix("messages")
    return error


# --- the response, for the OpenAPI document (``perceptron_mock.render.multilook`` renders plain dicts) ---


class MultilookMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None = None  # present only when there is reasoning


class MultilookCompletion(BaseModel):
    index: int
    message: MultilookMessage
    finish_reason: str  # "stop", "length", "interrupted", or what a fixture scripts


class PromptError(BaseModel):
    message: str
    type: str | None
    param: str | None
    code: str | None


class MultilookResult(BaseModel):
    """One prompt's outcome: ``completions`` and ``usage``, or ``error``."""

    prompt_index: int
    completions: list[MultilookCompletion] | None = None
    usage: dict[Literal["completion_tokens"], int] | None = None
    error: PromptError | None = None


class PromptTokensDetails(BaseModel):
    cached_tokens: int
    audio_tokens: int


class MultilookUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class MultilookResponse(BaseModel):
    id: str
    object: Literal["chat.completion.multilook"]
    model: str
    results: list[MultilookResult]
    usage: MultilookUsage
