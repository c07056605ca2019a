"""Where the mock keeps what its processes share: this process's memory, or Redis.

One setting, ``rate_limit_storage``, decides it for the rate limiter (``app.guards.rate_limit``), the
journal and the fault queue (``app.testing.state``). This module holds what all of them need to know
about it: whether it is Redis (``uses_redis``, the one list of schemes, which the settings check
too), the one client a process opens to it (``open_redis``; ``app.main`` opens it and hands it to
each of them), the errors that mean it is gone, the 503 that says so, and the scope marker a failed
call leaves (``STORAGE_FAILED_KEY``) so that the rest of the same request does not wait on it again.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from app.protocol.errors import APIError

MEMORY_SCHEME = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
STORAGE_ERRORS = (RedisError, OSError, TimeoutError)  # Redis gone, refused, timed out
STORAGE_FAILED_KEY = "perceptron_mock.storage_failed"  # set in the scope once a Redis call of this request failed
STORAGE_TIMEOUT_S = 2


def uses_redis(storage: str) -> bool:
    """Whether a ``rate_limit_storage`` URL names Redis (else it is ``memory://``)."""
    return storage.startswith(REDIS_SCHEMES)


def open_redis(url: str) -> Any:
    """The process's client for ``url``: one connection pool for the limiter, the journal and the fault queue.

    One attempt per call, with short timeouts: a Redis that has gone away costs a call one timeout
    (``STORAGE_TIMEOUT_S``), never a hang, and a request makes one such call at most (the scope marker).
    The retry policy is pinned because redis-py's defaults for it have changed between versions."""
    import redis.asyncio as redis  # only deployments that use Redis pay for the import
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=STORAGE_TIMEOUT_S,
        socket_timeout=STORAGE_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def storage_unavailable() -> APIError:
    return APIError(
        503,
        "The mock's Redis storage is unavailable; the request was not processed. Please try again.",
        type="service_unavailable_error",
        code="storage_unavailable",
    )
