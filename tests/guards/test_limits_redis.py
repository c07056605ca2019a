"""One budget shared through Redis: by the workers of one server, and by replicas; a real
redis-server (tests/redis_server.py) started for this module."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

import httpx
import pytest
import redis as sync_redis

from perceptron_mock.exchange import Exchange
from perceptron_mock.guards.rate_limit import RateLimiter
from perceptron_mock.main import create_app
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.settings import Settings
from perceptron_mock.storage import open_redis
from perceptron_mock.protocol.faults import parse
from tests.helpers import chat, threaded_mock
from tests.redis_server import ForgetfulHop, redis_server, run_redis
from tests.server import free_port, run_server

# 300 per minute as the service, but refilled over 10 hours: no request refills during a burst, so
# the count of 200s is exact and cannot depend on how fast the machine serves the burst.
BUDGET = ("--rate-limit-per-minute", "300", "--rate-limit-refill-seconds", "36000")


def burst(url: str, key: str, count: int = 400, connections: int = 16) -> list[int]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as http:
        def one(_: int) -> int:
            return http.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"}).status_code

        with ThreadPoolExecutor(connections) as pool:
            return list(pool.map(one, range(count)))


def test_four_workers_sharing_redis_admit_exactly_what_one_worker_admits(redis_url):
    with run_server(*BUDGET, "--rate-limit-storage", redis_url) as one_worker:
        alone = burst(one_worker.url, "burst-one")
    with run_server(*BUDGET, "--workers", "4", "--rate-limit-storage", redis_url) as four_workers:
        shared = burst(four_workers.url, "burst-four")
    assert set(alone) == set(shared) == {200, 429}
    assert shared.count(200) == alone.count(200) == 300


def test_remaining_counts_down_across_workers_and_replicas(redis_url):
    with (
        run_server(*BUDGET, "--workers", "2", "--rate-limit-storage", redis_url) as replica_a,
        run_server(*BUDGET, "--rate-limit-storage", redis_url) as replica_b,
    ):
        seen = []
        for i in range(6):
            url = (replica_a, replica_b)[i % 2].url
            # a new connection each time, so the kernel may hand it to any worker
            response = httpx.post(url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer countdown"})
            seen.append(int(response.headers["x-ratelimit-remaining-requests"]))
        assert seen == [299, 298, 297, 296, 295, 294]


def test_an_unreachable_redis_is_a_503_not_a_hang():
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with threaded_mock(rate_limit_storage=nowhere) as server:
        response = httpx.post(server.url + "/v1/chat/completions", json=chat(), headers={"authorization": "Bearer k"}, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "storage_unavailable"
        assert "x-ratelimit-limit-requests" not in response.headers
        assert httpx.get(server.url + "/health", timeout=30).status_code == 200


def test_redis_and_memory_buckets_agree_and_reset(redis_url):
    async def scenario(redis_url: str | None) -> list[tuple[bool, int]]:
        client = open_redis(redis_url) if redis_url else None  # None: the buckets are in memory
        limiter = RateLimiter(limit=3, period_s=3600, redis=client)
        try:
            await limiter.reset()
            outcomes = []
            for key in ("a", "a", "b", "a", "a"):
                exchange = Exchange()
                try:
                    quota = await limiter.admit(exchange, key)
                    outcomes.append((True, quota.remaining))
                except APIError:
                    outcomes.append((False, exchange.quota.remaining))
            await limiter.reset("a")  # one key's counters...
            outcomes.append((True, (await limiter.admit(Exchange(), "a")).remaining))
            outcomes.append((True, (await limiter.admit(Exchange(), "b")).remaining))
            await limiter.reset()  # ...or all of them
            outcomes.append((True, (await limiter.admit(Exchange(), "b")).remaining))
            return outcomes
        finally:
            if client is not None:
                await client.aclose()

    expected = [(True, 2), (True, 1), (True, 2), (True, 0), (False, 0), (True, 2), (True, 1), (True, 2)]
    assert asyncio.run(scenario(None)) == expected
    assert asyncio.run(scenario(redis_url)) == expected


# --- one client per process, closed on shutdown; one attempt per request when Redis is gone ---------


async def run_lifespan(app) -> list[str]:
    """Start ``app`` up and shut it down as uvicorn does; the messages it answered with."""
    incoming = asyncio.Queue()
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        incoming.put_nowait(message)
    answered: list[str] = []

    async def send(message: dict) -> None:
        answered.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, incoming.get, send)
    return answered


@contextmanager
def redis_clients(url: str) -> Iterator[Callable[[], int]]:
    """``others()``: how many clients the redis-server at ``url`` has, not counting the one that asks."""
    observer = sync_redis.Redis.from_url(url)
    mine = observer.client_id()
    try:
        yield lambda: sum(1 for client in observer.client_list() if int(client["id"]) != mine)
    finally:
        observer.close()


def test_limiter_journal_and_fault_queue_share_one_connection_that_shutdown_closes():
    with run_redis() as url, redis_clients(url) as others:

        async def scenario() -> tuple[int, int]:
            server = create_app(Settings(rate_limit_storage=url, rate_limit_per_minute=10))
            limiter, toolkit = server.limiter, server.toolkit
            await limiter.admit(Exchange(), "key")
            await toolkit.journal.add(
                {"request_id": None, "time": 0.0, "method": "POST", "path": "/v1/chat/completions", "query": "",
                 "headers": [], "body": b"{}", "body_shortened": False, "status": 200, "complete": True,
                 "duration_ms": 1.0, "fault": None}
            )
            await toolkit.faults.store.push(parse("503"), 1, None)
            assert await toolkit.faults.store.take(stream=False, model="m") is not None
            open_while_used = others()
            assert await run_lifespan(server) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
            deadline = time.monotonic() + 10  # the server notices the close a moment later
            while others() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return open_while_used, others()

        assert asyncio.run(scenario()) == (1, 0)


@contextmanager
def fake_redis(on_connection: Callable[[socket.socket], None]) -> Iterator[tuple[str, list[int]]]:
    """A port where something accepts connections and hands each to on_connection; yields its URL and
    the count of connection attempts, each counted before on_connection sees it."""
    listener = socket.create_server(("127.0.0.1", 0))
    attempts = [0]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            attempts[0] += 1
            on_connection(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", attempts
    finally:
        listener.close()


@contextmanager
def dead_redis() -> Iterator[tuple[str, list[int]]]:
    """A port where something accepts connections and closes them at once, as a Redis that is going
    away does; yields its URL and the count of connection attempts, each counted before it fails."""
    with fake_redis(lambda connection: connection.close()) as port:
        yield port


@pytest.mark.parametrize(
    "case, limit, path, expected",
    [
        ("the limiter's check fails: 503, no headers look-up, no journal write", "300", "/v1/chat/completions", 503),
        ("the fault queue fails: answered, no journal write", "0", "/v1/chat/completions", 200),
        ("the headers look-up fails: answered, no journal write", "300", "/v1/nothing-here", 404),
        ("the model list's own limiter fails: 503, no headers look-up", "300", "/v1/models", 503),
    ],
)
def test_a_request_calls_a_gone_redis_once_with_one_retry_at_once(case, limit, path, expected):
    # Two connections: the call, and its one retry on a fresh connection; nothing more in the request.
    with dead_redis() as (url, attempts), threaded_mock(rate_limit_storage=url, rate_limit_per_minute=int(limit)) as server:
        headers = {"authorization": "Bearer k"}
        if path != "/v1/chat/completions":
            response = httpx.get(server.url + path, headers=headers, timeout=30)
        else:
            response = httpx.post(server.url + path, json=chat(), headers=headers, timeout=30)
        assert response.status_code == expected, response.text
        if expected == 503:
            assert response.json()["error"]["code"] == "storage_unavailable"
        assert attempts[0] == 2, case


def test_a_running_server_shares_one_redis_connection_between_limiter_journal_and_faults():
    # (Closing it at shutdown is checked in-process above: a stopped process closes its sockets anyway.)
    with run_redis() as url, redis_clients(url) as others:
        with threaded_mock(rate_limit_storage=url) as server:
            http = httpx.Client(base_url=server.url, headers={"authorization": "Bearer k"}, timeout=10)
            assert http.post("/v1/chat/completions", json=chat(), headers={"X-Mock-Fault": "latency=1"}).status_code == 200
            assert http.get("/_admin/requests").status_code == 200  # the journal, read back from Redis
            open_while_serving = others()
        assert open_while_serving == 1


# --- Redis going away and coming back -------------------------------------------------------------------


def post_chat(server, key: str = "k") -> int:
    return httpx.post(server.url + "/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"}, timeout=30).status_code


def warm_pool(server, connections: int = 4) -> None:
    """Several requests at once, so that the server's pool holds several connections to Redis."""
    with ThreadPoolExecutor(connections) as pool:
        assert set(pool.map(lambda i: post_chat(server, f"warm-{i}"), range(connections * 4))) == {200}


def test_after_redis_restarts_the_next_request_succeeds_and_the_outage_is_logged_once_each_way():
    # A process of its own: what it logged is read from its output.
    with redis_server() as redis, run_server("--rate-limit-storage", redis.url) as server:
        warm_pool(server)
        redis.stop()
        during = [post_chat(server) for _ in range(20)]
        admin = httpx.get(server.url + "/_admin/requests", timeout=30)
        redis.start()  # the same port, empty: the limiter's script is loaded again
        assert post_chat(server) == 200
        log = server.output()
    assert set(during) == {503} and admin.status_code == 503
    assert log.count("Redis storage is unavailable") == 1 and log.count("Redis storage is back after") == 1, log
    assert "Traceback" not in log and log.count("\n") == 2, log


def test_connections_a_replaced_redis_forgot_are_retried_at_once_on_fresh_ones():
    # Pooled sockets that now get a reset (RST), as after a Redis container is replaced on the same
    # address: each call's first attempt fails on one, its retry opens a fresh connection.
    with redis_server() as redis:
        hop = ForgetfulHop(redis.port)
        try:
            with run_server("--rate-limit-storage", hop.url) as server:
                warm_pool(server)
                hop.forget()
                assert [post_chat(server) for _ in range(8)] == [200] * 8
                assert "Redis storage" not in server.output()
        finally:
            hop.close()


@contextmanager
def silent_redis() -> Iterator[tuple[str, list[int]]]:
    """A port where something accepts connections and never answers; its URL and the connection count."""
    held: list[socket.socket] = []
    try:
        with fake_redis(held.append) as port:
            yield port
    finally:
        for connection in held:
            connection.close()


def test_a_redis_that_stops_answering_costs_one_timeout_and_is_not_retried():
    with silent_redis() as (url, attempts), threaded_mock(rate_limit_storage=url) as server:
        assert post_chat(server) == 503  # after the one 2 s timeout (a retry would have been a second)
        assert attempts[0] == 1
