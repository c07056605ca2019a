"""``GET /v1/models`` (OpenAI list shape), ``GET /v1/models/{id}`` and ``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from perceptron_mock.protocol.errors import model_not_found
from perceptron_mock.protocol.responses import ErrorResponse


def require_key(request: Request) -> str:
    """The same bearer-key rule as chat completions: the real service lists models only to callers it knows."""
    return request.app.state.auth.check(request.scope)


_AUTH = {
    "dependencies": [Depends(require_key)],
    "openapi_extra": {"security": [{"bearerAuth": []}]},
}
_UNAUTHORIZED = {401: {"model": ErrorResponse, "description": "Missing or refused API key"}}

router = APIRouter()

# A fixed creation time keeps /v1/models byte-stable between runs, like the real service's list.
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "perceptron"}


@router.get("/v1/models", summary="List the models the mock serves", responses=_UNAUTHORIZED, **_AUTH)
async def list_models(request: Request) -> dict:
    return {"object": "list", "data": [_model(m) for m in request.app.state.settings.models]}


@router.get(
    "/v1/models/{model_id}",
    summary="One model",
    responses={**_UNAUTHORIZED, 404: {"model": ErrorResponse, "description": "Unknown model"}},
    **_AUTH,
)
async def get_model(model_id: str, request: Request) -> dict:
    if model_id not in request.app.state.settings.models:
        raise model_not_found(model_id)
    return _model(model_id)


@router.get("/health", summary="Liveness check", include_in_schema=False)
async def health() -> dict:
    return {"status": "ok"}
