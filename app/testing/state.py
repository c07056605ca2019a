"""The run-time state the testing toolkit keeps: the journal and the queued faults.

``app.main`` builds one ``Toolkit`` per app from the settings; the hot path, the recorder and the admin
API (``app.api.admin``) all use that same object. The stores are kept in this process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings
from app.testing.faults import Faults, FaultStore, MemoryFaults
from app.testing.journal import JournalStore, MemoryJournal


@dataclass(frozen=True)
class Toolkit:
    journal: JournalStore | None  # None: the journal is off (journal_size 0)
    faults: Faults

    @classmethod
    def from_settings(cls, settings: Settings) -> "Toolkit":
        journal: JournalStore | None = MemoryJournal(settings.journal_size) if settings.journal_size else None
        store: FaultStore = MemoryFaults()
        return cls(journal=journal, faults=Faults(store))
