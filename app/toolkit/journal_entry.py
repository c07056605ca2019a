"""One journal entry as the recorder keeps it: references to what the request already holds.

Nothing is decoded, rounded or copied while the request is served: the answer's chunks are the bytes
written, and the fields a reader asks for (``entry["request_id"]``, ``stored()`` for Redis) are made
from the references when read.
"""

from __future__ import annotations

import time
from time import perf_counter
from typing import Any

# The fields of a stored entry, in the order the Redis store writes them.
FIELDS = (
    "request_id", "time", "method", "path", "query", "headers", "headers_shortened", "body", "body_shortened",
    "status", "complete", "duration_ms", "fault", "tool_calls", "answer_chunks", "answer_times",
    "answer_shortened", "images", "test_id",
)
_KEYS = frozenset((*FIELDS, "id"))


class Entry:
    """Read as a mapping of ``FIELDS`` and ``id``, like the dicts the Redis store gives back. The fields
    of the request are set by ``perceptron_mock.toolkit.journal.Recorder`` when it writes the entry."""

    __slots__ = (
        "id", "time", "began", "method", "path", "_query", "status", "answer_headers", "complete", "ended",
        "limit", "chunks", "times", "size", "shortened", "images",
        "headers", "headers_shortened", "body", "body_shortened", "fault", "tool_calls", "test_id",
    )

    def __init__(self, scope: Any, limit: int) -> None:
        self.id: int | None = None  # 0 once written, then the store's number
        # Set when written: complete (the answer was whole), ended (its perf_counter), and
        # the request's fields: headers, headers_shortened, body, body_shortened, fault, tool_calls, test_id.
        self.time = time.time()
        self.began = perf_counter()
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self._query: bytes = scope.get("query_string", b"")
        self.status: int | None = None
        self.answer_headers: Any = ()  # the response's, where perceptron_mock.main put the x-request-id
        # The answer as sent, up to ``limit`` bytes: its chunks, each with its time (ms since ``began``).
        self.limit = limit
        self.chunks: list[bytes] = []
        self.times: list[float] = []
        self.size = 0
        self.shortened = False
        self.images: list[str | None] | tuple = ()  # the sha256 of the body's images, once kept

    def record(self, chunk: bytes) -> None:
        """Keep a piece of the answer's body as it is written."""
        if not chunk or self.shortened:
            return
        ms = (perf_counter() - self.began) * 1000
        if self.size + len(chunk) > self.limit:
            # The head that fits (one bounded copy), then nothing more: events past the bound are dropped.
            self.shortened = True
            chunk = chunk[: self.limit - self.size]
            if not chunk:
                return
        self.chunks.append(chunk)
        self.times.append(ms)
        self.size += len(chunk)

    @property
    def request_id(self) -> str | None:
        for key, value in reversed(self.answer_headers):  # perceptron_mock.main appends it last
            if key == b"x-request-id":
                return value.decode("latin-1")
        return None

    @property
    def query(self) -> str:
        return self._query.decode("latin-1")

    @property
    def duration_ms(self) -> float:
        return round((self.ended - self.began) * 1000, 3)

    @property
    def answer_chunks(self) -> list[bytes]:
        return self.chunks

    @property
    def answer_times(self) -> list[float]:
        return self.times

    @property
    def answer_shortened(self) -> bool:
        return self.shortened

    def __getitem__(self, key: str) -> Any:
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _KEYS else default

    def stored(self) -> dict[str, Any]:
        """The entry as a dict of ``FIELDS``, the form a store outside this process serialises."""
        return {key: getattr(self, key) for key in FIELDS}
