"""With Redis storage, two mock servers (two replicas, or two workers: each its own app and Redis client)
share one journal and one fault queue: a throwaway redis-server (tests/redis_server.py) per module."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import chat, threaded_mock
from tests.server import free_port


@pytest.fixture(scope="module")
def replicas(redis_url):
    with threaded_mock(rate_limit_storage=redis_url) as first, threaded_mock(rate_limit_storage=redis_url) as second:
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
    with threaded_mock(journal_size=2, rate_limit_storage=redis_url) as small:
        httpx.post(small.url + "/_admin/reset")
        for text in ("one", "two", "three"):
            ask(small, text)
        entries = httpx.get(small.url + "/_admin/requests").json()["data"]
    assert [e["body"]["messages"][0]["content"] for e in entries] == ["two", "three"]


ADMIN_CALLS_ON_REDIS = [
    ("GET", "/_admin/requests", None),
    ("DELETE", "/_admin/requests", None),
    ("POST", "/_admin/faults", {"fault": "503", "count": 1}),
    ("GET", "/_admin/faults", None),
    ("DELETE", "/_admin/faults", None),
    ("POST", "/_admin/reset", None),
]


def assert_storage_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.method, response.request.url.path, response.text)
    assert response.json()["error"] == {
        "message": "The mock's Redis storage is unavailable; the request was not processed. Please try again.",
        "type": "service_unavailable_error",
        "param": None,
        "code": "storage_unavailable",
    }


@pytest.mark.parametrize("limit", ["0", "300"])
def test_without_redis_requests_are_still_answered_and_every_admin_call_on_it_says_why(limit):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with threaded_mock(rate_limit_storage=dead, rate_limit_per_minute=int(limit)) as lonely:
        if limit == "0":  # (with a limit, the limiter's own check answers 503: tests/guards/test_limits_redis.py)
            assert ask(lonely).status_code == 200
        for method, path, body in ADMIN_CALLS_ON_REDIS:
            assert_storage_unavailable(httpx.request(method, lonely.url + path, json=body, timeout=30))


def test_a_reset_that_fails_in_the_rate_limiter_says_storage_unavailable(redis_url):
    # A Redis user that may do everything but SCAN: the journal and the fault queue clear, then the
    # limiter's reset (which scans for the buckets) is refused. That is the reset's last step, which
    # once answered 500 server_error where every other storage failure answers 503.
    import redis as sync_redis

    observer = sync_redis.Redis.from_url(redis_url)
    try:
        observer.acl_setuser("no-scan", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                             commands=["+@all", "-scan"])
    finally:
        observer.close()
    restricted = redis_url.replace("redis://", "redis://no-scan:secret@")
    with threaded_mock(rate_limit_storage=restricted) as server:
        assert ask(server).status_code == 200  # the limiter's check, the fault queue and the journal work
        assert_storage_unavailable(httpx.post(server.url + "/_admin/reset", timeout=30))


def test_the_answer_and_images_of_an_entry_survive_redis_for_every_replica(replicas, admin):
    from tests.helpers import data_url, image_bytes

    first, second = replicas
    image = image_bytes()
    httpx.post(
        first.base_url + "/chat/completions",
        json=chat("Hello", images=[data_url(image)], stream=True),
        headers={"authorization": "Bearer k"},
        timeout=10,
    )
    [entry] = httpx.get(second.url + "/_admin/requests").json()["data"]
    assert entry["answer"]["content"] and entry["answer"]["events"][-1]["data"] == "[DONE]"
    assert len(entry["images"]) == 1
    # The image is kept by the replica that served the request; the other has none of its own.
    assert httpx.get(f"{first.url}/_admin/ui/images/{entry['images'][0]}").content == image
    assert httpx.get(f"{second.url}/_admin/ui/images/{entry['images'][0]}").status_code == 404
