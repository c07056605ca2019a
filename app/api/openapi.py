"""``/openapi.json``: FastAPI's document for the routes it serves, plus the chat-completions path, which
is served ahead of FastAPI (``perceptron_mock.api.completions``) and so is described here from its pydantic models."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.multilook import MultilookRequest, MultilookResponse
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.protocol.responses import ChatCompletionChunk, ChatCompletionResponse, ErrorResponse
from perceptron_mock.settings import Settings

_REF = "#/components/schemas/{model}"


def _schemas(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (ChatCompletionRequest, ChatCompletionResponse, ChatCompletionChunk, ErrorResponse):
        schema = model.model_json_schema(ref_template=_REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    request = out["ChatCompletionRequest"]
    # The model keeps unknown fields so that validation can name them; the API refuses them (400
    # unknown_parameter) unless the mock runs with --unknown-fields ignore.
    request["additionalProperties"] = settings.unknown_fields == "ignore"
    request["description"] = "A chat completion request, in the OpenAI wire format."
    request["properties"]["model"]["enum"] = catalog.ids  # others get 404 model_not_found
    # The one rule between fields that JSON Schema says plainly (the service answers 400 otherwise).
    request["if"] = {"required": ["stream_options"], "properties": {"stream_options": {"type": "object"}}}
    request["then"] = {"required": ["stream"], "properties": {"stream": {"const": True}}}
    for model in (MultilookRequest, MultilookResponse):
        schema = model.model_json_schema(ref_template=_REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    out["MultilookRequest"]["additionalProperties"] = settings.unknown_fields == "ignore"
    out["MultilookRequest"]["properties"]["model"]["enum"] = [e.id for e in catalog.entries.values() if e.multilook]
    return out


def _errors_not_422(document: dict[str, Any]) -> None:
    """FastAPI documents its own 422 for a bad path or query; this app answers those with a 400 in the
    OpenAI error envelope (``perceptron_mock.main``), so the document says that instead."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _error("Invalid request"))
    schemas = document.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)


def _json_text(model: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": _REF.format(model=model)}}


# One event of a stream (OpenAPI 3.1 has no itemSchema; tools such as schemathesis read ``schema`` as
# the per-event schema): data-only events, each a chunk, a mid-stream error, or the closing [DONE].
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"const": "message"},
        "data": {"anyOf": [_json_text("ChatCompletionChunk"), _json_text("ErrorResponse"), {"const": "[DONE]"}]},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _json_post(summary: str, operation_id: str, request: str, ok: dict[str, Any], invalid: str) -> dict[str, Any]:
    """A POST route that takes a JSON body of schema ``request`` and answers with the chat routes' errors."""
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "security": [{"bearerAuth": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=request)}}},
            },
            "responses": {
                "200": ok,
                "400": _error(invalid),
                "401": _error("Missing or refused API key"),
                "404": _error("Unknown model"),
                "413": _error("Request body too large"),
                "429": _error("Rate limit exceeded"),
                "431": _error("Request header fields too large"),
                "500": _error("Server error"),
                "503": _error("Overloaded, or the rate limiter's storage is unavailable"),
            },
        }
    }


def _completions_path() -> dict[str, Any]:
    ok = {
        "description": "A completion (JSON), or a stream of chunks (SSE) when stream is true.",
        "content": {
            "application/json": {"schema": {"$ref": _REF.format(model="ChatCompletionResponse")}},
            "text/event-stream": {"schema": _SSE_EVENT},
        },
    }
    return _json_post("Create a chat completion", "createChatCompletion", "ChatCompletionRequest", ok, "Invalid request")


def _multilook_path() -> dict[str, Any]:
    ok = {
        "description": "One result per prompt: its completions, or its error.",
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="MultilookResponse")}}},
    }
    return _json_post(
        "Answer several prompts over one shared context (perceptron SDK: multilook)",
        "createMultilook",
        "MultilookRequest",
        ok,
        "Invalid request, or every prompt failed (the first prompt's error)",
    )


def install_openapi(api: FastAPI, settings: Settings, catalog: Catalog) -> None:
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = get_openapi(title=api.title, version=api.version, routes=api.routes)
            document.setdefault("paths", {})["/v1/chat/completions"] = _completions_path()
            document["paths"]["/v1/chat/completions/multilook"] = _multilook_path()
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(_schemas(settings, catalog))
            _errors_not_422(document)
            for parameter in document["paths"].get("/v1/models/{model_id}", {}).get("get", {}).get("parameters", []):
                if parameter["name"] == "model_id":
                    parameter["schema"]["examples"] = catalog.ids
            components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
