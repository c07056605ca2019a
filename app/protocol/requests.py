"""The request body of ``POST /v1/chat/completions`` as pydantic models.

Strict types, ranges from the API reference and tagged unions, so that an error names the exact path;
tags are spelled ``role:…`` and ``part:…`` so that ``validation`` can drop them from locations.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from perceptron_mock.protocol.media_parts import MEDIA_PARTS, CacheBreakpoint, Strict

INT32_MAX = 2**31 - 1


def _tag(field: str, prefix: str, kinds: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A union's discriminator: ``<prefix>:<kind>`` for a value whose ``field`` is one of ``kinds``, None
    (pydantic's custom error) otherwise. Pydantic calls it with a dict when validating and with a model
    instance when serialising (``model_dump_json``)."""

    def tag(value: Any) -> str | None:
        kind = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return f"{prefix}:{kind}" if kind in kinds else None

    return tag


class TextPart(Strict):
    type: Literal["text"]
    text: str
    prompt_cache_breakpoint: CacheBreakpoint | None = None


class ImageURL(Strict):
    url: str
    detail: Literal["auto", "low", "high", "original"] | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL
    prompt_cache_breakpoint: CacheBreakpoint | None = None


class RefusalPart(Strict):
    type: Literal["refusal"]
    refusal: str


_PART_TYPES = ("text", "image_url", *MEDIA_PARTS)
ContentPart = Annotated[
    Union[
        Annotated[TextPart, Tag("part:text")],
        Annotated[ImagePart, Tag("part:image_url")],
        *(Annotated[model, Tag(f"part:{name}")] for name, model in MEDIA_PARTS.items()),
    ],
    Discriminator(
        _tag("type", "part", _PART_TYPES),
        custom_error_type="invalid_part_type",
        custom_error_message="content part type must be one of " + ", ".join(f"'{t}'" for t in _PART_TYPES),
    ),
]
TextOnlyPart = Annotated[TextPart, Tag("part:text")]
AssistantPart = Annotated[
    Union[Annotated[TextPart, Tag("part:text")], Annotated[RefusalPart, Tag("part:refusal")]],
    Discriminator(
        _tag("type", "part", ("text", "refusal")),
        custom_error_type="invalid_part_type",
        custom_error_message="an assistant message's content part type must be 'text' or 'refusal'",
    ),
]


class SystemMessage(Strict):
    """A system message, or OpenAI's ``developer`` message, which is read as one (docs/validation.md)."""

    role: Literal["system", "developer"]
    content: str | Annotated[list[TextOnlyPart], Field(min_length=1, fail_fast=True)]
    name: str | None = None

    @field_validator("role")
    @classmethod
    def _developer_is_system(cls, role: str) -> str:
        return "system"


class UserMessage(Strict):
    role: Literal["user"]
    content: str | Annotated[list[ContentPart], Field(min_length=1, fail_fast=True)]
    name: str | None = None


class AudioRef(Strict):
    id: str


class FunctionCall(Strict):
    arguments: str
    name: str


class ToolCallFunction(Strict):
    name: str
    arguments: str
    parsed_arguments: Any = None  # the openai SDK's stream helpers replay it: accepted and not read


class ToolCall(Strict):
    """A call an earlier answer made, replayed; its id is what the ``tool`` message answering it names.
    ``index`` is what the openai SDK's stream helpers replay: accepted and not read."""

    id: str
    type: Literal["function"]
    function: ToolCallFunction
    index: int | None = None


class AssistantMessage(Strict):
    """An earlier answer, as the openai SDK replays it: ``refusal``, ``audio``, ``function_call`` and the
    response-only ``annotations`` and ``parsed`` (``.parse()``) are accepted and not read."""

    role: Literal["assistant"]
    content: str | Annotated[list[AssistantPart], Field(min_length=1, fail_fast=True)] | None = None
    reasoning_content: str | None = None
    name: str | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1, fail_fast=True)] | None = None
    refusal: str | None = None
    audio: AudioRef | None = None
    function_call: FunctionCall | None = None
    annotations: list[dict[str, Any]] | None = None
    parsed: Any = None


class ToolMessage(Strict):
    """A tool's result, answering one call of the assistant message before it (``protocol.conversation``)."""

    role: Literal["tool"]
    content: str | Annotated[list[TextOnlyPart], Field(min_length=1, fail_fast=True)]
    tool_call_id: str


Message = Annotated[
    Union[
        Annotated[SystemMessage, Tag("role:system")],
        Annotated[SystemMessage, Tag("role:developer")],
        Annotated[UserMessage, Tag("role:user")],
        Annotated[AssistantMessage, Tag("role:assistant")],
        Annotated[ToolMessage, Tag("role:tool")],
    ],
    Discriminator(
        _tag("role", "role", ("system", "developer", "user", "assistant", "tool")),
        custom_error_type="invalid_role",
        custom_error_message="role must be 'system', 'developer', 'user', 'assistant' or 'tool'",
    ),
]


class JSONSchemaFormat(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None
    description: str | None = None


class TextResponseFormat(Strict):
    type: Literal["text"]


class JSONSchemaResponseFormat(Strict):
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


ResponseFormat = Annotated[
    Union[
        Annotated[TextResponseFormat, Tag("format:text")],
        Annotated[JSONSchemaResponseFormat, Tag("format:json_schema")],
    ],
    Discriminator(
        _tag("type", "format", ("text", "json_schema")),
        custom_error_type="invalid_format_type",
        custom_error_message="response_format type must be 'text' or 'json_schema'",
    ),
]


class StreamOptions(Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class VisionConfig(Strict):
    annotation_format: Literal["point", "box", "polygon", "clip"] | None = None
    enable_audio_in_video: bool | None = None
    enable_thinking: bool | None = None


class FunctionSpec(Strict):
    # Any name that is not blank, as the perceptron SDK checks: the service derives the name the model
    # sees from it (``protocol.tool_names``).
    name: Annotated[str, Field(pattern=r"\S")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(Strict):
    type: Literal["function"]
    function: FunctionSpec


class FocusTool(Strict):
    """Perceptron's internal focus tool, which must be the only tool."""

    type: Literal["perceptron.FOCUS"]


Tool = Annotated[
    Union[Annotated[FunctionTool, Tag("tool:function")], Annotated[FocusTool, Tag("tool:perceptron.FOCUS")]],
    Discriminator(
        _tag("type", "tool", ("function", "perceptron.FOCUS")),
        custom_error_type="invalid_tool_type",
        custom_error_message="tool type must be 'function' (or 'perceptron.FOCUS')",
    ),
]


class ChatCompletionRequest(BaseModel):
    """Every field the service reads; fields outside it are kept in ``model_extra`` so that
    ``perceptron_mock.protocol.validation`` can refuse or ignore them as the settings say."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)

    model: str
    # fail_fast: a list of a million bad items gets one error, not a million (about a microsecond each)
    messages: Annotated[list[Message], Field(min_length=1, fail_fast=True)]
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    max_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_k: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    regex: Annotated[str, Field(min_length=1)] | None = None
    response_format: ResponseFormat | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    vision_config: VisionConfig | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    tools: Annotated[list[Tool], Field(fail_fast=True)] | None = None
    tool_choice: Literal["auto", "none"] | None = None
    parallel_tool_calls: bool | None = None

    @property
    def completion_limit(self) -> int | None:
        """``max_completion_tokens``, or its older alias ``max_tokens``."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens
