"""``GET /v1/models`` and ``GET /v1/models/{id}`` (plain or ``?extended=true``) from the catalog, and ``GET /health``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from perceptron_mock.exchange import exchange_of
from perceptron_mock.protocol.catalog import Catalog, ModelEntry
from perceptron_mock.protocol.errors import model_not_found
from perceptron_mock.protocol.responses import ErrorResponse, ModelList, ModelObject


async def require_key(request: Request) -> str:
    """The same bearer-key rule as chat completions (the real service lists models only to callers it
    knows), then the model list's own rate limit: the SDK documents 30 requests a minute."""
    key = request.app.state.auth.check(request.scope)
    limiter = request.app.state.models_limiter
    if limiter is not None:
        await limiter.admit(exchange_of(request.scope), key)
    return key


_AUTH = {
    "dependencies": [Depends(require_key)],
    "openapi_extra": {"security": [{"bearerAuth": []}]},
}
_UNAUTHORIZED = {
    401: {"model": ErrorResponse, "description": "Missing or refused API key"},
    429: {"model": ErrorResponse, "description": "Rate limit of the model list exceeded"},
}

# Exactly the two words: the perceptron SDK sends "true", and a typo must not quietly mean "plain".
Extended = Query(
    "false",
    description="true: every entry carries the catalog's fields (name, capabilities, limits...) after OpenAI's four.",
)

router = APIRouter()


def _entry(model: ModelEntry, extended: str) -> dict:
    return model.extended() if extended == "true" else model.plain()


@router.get(
    "/v1/models",
    summary="List the models the mock serves",
    response_model=None,
    responses={200: {"model": ModelList, "description": "The served models"}, **_UNAUTHORIZED},
    **_AUTH,
)
async def list_models(request: Request, extended: Literal["true", "false"] = Extended) -> dict:
    catalog: Catalog = request.app.state.catalog
    return {"object": "list", "data": [_entry(model, extended) for model in catalog.entries.values()]}


# A path converter: the SDK percent-encodes an id ("org/model" is sent as org%2Fmodel), which arrives
# decoded, slash included, and must still be answered as an unknown model, not an unknown route.
@router.get(
    "/v1/models/{model_id:path}",
    summary="One model",
    response_model=None,
    responses={
        200: {"model": ModelObject, "description": "The model"},
        **_UNAUTHORIZED,
        404: {"model": ErrorResponse, "description": "Unknown model"},
    },
    **_AUTH,
)
async def get_model(model_id: str, request: Request, extended: Literal["true", "false"] = Extended) -> dict:
    model = request.app.state.catalog.get(model_id)
    if model is None:
        raise model_not_found(model_id)
    return _entry(model, extended)


@router.get("/health", summary="Liveness check", include_in_schema=False)
async def health() -> dict:
    return {"status": "ok"}
