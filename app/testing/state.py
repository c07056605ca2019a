"""The run-time state the testing toolkit keeps: the journal and the queued faults.

``app.main`` builds one ``Toolkit`` per app from the settings; the hot path, the recorder and the admin
API (``app.api.admin``) all use that same object. The stores live in this process's memory, or in
Redis when ``rate_limit_storage`` is a Redis URL (``app.testing.redis_store``), so that every worker
and replica sharing the rate-limit budget also shares one journal and one fault queue. They then
share the rate limiter's Redis client too: one connection pool per process, which ``aclose`` closes
on shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.guards.rate_limit import RateLimiter, open_redis, uses_redis
from app.settings import Settings
from app.testing.faults import Faults, FaultStore, MemoryFaults
from app.testing.journal import JournalStore, MemoryJournal


@dataclass(frozen=True)
class Toolkit:
    journal: JournalStore | None  # None: the journal is off (journal_size 0)
    faults: Faults
    redis: Any = None  # the Redis client the stores (and the limiter) use; None in memory

    @classmethod
    def from_settings(cls, settings: Settings, limiter: RateLimiter | None = None) -> "Toolkit":
        """The toolkit ``settings`` ask for; with Redis storage it uses ``limiter``'s client when given
        one (a process then holds one pool, not two)."""
        journal: JournalStore | None
        store: FaultStore
        if uses_redis(settings.rate_limit_storage):
            from app.testing.redis_store import RedisFaults, RedisJournal

            shared = limiter.redis if limiter is not None else None
            redis = shared if shared is not None else open_redis(settings.rate_limit_storage)
            journal = RedisJournal(redis, settings.journal_size) if settings.journal_size else None
            store = RedisFaults(redis)
        else:
            redis = None
            journal = MemoryJournal(settings.journal_size) if settings.journal_size else None
            store = MemoryFaults()
        return cls(journal=journal, faults=Faults(store), redis=redis)

    async def aclose(self) -> None:
        """Close the Redis connections (the limiter's too, when it shares them); for the app's shutdown."""
        if self.redis is not None:
            await self.redis.aclose()
