"""Response shapes, for the OpenAPI document and for tests that check answers against it.

The hot path renders plain dicts (``perceptron_mock.render``); these models describe what it renders.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class FunctionCall(BaseModel):
    name: str
    arguments: str  # JSON text


class ToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: FunctionCall


class Message(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None
    tool_calls: list[ToolCall] | SkipJsonSchema[None] = None  # only when the answer calls tools


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class Choice(BaseModel):
    index: int
    message: Message
    logprobs: None = None
    finish_reason: FinishReason


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    """A fragment of a call: the first of each carries ``id``, ``type`` and ``function.name``."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    logprobs: None = None
    finish_reason: FinishReason | None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` event of a stream; ``usage`` rides on the last chunk when asked for."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


_Absent = SkipJsonSchema[None]  # a key that is left out, never sent as null


def _no_null_defaults(schema: dict) -> None:
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None:
            del prop["default"]


class ModelReasoning(BaseModel):
    supported: bool
    always_enabled: bool


class ModelObject(BaseModel):
    """A model: OpenAI's four fields, and with ``?extended=true`` the catalog's fields after them (never null)."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    name: str | _Absent = None
    capabilities: list[str] | _Absent = None
    modalities: list[str] | _Absent = None
    output_formats: list[str] | _Absent = None
    sampling_parameters: list[str] | _Absent = None
    reasoning: ModelReasoning | _Absent = None
    max_context_tokens: Annotated[int, Field(ge=0)] | _Absent = None
    max_output_tokens: Annotated[int, Field(ge=0)] | _Absent = None
    description: str | _Absent = None
    early_access: bool | _Absent = None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelObject]
