"""The run-time state of the testing toolkit: the journal and the fault queue, in memory or in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perceptron_mock.settings import Settings
from perceptron_mock.toolkit.faults import Faults, FaultStore, MemoryFaults
from perceptron_mock.toolkit.journal import JournalStore, MemoryJournal


@dataclass(frozen=True)
class Toolkit:
    journal: JournalStore | None  # None: the journal is off (journal_size 0)
    faults: Faults

    @classmethod
    def from_settings(cls, settings: Settings, redis: Any = None) -> "Toolkit":
        """The toolkit ``settings`` ask for, in Redis when given the process's client (``redis``, from
        ``perceptron_mock.storage.open_redis``; whoever opened it closes it), else in this process."""
        journal: JournalStore | None
        store: FaultStore
        if redis is not None:
            from perceptron_mock.toolkit.redis_store import RedisFaults, RedisJournal

            journal = RedisJournal(redis, settings.journal_size) if settings.journal_size else None
            store = RedisFaults(redis)
        else:
            journal = MemoryJournal(settings.journal_size) if settings.journal_size else None
            store = MemoryFaults()
        return cls(journal=journal, faults=Faults(store))
