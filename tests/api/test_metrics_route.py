"""``GET /metrics`` on a real server: what a load test's dashboard reads after real requests, label
values that no client can grow, and the admin API's access rules."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from perceptron_mock.main import create_app
from perceptron_mock.settings import Settings
from tests.helpers import MODEL, chat, post, threaded_mock


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics text, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, **headers: str) -> dict:
    response = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def requests_of(found: dict, **labels: str) -> float:
    return value(found, "perceptron_mock_requests_total", **labels)


def test_requests_are_counted_by_route_model_status_and_fault(perceptron_mock, client):
    before = scrape(perceptron_mock.url)
    assert post(client, chat("Hi")).status_code == 200
    assert post(client, chat("Hi"), **{"x-mock-fault": "503"}).status_code == 503
    assert post(client, chat("Hi", stream=True), **{"x-mock-fault": "sse_error=2"}).status_code == 200
    assert client.get("/v1/models").status_code == 200
    after = scrape(perceptron_mock.url)

    def grew(**labels: str) -> float:
        return requests_of(after, **labels) - requests_of(before, **labels)

    route = "/v1/chat/completions"
    assert grew(route=route, model=MODEL, status="200", fault="none") == 1
    assert grew(route=route, model=MODEL, status="503", fault="status") == 1
    assert grew(route=route, model=MODEL, status="200", fault="sse_error") == 1
    assert grew(route="/v1/models", model="none", status="200", fault="none") == 1
    assert value(after, "perceptron_mock_open_streams") == 0  # every stream ended


def test_stream_timings_are_reported_as_scheduled_and_as_delivered(perceptron_mock, client):
    before = scrape(perceptron_mock.url)
    body = chat("Hi", stream=True, max_completion_tokens=4)
    assert post(client, body, **{"x-mock-pacing": "ttft=40; tps=200"}).status_code == 200
    after = scrape(perceptron_mock.url)

    def grew(name: str) -> float:
        return value(after, name) - value(before, name)

    assert grew("perceptron_mock_first_token_scheduled_seconds_count") == 1
    assert grew("perceptron_mock_first_token_scheduled_seconds_sum") == pytest.approx(0.040)
    assert grew("perceptron_mock_first_token_delivered_seconds_count") == 1
    assert grew("perceptron_mock_first_token_delivered_seconds_sum") >= 0.039  # never before its time
    # 4 tokens: three more token events, then the finish chunk, each 5 ms after the one before.
    assert grew("perceptron_mock_token_gap_scheduled_seconds_count") == 4
    assert grew("perceptron_mock_token_gap_scheduled_seconds_sum") == pytest.approx(0.020)
    assert grew("perceptron_mock_token_gap_delivered_seconds_count") == 4
    assert value(after, "perceptron_mock_token_gap_scheduled_seconds_bucket", le="0.005") - value(
        before, "perceptron_mock_token_gap_scheduled_seconds_bucket", le="0.005"
    ) == 4


def test_unpaced_streams_report_no_timings(perceptron_mock, client):
    before = scrape(perceptron_mock.url)
    assert post(client, chat("Hi", stream=True)).status_code == 200
    after = scrape(perceptron_mock.url)
    name = "perceptron_mock_first_token_scheduled_seconds_count"
    assert value(after, name) == value(before, name)


def test_hostile_model_names_and_paths_all_count_as_other(perceptron_mock, client):
    for n in range(40):
        assert post(client, {**chat("Hi"), "model": f"evil-{n}-\u202e{'x' * n}"}).status_code == 404
        assert client.get(f"/no/such/route/{n}").status_code == 404
    found = scrape(perceptron_mock.url)
    models = {dict(labels)["model"] for name, labels in found if name == "perceptron_mock_requests_total"}
    routes = {dict(labels)["route"] for name, labels in found if name == "perceptron_mock_requests_total"}
    assert models <= {MODEL, *perceptron_mock_served(client), "other", "none"}
    assert requests_of(found, route="/v1/chat/completions", model="other", status="404", fault="none") >= 40
    assert "other" in routes and not any(route.startswith("/no/") for route in routes)


def perceptron_mock_served(client: httpx.Client) -> set[str]:
    return {model["id"] for model in client.get("/v1/models").json()["data"]}


@pytest.mark.perceptron_mock(rate_limit_per_minute=1, rate_limit_refill_seconds=3600)
def test_rate_limit_refusals_are_counted(perceptron_mock, client):
    statuses = [post(client, chat("Hi")).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    found = scrape(perceptron_mock.url)
    assert value(found, "perceptron_mock_rate_limit_refusals_total", route="/v1/chat/completions") == 2


@pytest.mark.perceptron_mock(admin_key="metrics-admin-key")
def test_metrics_need_the_admin_key_once_one_is_set(perceptron_mock):
    refused = httpx.get(perceptron_mock.url + "/metrics", headers={"authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_admin_key"
    assert "perceptron_mock_requests_total" in httpx.get(
        perceptron_mock.url + "/metrics", headers={"authorization": "Bearer metrics-admin-key"}
    ).text


def test_metrics_are_off_beyond_loopback_without_a_key_and_with_no_metrics():
    async def get(app) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            return await http.get("/metrics")

    for settings in (Settings(host="0.0.0.0"), Settings(metrics=False)):
        response = asyncio.run(get(create_app(settings)))
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"


def test_metrics_requests_are_not_journaled(perceptron_mock, admin):
    admin.delete("/requests")
    httpx.get(perceptron_mock.url + "/metrics")
    assert admin.get("/requests").json()["data"] == []


def test_no_metrics_leaves_completions_answering():
    with threaded_mock(metrics=False) as server:
        response = httpx.post(server.url + "/v1/chat/completions", json=chat("Hi"), headers={"authorization": "Bearer k"})
        assert response.status_code == 200 and json.loads(response.content)["object"] == "chat.completion"


def test_multilook_and_files_requests_are_counted_under_their_own_routes_and_model(perceptron_mock, client):
    before = scrape(perceptron_mock.url)
    body = {"model": "perceptron-mk1.5", "context": [{"role": "user", "content": "A red square."}], "prompts": ["What colour?"]}
    assert client.post("/v1/chat/completions/multilook", json=body).status_code == 200
    assert client.get("/v1/files").status_code == 200
    assert client.get("/v1/files/file-nosuchfile").status_code == 404
    assert client.get("/v1/files/file-nosuchfile/content").status_code == 404
    after = scrape(perceptron_mock.url)

    def grew(**labels: str) -> float:
        return requests_of(after, **labels) - requests_of(before, **labels)

    assert grew(route="/v1/chat/completions/multilook", model="perceptron-mk1.5", status="200", fault="none") == 1
    assert grew(route="/v1/files", model="none", status="200", fault="none") == 1
    assert grew(route="/v1/files/{file_id}", model="none", status="404", fault="none") == 1
    assert grew(route="/v1/files/{file_id}/content", model="none", status="404", fault="none") == 1
    assert grew(route="other", model="none", status="200", fault="none") == 0
