"""The rate limit in one process: a continuously refilling bucket per API key, with headers on every
answer and a 429 that both SDKs understand."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import tracemalloc

import httpx
import openai
import perceptron
import pytest

from perceptron_mock.guards.rate_limit import MemoryStore
from tests.helpers import MODEL, chat
from tests.server import declared_body

# A refill so slow (one request per 720 s) that nothing refills during a test: counts are exact.
SLOW = pytest.mark.perceptron_mock(rate_limit_per_minute=5, rate_limit_refill_seconds=3600)


def post(http: httpx.Client, key: str = "key-a", body: dict | None = None) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body or chat(), headers={"authorization": f"Bearer {key}"})


def ratelimit(response: httpx.Response) -> tuple[int, int, str]:
    h = response.headers
    return int(h["x-ratelimit-limit-requests"]), int(h["x-ratelimit-remaining-requests"]), h["x-ratelimit-reset-requests"]


@pytest.fixture
def http(perceptron_mock):
    with httpx.Client(base_url=perceptron_mock.url, timeout=30) as client:
        yield client


@SLOW
def test_a_burst_gets_the_bucket_then_429_with_the_envelope(http):
    answers = [post(http, "burst") for _ in range(8)]
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
    # remaining counts down; reset is the time until the bucket is full again (720 s per request spent)
    assert [ratelimit(r)[1] for r in answers[:5]] == [4, 3, 2, 1, 0]
    assert [ratelimit(r)[0] for r in answers] == [5] * 8
    assert ratelimit(answers[0])[2].startswith(("11m59.", "12m0s"))
    assert ratelimit(answers[4])[2].startswith(("59m59.", "1h0m0s"))
    refused = answers[5]
    assert refused.json() == {
        "error": {
            "message": refused.json()["error"]["message"],
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert "Limit 5, Used 5, Requested 1" in refused.json()["error"]["message"]
    # one more request fits when one interval has refilled: 720 s, minus the time since the last 200
    retry_ms = int(refused.headers["retry-after-ms"])
    assert 700_000 < retry_ms <= 720_000
    assert int(refused.headers["retry-after"]) == -(-retry_ms // 1000)
    assert ratelimit(refused)[1] == 0


@SLOW
def test_keys_have_separate_buckets(http):
    for _ in range(5):
        post(http, "greedy")
    assert post(http, "greedy").status_code == 429
    fresh = post(http, "patient")
    assert fresh.status_code == 200 and ratelimit(fresh)[1] == 4


@SLOW
def test_every_answer_carries_the_headers(http):
    post(http, "everywhere")  # spend one: remaining 4
    key = {"authorization": "Bearer everywhere"}
    bad_request = http.post("/v1/chat/completions", json={"model": MODEL}, headers=key)  # counted: it was a request
    assert bad_request.status_code == 400 and ratelimit(bad_request)[1] == 3
    not_found = http.get("/v1/nothing-here", headers=key)
    models = http.get("/v1/models", headers=key)
    too_large = http.post("/v1/chat/completions", content=b"x" * (21 * 1024 * 1024), headers=key)
    wrong_method = http.get("/v1/chat/completions", headers=key)
    for answer in (not_found, too_large, wrong_method):
        # not counted (never reached the endpoint), but reported: the caller's bucket as it stands
        assert ratelimit(answer)[:2] == (5, 3), answer.status_code
    assert ratelimit(models)[:2] == (30, 29)  # the model list counts in a bucket of its own
    assert too_large.status_code == 413
    anonymous = http.post("/v1/chat/completions", json=chat())
    assert anonymous.status_code == 401 and ratelimit(anonymous) == (5, 5, "0s")


@SLOW
def test_a_429_does_not_read_the_body(perceptron_mock):
    with httpx.Client(base_url=perceptron_mock.url, timeout=30) as http:
        for _ in range(5):
            post(http, "no-upload")
    # Declare a large body but send none of it: the refusal comes back anyway.
    with declared_body(perceptron_mock.url, 1_000_000, authorization="Bearer no-upload") as sock:
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 429")


@SLOW
def test_perceptron_sdk_reads_retry_after_into_its_error(perceptron_mock):
    client = perceptron.Client(base_url=perceptron_mock.base_url, api_key="sdk-key")
    for _ in range(5):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(perceptron.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 429
    assert 700 < caught.value.retry_after <= 720


@SLOW
def test_openai_sdk_raises_rate_limit_error_without_retries(perceptron_mock):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="openai-key", max_retries=0)
    for _ in range(5):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.code == "rate_limit_exceeded" and caught.value.type == "requests"


# 1 request per 2 s: the openai SDK's own backoff (0.375-0.5 s before its first retry) would be
# refused again, so a single retry succeeds only if it waited for retry-after-ms as told.
@pytest.mark.perceptron_mock(rate_limit_per_minute=1, rate_limit_refill_seconds=2)
def test_the_bucket_refills_continuously_and_retry_after_tells_when(perceptron_mock):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="refill", max_retries=1)
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    second = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "b"}])
    assert second.http_response.status_code == 200
    assert second.http_request.headers["x-stainless-retry-count"] == "1"  # it was refused once, then waited

    # The same by hand: wait exactly what retry-after-ms says, and the next request fits.
    with httpx.Client(base_url=perceptron_mock.url, timeout=30) as http:
        post(http, "by-hand")
        refused = post(http, "by-hand")
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after-ms"]) / 1000 + 0.02)
        assert post(http, "by-hand").status_code == 200


@pytest.mark.perceptron_mock(rate_limit_per_minute=0)
def test_limit_zero_turns_the_limiter_off(http):
    answers = [post(http, "unlimited") for _ in range(3)]
    assert all(r.status_code == 200 for r in answers)
    assert all("x-ratelimit-limit-requests" not in r.headers for r in answers)


# --- the in-memory buckets: bounded however many keys clients make up ------------------------------------


def take_all(store: MemoryStore, keys) -> list[int]:
    async def run() -> list[int]:
        return [(await store.take(key))[0] for key in keys]

    return asyncio.run(run())


def test_many_distinct_keys_keep_the_bucket_count_bounded(caplog):
    store = MemoryStore(interval_us=720_000_000, capacity_us=5 * 720_000_000, max_buckets=64)  # nothing refills
    with caplog.at_level(logging.WARNING, logger="perceptron_mock"):
        take_all(store, (f"key-{i}" for i in range(1000)))
    assert len(store) <= 64
    assert "dropped the 8 closest to full" in caplog.text  # the last resort says so


def test_full_buckets_are_dropped_first_and_without_a_warning(caplog):
    store = MemoryStore(interval_us=1, capacity_us=5, max_buckets=64)  # full again a microsecond later
    take_all(store, (f"old-{i}" for i in range(64)))
    time.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="perceptron_mock"):
        take_all(store, (f"new-{i}" for i in range(64)))
    assert len(store) == 64 and caplog.text == ""


def test_a_bucket_being_spent_survives_a_flood_of_new_keys():
    store = MemoryStore(interval_us=720_000_000, capacity_us=5 * 720_000_000, max_buckets=64)
    assert take_all(store, ["steady"] * 3) == [4, 3, 2]
    take_all(store, (f"flood-{i}" for i in range(1000)))  # each spends one: all closer to full than "steady"
    assert take_all(store, ["steady"]) == [1]


def test_the_buckets_keep_a_digest_of_each_key_not_the_key():
    store = MemoryStore(interval_us=720_000_000, capacity_us=5 * 720_000_000)
    keys = [f"{i:06d}" * 2_000 for i in range(200)]  # 12 KB keys, 2.4 MB in all
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        take_all(store, keys)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(store) == 200
    assert retained < 200 * 400, f"{retained} bytes kept for 200 buckets"


@pytest.mark.perceptron_mock(models_rate_limit_per_minute=3, rate_limit_per_minute=5, rate_limit_refill_seconds=3600)
def test_the_model_list_has_a_budget_of_its_own(perceptron_mock):
    client = perceptron_mock.perceptron_client()
    for _ in range(3):
        assert client.models.list()
    with pytest.raises(perceptron.errors.RateLimitError) as caught:
        client.models.retrieve(MODEL)
    error = caught.value  # the SDK's own code is "rate_limit"; the server's is in details
    assert error.status_code == 429 and error.details["code"] == "rate_limit_exceeded" and "Limit 3" in str(error)
    # Chat completions still have their whole bucket: listing models spent none of it.
    chat_client = perceptron_mock.openai_client(max_retries=0)
    raw = chat_client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert raw.headers["x-ratelimit-remaining-requests"] == "4"
    perceptron_mock.reset()
    assert client.models.list()  # the reset refilled the model list's bucket too


def test_the_digests_the_limiter_remembers_are_of_short_keys_and_at_most_1024():
    from perceptron_mock.guards import rate_limit

    store = MemoryStore(interval_us=1, capacity_us=5, max_buckets=64)
    take_all(store, [f"made-up-{i}" for i in range(3000)] + ["x" * 257])
    assert len(rate_limit._DIGESTS) <= 1024 and "x" * 257 not in rate_limit._DIGESTS
    steady = MemoryStore(interval_us=720_000_000, capacity_us=5 * 720_000_000)  # nothing refills
    assert take_all(steady, ["made-up-2999"] * 3) == [4, 3, 2]  # a remembered key's digest finds its bucket
