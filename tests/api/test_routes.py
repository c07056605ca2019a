"""Routes other than chat completions and models (tests/api/test_models.py): health, and unknown routes and methods in the envelope;
every response carries a request id."""

from __future__ import annotations

import asyncio
import logging

import httpx
import openai
import pytest

from tests.helpers import chat


def test_health(perceptron_mock):
    response = httpx.get(perceptron_mock.url + "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/v2/things", 404), ("POST", "/v1/completions", 404), ("GET", "/v1/chat/completions", 405), ("DELETE", "/v1/models", 405)])
def test_unknown_routes_and_methods_use_the_envelope(perceptron_mock, method, path, status):
    response = httpx.request(method, perceptron_mock.url + path)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert path in error["message"]


def test_every_response_carries_a_request_id(perceptron_mock, client):
    responses = [
        client.post("/v1/chat/completions", json=chat()),
        client.post("/v1/chat/completions", content=b"{"),
        httpx.post(perceptron_mock.url + "/v1/chat/completions", json=chat()),
        httpx.get(perceptron_mock.url + "/nowhere"),
        client.get("/v1/models"),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(i.startswith("req_") and len(i) == 36 for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(r.headers["x-trace-id"] == r.headers["x-request-id"] for r in responses)
    assert all("server" not in r.headers for r in responses)


def test_unknown_model_is_404_model_not_found(openai_client):
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="isaac-9", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert "isaac-9" in caught.value.message


def _in_process_with_a_route_raising(error: Exception) -> tuple[int, dict]:
    """Status and body of a request to an in-process app's route that raises ``error``."""
    from perceptron_mock.main import create_app
    from perceptron_mock.settings import Settings

    app = create_app(Settings())

    @app.api.get("/raises")
    async def _raises() -> None:
        raise error

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            return await http.get("/raises")

    response = asyncio.run(ask())
    return response.status_code, response.json()


def test_an_unexpected_error_in_a_route_is_a_500_envelope_logged_once(caplog):
    with caplog.at_level(logging.ERROR, logger="perceptron_mock"):
        status, body = _in_process_with_a_route_raising(RuntimeError("boom"))
    assert (status, body["error"]["type"]) == (500, "server_error")
    logged = [record for record in caplog.records if record.exc_info and "boom" in str(record.exc_info[1])]
    assert len(logged) == 1, [record.getMessage() for record in logged]


def test_a_redis_error_in_a_route_is_a_503_storage_unavailable():
    """A Redis failure in any admin call (the journal, the fault queue, the limiter's reset) is the
    documented 503, not a 500."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    status, body = _in_process_with_a_route_raising(RedisConnectionError("Redis is gone"))
    assert (status, body["error"]["code"], body["error"]["type"]) == (503, "storage_unavailable", "service_unavailable_error")
