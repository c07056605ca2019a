"""Requests per minute per API key, as a bucket that refills continuously (GCRA).

A refilling bucket, not windows, because OpenAI-compatible services behave so (docs: "Limits" gives
the arithmetic); the buckets live in this process or, shared by every worker, in Redis.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from typing import Any, Protocol

from perceptron_mock.asgi import Scope
from perceptron_mock.exchange import Exchange
from perceptron_mock.guards.auth import bearer_token
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.retry import go_duration, retry_headers
from perceptron_mock.storage import STORAGE_ERRORS, outage, storage_unavailable
from perceptron_mock.values import value

log = logging.getLogger("perceptron_mock")

REDIS_PREFIX = "perceptron-mock:ratelimit:"
_MICROS = 1_000_000


class _LastHeader:
    """One ``x-ratelimit-*`` header as the previous answer had it: a value that did not change (a
    bucket that refilled since, a limit) is not formatted again."""

    __slots__ = ("name", "format", "last")

    def __init__(self, name: bytes, format: Any) -> None:
        self.name = name
        self.format = format
        self.last: tuple[Any, tuple[bytes, bytes]] = (None, (name, b""))

    def __call__(self, value: int) -> tuple[bytes, bytes]:
        last = self.last
        if last[0] != value:
            self.last = last = (value, (self.name, self.format(value)))
        return last[1]


_LIMIT = _LastHeader(b"x-ratelimit-limit-requests", lambda n: str(n).encode())
_REMAINING = _LastHeader(b"x-ratelimit-remaining-requests", lambda n: str(n).encode())
_RESET = _LastHeader(b"x-ratelimit-reset-requests", lambda us: go_duration(us / _MICROS).encode())


@value
class Quota:
    """One key's bucket as one request leaves it."""

    limit: int
    remaining: int
    reset_us: int  # until the bucket is full again
    retry_us: int | None = None  # until one more request fits; set only on a refusal
    period_s: float = 60.0

    @property
    def allowed(self) -> bool:
        return self.retry_us is None

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [_LIMIT(self.limit), _REMAINING(self.remaining), _RESET(self.reset_us)]
        if self.retry_us is not None:
            headers += [(name.encode(), value.encode()) for name, value in retry_headers(self.retry_us / 1000)]
        return headers

    def refusal(self) -> APIError:
        per = "per min (RPM)" if self.period_s == 60 else f"per {go_duration(self.period_s)}"
        wait = go_duration((self.retry_us or 0) / _MICROS)
        return APIError(
            429,
            f"Rate limit reached on requests {per}: Limit {self.limit}, Used {self.limit - self.remaining}, "
            f"Requested 1. Please try again in {wait}.",
            type="requests",
            code="rate_limit_exceeded",
        )


class Store(Protocol):
    """Where the buckets live. ``take`` spends one request if it fits; ``look`` only reads."""

    async def take(self, key: str) -> tuple[int, int, int | None]: ...  # remaining, reset_us, retry_us

    async def look(self, key: str) -> tuple[int, int]: ...  # remaining, reset_us

    async def reset(self, key: str | None = None) -> None: ...


# A client sends the same key again and again: its digest is made once. Only short keys, and at most
# this many (then the cache starts again), so that made-up keys cost a hash each as before and no memory.
_DIGESTS: dict[str, bytes] = {}
_DIGESTS_KEPT = 1024
_DIGEST_KEY_CHARS = 256


def key_digest(key: str) -> bytes:
    """What the stores keep of an API key: 16 bytes of its SHA-256. Never the key itself: it is a
    secret, and as long as the client made it (only this process's memory keeps short ones)."""
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = hashlib.sha256(key.encode()).digest()[:16]
        if len(key) <= _DIGEST_KEY_CHARS:
            if len(_DIGESTS) >= _DIGESTS_KEPT:
                _DIGESTS.clear()
            _DIGESTS[key] = digest
    return digest


class MemoryStore:
    """The buckets of this process, at most ``max_buckets``, each under its key's digest. Without an
    ``await`` inside, each update is atomic.

    A bucket whose time has passed is full, which is the same as having none: those are dropped
    first when a new key needs room, and that loses nothing. Only when more than 7/8 of the
    buckets are still refilling are the ones closest to full dropped too (those keys start again
    with a full budget), with a warning. Each pass leaves at least 1/8 of the room free, so a flood
    of new keys costs one pass per ``max_buckets / 8`` of them."""

    MAX_BUCKETS = 10_000

    def __init__(self, interval_us: int, capacity_us: int, max_buckets: int = MAX_BUCKETS) -> None:
        self.interval = interval_us
        self.capacity = capacity_us
        self.max_buckets = max_buckets
        self._tat: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._tat)

    @staticmethod
    def _now() -> int:
        return time.monotonic_ns() // 1000

    async def take(self, key: str) -> tuple[int, int, int | None]:
        now = self._now()
        digest = key_digest(key)
        tat = self._tat.get(digest, now)
        if tat < now:
            tat = now
        new = tat + self.interval
        if new - now > self.capacity:
            return (self.capacity - (tat - now)) // self.interval, tat - now, new - now - self.capacity
        if len(self._tat) >= self.max_buckets and digest not in self._tat:
            self._make_room(now)
        self._tat[digest] = new
        return (self.capacity - (new - now)) // self.interval, new - now, None

    def _make_room(self, now: int) -> None:
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        keep = self.max_buckets - max(1, self.max_buckets // 8)
        if len(self._tat) > keep:
            dropped = len(self._tat) - keep
            for digest, _ in heapq.nsmallest(dropped, self._tat.items(), key=lambda item: item[1]):
                del self._tat[digest]
            log.warning(
                "rate limiter: all %d in-memory buckets were in use and refilling; dropped the %d closest to "
                "full, whose keys start again with a full budget (so many keys at once is likely a misuse)",
                self.max_buckets,
                dropped,
            )

    async def look(self, key: str) -> tuple[int, int]:
        now = self._now()
        tat = max(self._tat.get(key_digest(key), now), now)
        return (self.capacity - (tat - now)) // self.interval, tat - now

    async def reset(self, key: str | None = None) -> None:
        if key is None:
            self._tat.clear()
        else:
            self._tat.pop(key_digest(key), None)


# KEYS[1] the bucket; ARGV: interval (µs), capacity (µs), "1" to take a request or "0" to look.
# Returns {remaining, reset_us, retry_us or -1}. Times are whole microseconds from Redis's own clock;
# they stay exact in Lua's doubles (below 2^53), and are stored with %.0f so no digit is lost.
_GCRA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local retry = -1
if ARGV[3] == '1' then
  local new = tat + interval
  if new - now > capacity then
    retry = new - now - capacity
  else
    tat = new
    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  end
end
return {math.floor((capacity - (tat - now)) / interval), tat - now, retry}
"""


class RedisStore:
    """The buckets in Redis, shared by every worker and replica pointed at the same server."""

    def __init__(self, client: Any, interval_us: int, capacity_us: int, prefix: str) -> None:
        self.interval = interval_us
        self.capacity = capacity_us
        self.prefix = prefix  # each limiter its own: resetting one never touches another's buckets
        self._redis = client  # the process's (perceptron_mock.storage.open_redis), shared with the journal and the fault queue
        self._script = self._redis.register_script(_GCRA)
        self._outage = outage(client)

    def _key(self, key: str) -> str:
        # API keys are secrets: Redis only ever sees a digest of them.
        return self.prefix + key_digest(key).hex()

    async def take(self, key: str) -> tuple[int, int, int | None]:
        with self._outage.watching("checking a rate limit"):
            remaining, reset_us, retry_us = await self._script(keys=[self._key(key)], args=[self.interval, self.capacity, 1])
        return int(remaining), int(reset_us), None if retry_us < 0 else int(retry_us)

    async def look(self, key: str) -> tuple[int, int]:
        with self._outage.watching("reading a rate limit for its headers"):
            remaining, reset_us, _ = await self._script(keys=[self._key(key)], args=[self.interval, self.capacity, 0])
        return int(remaining), int(reset_us)

    async def reset(self, key: str | None = None) -> None:
        if key is not None:
            await self._redis.delete(self._key(key))
            return
        batch: list[bytes] = []
        async for name in self._redis.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                await self._redis.delete(*batch)
                batch.clear()
        if batch:
            await self._redis.delete(*batch)


def caller_key(scope: Scope) -> str | None:
    """The bearer key a request carries, unchecked (auth decides whether it is accepted)."""
    token = bearer_token(scope)
    return None if token is None else token.decode("latin-1")


class RateLimiter:
    """The rate-limit guard: ``admit`` spends one request of the caller's bucket (or refuses with
    429), ``headers`` gives every answer the caller's ``x-ratelimit-*`` headers, ``reset`` empties
    the counters (all of them, or one key's). The buckets are in Redis when given the process's
    client (``redis``; whoever opened it closes it), else in this process."""

    def __init__(self, limit: int, period_s: float, redis: Any = None, *, name: str = "chat") -> None:
        self.limit = limit
        self.name = name  # what the buckets count: "chat" (completions) or "models" (the model list)
        self.period_s = period_s
        # Whole microseconds: the interval is rounded once, and the capacity is exactly limit intervals.
        interval = max(1, round(period_s * _MICROS / limit))
        capacity = interval * limit
        prefix = f"{REDIS_PREFIX}{name}:"
        self.store: Store = MemoryStore(interval, capacity) if redis is None else RedisStore(redis, interval, capacity, prefix)
        self._full = Quota(limit, limit, 0, period_s=period_s)
        # A bucket that refills between requests leaves the same quota each time: the last one admitted
        # (a frozen value) is given again, and its headers are made once.
        self._last = self._full
        self._last_headers: tuple[Quota | None, tuple[tuple[bytes, bytes], ...]] = (None, ())

    def _quota(self, remaining: int, reset_us: int, retry_us: int | None = None) -> Quota:
        return Quota(self.limit, max(0, remaining), reset_us, retry_us, self.period_s)

    async def admit(self, exchange: Exchange, key: str) -> Quota:
        try:
            remaining, reset_us, retry_us = await self.store.take(key)
        except STORAGE_ERRORS:  # logged once per outage (perceptron_mock.storage.Outage)
            exchange.storage_failed = True
            raise storage_unavailable() from None
        last = self._last
        if retry_us is None and remaining == last.remaining and reset_us == last.reset_us:
            quota = last
        else:
            quota = self._quota(remaining, reset_us, retry_us)
            if retry_us is None:
                self._last = quota
        exchange.quota = quota
        if not quota.allowed:
            raise quota.refusal()
        return quota

    async def quota(self, scope: Scope, exchange: Exchange) -> Quota | None:
        """The quota to report on this answer: the one ``admit`` left, else the caller's bucket as it
        stands (a request that was not counted spends nothing); None if the storage cannot say, or has
        already failed once in this request (its one timeout is all a request waits for Redis)."""
        quota = exchange.quota
        if quota is not None:
            return quota
        key = caller_key(scope)
        if key is None:
            return self._full
        if exchange.storage_failed:
            return None
        try:
            return self._quota(*await self.store.look(key))
        except STORAGE_ERRORS:  # answered without x-ratelimit headers; logged once per outage
            exchange.storage_failed = True
            return None

    async def headers(self, scope: Scope, exchange: Exchange) -> list[tuple[bytes, bytes]]:
        quota = exchange.quota  # as quota() would give it, without another coroutine
        if quota is None:
            quota = await self.quota(scope, exchange)
        if quota is None:
            return []
        last = self._last_headers
        if last[0] is quota:
            return [*last[1]]
        headers = quota.headers()
        self._last_headers = (quota, tuple(headers))
        return headers

    async def reset(self, key: str | None = None) -> None:
        """Forget every bucket (or ``key``'s): the next request starts full. For the admin API."""
        await self.store.reset(key)


def build_rate_limiter(limit: int, period_s: float, redis: Any = None, *, name: str = "chat") -> RateLimiter | None:
    """The limiter the settings ask for, in Redis when given the process's client; None when the
    limit is off (0)."""
    if limit <= 0:
        return None
    return RateLimiter(limit, period_s, redis, name=name)
