"""With Redis storage, two mock processes (two replicas, or two workers) share one journal and one
fault queue: a throwaway redis-server (tests/redis_server.py) per module."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import chat
from tests.redis_server import run_redis
from tests.server import free_port, run_server


@pytest.fixture(scope="module")
def redis_url():
    with run_redis() as url:
        yield url


@pytest.fixture(scope="module")
def replicas(redis_url):
    env = {"PERCEPTRON_MOCK_RATE_LIMIT_STORAGE": redis_url}
    with run_server(env=env) as first, run_server(env=env) as second:
        yield first, second


@pytest.fixture
def admin(replicas):
    first, _ = replicas
    with httpx.Client(base_url=first.url + "/_admin", timeout=10) as http:
        http.post("/reset").raise_for_status()
        yield http


def ask(server, text: str = "Hello") -> httpx.Response:
    return httpx.post(server.base_url + "/chat/completions", json=chat(text), headers={"authorization": "Bearer k"}, timeout=10)


def test_one_journal_for_both_replicas(replicas, admin):
    first, second = replicas
    ask(first, "to the first")
    ask(second, "to the second")
    ask(first, "to the first again")
    for server in replicas:
        entries = httpx.get(server.url + "/_admin/requests").json()["data"]
        assert [e["body"]["messages"][0]["content"] for e in entries] == ["to the first", "to the second", "to the first again"]
        assert all(e["status"] == 200 and e["request_id"].startswith("req_") for e in entries)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_a_fault_queued_on_one_replica_is_counted_down_by_both(replicas, admin):
    first, second = replicas
    created = admin.post("/faults", json={"fault": "503", "count": 2}).json()
    assert httpx.get(second.url + "/_admin/faults").json()["data"] == [created]
    assert [ask(second).status_code, ask(first).status_code, ask(second).status_code] == [503, 503, 200]
    assert admin.get("/faults").json()["data"] == []
    assert [e["fault"] for e in admin.get("/requests").json()["data"]] == ["503", "503", None]


def test_queued_faults_keep_their_match_rules_in_redis(replicas, admin):
    first, second = replicas
    admin.post("/faults", json={"fault": "sse_error=1", "count": 1})
    admin.post("/faults", json={"fault": "429", "count": 1, "model": "isaac-0.1"})
    assert ask(second).status_code == 200  # neither takes a plain request for another model
    response = httpx.post(
        second.base_url + "/chat/completions", json=chat(model="isaac-0.1"), headers={"authorization": "Bearer k"}
    )
    assert response.status_code == 429
    assert [q["fault"] for q in admin.get("/faults").json()["data"]] == ["sse_error=1"]


def test_the_shared_ring_keeps_the_newest(redis_url):
    env = {"PERCEPTRON_MOCK_RATE_LIMIT_STORAGE": redis_url}
    with run_server("--journal-size", "2", env=env) as small:
        httpx.post(small.url + "/_admin/reset")
        for text in ("one", "two", "three"):
            ask(small, text)
        entries = httpx.get(small.url + "/_admin/requests").json()["data"]
    assert [e["body"]["messages"][0]["content"] for e in entries] == ["two", "three"]


def test_without_redis_requests_are_still_answered_and_admin_says_why():
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {"PERCEPTRON_MOCK_RATE_LIMIT_STORAGE": dead, "PERCEPTRON_MOCK_RATE_LIMIT_PER_MINUTE": "0"}
    with run_server(env=env) as lonely:
        assert ask(lonely).status_code == 200
        response = httpx.get(lonely.url + "/_admin/requests")
    assert response.status_code == 503 and response.json()["error"]["code"] == "storage_unavailable"
