"""The organization's media upload quota: bytes per rolling window ("20 GB per 48 hours"), spent when an upload is stored.

In this process, or in Redis (one sorted set of uploads, checked and spent by one Lua script) so that
every worker and replica spends the same quota; the mock has one organization, so one quota.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import Any

from perceptron_mock.exchange import Exchange
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.storage import STORAGE_ERRORS, outage, storage_unavailable

REDIS_KEY = "perceptron-mock:uploads"

# KEYS[1] the uploads; ARGV: window (µs), limit (bytes), bytes to spend (0: only read), a unique member.
# Returns {used before, spent: 1 or 0}. Each member is "<bytes>:<random>", scored by its time.
_SPEND = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  used = used + tonumber(string.match(member, '^(%d+):'))
end
local amount = tonumber(ARGV[3])
if amount > 0 and used + amount <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {used, 1}
end
return {used, 0}
"""


def quota_exceeded(limit: int, window_s: float, used: int, wanted: int) -> APIError:
    """What the perceptron SDK reads as ``QuotaExceededError`` (429 with ``insufficient_quota``)."""
    hours = window_s / 3600
    return APIError(
        429,
        f"You exceeded your media upload quota: {limit} bytes per {hours:g} hours for the organization. "
        f"{used} bytes were uploaded in that window and this upload needs {wanted} more.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


class UploadQuota:
    def __init__(self, limit: int, window_s: float, redis: Any = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self._window_us = int(window_s * 1_000_000)
        self._redis = redis
        self._script = redis.register_script(_SPEND) if redis is not None else None
        self._spent: deque[tuple[float, int]] = deque()  # (monotonic time, bytes), oldest first
        self._used = 0

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self.window_s
        while self._spent and self._spent[0][0] <= horizon:
            self._used -= self._spent.popleft()[1]

    async def _call(self, exchange: Exchange, amount: int) -> tuple[int, bool]:
        if self._script is None:
            self._forget_old()
            if 0 < amount and self._used + amount <= self.limit:
                self._spent.append((time.monotonic(), amount))
                self._used += amount
                return self._used - amount, True
            return self._used, False
        try:
            with outage(self._redis).watching("spending the upload quota"):
                used, spent = await self._script(keys=[REDIS_KEY], args=[self._window_us, self.limit, amount, secrets.token_hex(8)])
        except STORAGE_ERRORS:
            exchange.storage_failed = True
            raise storage_unavailable() from None
        return int(used), bool(spent)

    async def check(self, exchange: Exchange, expected: int) -> None:
        """Refuse before the body is read when even ``expected`` bytes (the least the upload can hold) do not fit."""
        used, _ = await self._call(exchange, 0)
        if used + expected > self.limit:
            raise quota_exceeded(self.limit, self.window_s, used, expected)

    async def spend(self, exchange: Exchange, amount: int) -> None:
        """Spend ``amount`` bytes, or refuse (429 ``insufficient_quota``) when they do not fit."""
        used, spent = await self._call(exchange, max(1, amount))
        if not spent:
            raise quota_exceeded(self.limit, self.window_s, used, amount)

    async def reset(self) -> None:
        self._spent.clear()
        self._used = 0
        if self._redis is not None:
            await self._redis.delete(REDIS_KEY)
