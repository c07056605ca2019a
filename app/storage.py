"""Where the mock keeps what its processes share: this process's memory, or Redis.

One client per process (``open_redis``) serves the limiter, the journal and the fault queue; an outage
is logged once when it starts and once when it ends (``outage``), not per request.
"""

from __future__ import annotations

import logging
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

from redis.exceptions import ConnectionError, RedisError

from perceptron_mock.protocol.errors import APIError

log = logging.getLogger("perceptron_mock")

MEMORY_SCHEME = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
STORAGE_ERRORS = (RedisError, OSError, TimeoutError)  # Redis gone, refused, timed out
STORAGE_TIMEOUT_S = 2


def uses_redis(storage: str) -> bool:
    """Whether a ``rate_limit_storage`` URL names Redis (else it is ``memory://``)."""
    return storage.startswith(REDIS_SCHEMES)


def open_redis(url: str) -> Any:
    """The process's client for ``url``: one connection pool for the limiter, the journal and the fault queue.

    Short timeouts: a Redis that has gone away costs a call one timeout (``STORAGE_TIMEOUT_S``), never
    a hang, and a request makes one such call at most (``Exchange.storage_failed``). A connection error (a
    pooled socket that a restarted Redis closed or reset, a refused connect) is retried once, at once,
    on a fresh connection, so the first request after Redis returns succeeds; a timeout is never
    retried, so the ceiling stays one timeout. The policy is pinned because redis-py's defaults for it
    have changed between versions."""
    import redis.asyncio as redis  # only deployments that use Redis pay for the import
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=STORAGE_TIMEOUT_S,
        socket_timeout=STORAGE_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
    )


class Outage:
    """Whether a process's Redis is down, as its last call found it. The log gets one warning when an
    outage starts and one when it ends, however many calls fail in between (each is at debug level)."""

    def __init__(self) -> None:
        self.since: float | None = None  # monotonic time of the first failure; None while Redis answers
        self.failed_calls = 0

    def failed(self, error: BaseException, doing: str) -> None:
        self.failed_calls += 1
        if self.since is not None:
            log.debug("Redis storage still unavailable (%s: %s, %s)", type(error).__name__, error, doing)
            return
        self.since = time.monotonic()
        log.warning(
            "Redis storage is unavailable (%s: %s, %s). Until it is back, rate-limited requests get 503 "
            "storage_unavailable, journal entries are lost, queued faults are skipped and the admin API "
            "answers 503; the next warning says when it is back.",
            type(error).__name__,
            error,
            doing,
        )

    def succeeded(self) -> None:
        if self.since is None:  # the common case: one comparison
            return
        log.warning(
            "Redis storage is back after %.1f s; %d calls failed meanwhile.", time.monotonic() - self.since, self.failed_calls
        )
        self.since, self.failed_calls = None, 0

    @contextmanager
    def watching(self, doing: str) -> Iterator[None]:
        """Around one Redis call: a storage error is counted (and raised on), a success ends an outage."""
        try:
            yield
        except STORAGE_ERRORS as error:
            self.failed(error, doing)
            raise
        self.succeeded()


_outages: "weakref.WeakKeyDictionary[Any, Outage]" = weakref.WeakKeyDictionary()


def outage(client: Any) -> Outage:
    """The one ``Outage`` of ``client`` (the process's Redis client), shared by all that use it."""
    state = _outages.get(client)
    if state is None:
        state = _outages[client] = Outage()
    return state


def storage_unavailable() -> APIError:
    return APIError(
        503,
        "The mock's Redis storage is unavailable; the request was not processed. Please try again.",
        type="service_unavailable_error",
        code="storage_unavailable",
    )
