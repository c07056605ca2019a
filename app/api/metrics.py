"""``GET /metrics``: the Prometheus text of ``perceptron_mock.toolkit.metrics``, under the admin API's access
rules (a scraper sends the admin key as its bearer token; docs: "Metrics")."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from perceptron_mock.protocol.errors import route_not_found
from perceptron_mock.toolkit.metrics import CONTENT_TYPE


def _guard(request: Request) -> None:
    request.app.state.admin_access.check(request)  # as /_admin: open on loopback, else the admin key, else off


router = APIRouter(include_in_schema=False, dependencies=[Depends(_guard)])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    metrics = request.app.state.metrics
    if metrics is None:  # --no-metrics: as if the route did not exist
        raise route_not_found(request.method, request.url.path)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
