"""``/openapi.json``: FastAPI's document for the routes it serves, plus the chat-completions path, which
is served ahead of FastAPI (``app.api.completions``) and so is described here from its pydantic models."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from app.protocol.requests import ChatCompletionRequest
from app.protocol.responses import ChatCompletionResponse, ErrorResponse
from app.settings import Settings

_REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (ChatCompletionRequest, ChatCompletionResponse, ErrorResponse):
        schema = TypeAdapter(model).json_schema(ref_template=_REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _completions_path(settings: Settings) -> dict[str, Any]:
    return {
        "post": {
            "summary": "Create a chat completion",
            "operationId": "createChatCompletion",
            "security": [{"bearerAuth": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="ChatCompletionRequest")}}},
            },
            "responses": {
                "200": {
                    "description": "A completion (JSON), or a stream of chunks (SSE) when stream is true.",
                    "content": {
                        "application/json": {"schema": {"$ref": _REF.format(model="ChatCompletionResponse")}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                "400": _error("Invalid request"),
                "401": _error("Missing or refused API key"),
                "404": _error("Unknown model"),
                "413": _error("Request body too large"),
                "429": _error("Rate limit exceeded"),
            },
        }
    }


def install_openapi(api: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = get_openapi(title=api.title, version=api.version, routes=api.routes)
            document.setdefault("paths", {})["/v1/chat/completions"] = _completions_path(settings)
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(_schemas())
            components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
