"""Response shapes, for the OpenAPI document and for tests that check answers against it.

The hot path renders plain dicts (``perceptron_mock.render``); these models describe what it renders.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Message(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None


class Choice(BaseModel):
    index: int
    message: Message
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


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


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None


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


class ModelReasoning(BaseModel):
    supported: bool
    always_enabled: bool


class ModelObject(BaseModel):
    """A model: OpenAI's four fields, and with ``?extended=true`` the catalog's fields after them."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    name: str | None = None
    capabilities: list[str] | None = None
    modalities: list[str] | None = None
    output_formats: list[str] | None = None
    sampling_parameters: list[str] | None = None
    reasoning: ModelReasoning | None = None
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None
    description: str | None = None
    early_access: bool | None = None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelObject]
