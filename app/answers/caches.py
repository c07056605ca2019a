"""The answer caches (checked JSON schemas, compiled patterns), bounded by the bytes they hold.

A count of entries bounds nothing when one entry may be a 17 MB schema: each entry is counted at an
estimate of its size that its maker gives (from the text it was built from), the least recently used
go first, and an entry estimated at more than a quarter of the bound is built but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

SCHEMA_CACHE_BYTES = 64 * 1024 * 1024
PATTERN_CACHE_BYTES = 32 * 1024 * 1024
LARGEST_SHARE = 4  # an entry over max_bytes / LARGEST_SHARE is not kept


class ByteBoundedLRU:
    """A least-recently-used cache whose entries' estimated sizes add up to at most ``max_bytes``.
    Thread-safe: answers are built in worker threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_make(self, key: Hashable, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        """The value cached under ``key``, or ``make()`` (cached if it fits). Exceptions are not cached.
        Two threads may make the same value at once; either result is the same."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found[0]
        value = make()
        cost = size(value)
        if cost <= self.max_bytes // LARGEST_SHARE:
            with self._lock:
                old = self._entries.pop(key, None)
                if old is not None:
                    self.bytes -= old[1]
                self._entries[key] = (value, cost)
                self.bytes += cost
                self._shrink()
        return value

    def _shrink(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _key, (_value, cost) = self._entries.popitem(last=False)
            self.bytes -= cost

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._shrink()

    def clear(self) -> int:
        """Empty the cache; returns the bytes it was counted at."""
        with self._lock:
            freed, self.bytes = self.bytes, 0
            self._entries.clear()
        return freed


SCHEMAS = ByteBoundedLRU(SCHEMA_CACHE_BYTES)
PATTERNS = ByteBoundedLRU(PATTERN_CACHE_BYTES)  # the regex walker's parse trees and RE2's compiled patterns


def configure(schema_bytes: int, pattern_bytes: int) -> None:
    """Set the bounds (the server does this once at start-up, from its settings)."""
    SCHEMAS.resize(schema_bytes)
    PATTERNS.resize(pattern_bytes)


def clear() -> int:
    """Empty every answer cache (``POST /_admin/reset``); returns the bytes they were counted at."""
    return SCHEMAS.clear() + PATTERNS.clear()
