"""The run-time state of the testing toolkit: the journal and the fault queue, in memory or in Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perceptron_mock.settings import Settings
from perceptron_mock.toolkit.faults import Faults, FaultStore, MemoryFaults
from perceptron_mock.toolkit.image_store import ImageStore
from perceptron_mock.toolkit.journal import JournalStore, MemoryJournal
from perceptron_mock.toolkit.live import Live


@dataclass(frozen=True)
class Toolkit:
    journal: JournalStore | None  # None: the journal is off (journal_size 0)
    faults: Faults
    images: ImageStore | None = None  # the journaled requests' images, for the live view; None: none kept
    live: Live = field(default_factory=Live)  # the live views subscribed to the journal

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
        images = ImageStore(settings.journal_image_bytes) if journal is not None and settings.journal_image_bytes else None
        return cls(journal=journal, faults=Faults(store), images=images)

    def forget_journal(self) -> None:
        """After the journal was cleared: its images go too, and the live views are told."""
        if self.images is not None:
            self.images.clear()
        self.live.cleared()
