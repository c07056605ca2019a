"""The fault queue ("the next 2 requests get 503") and the pick: which fault, if any, a request gets.

The grammar is ``perceptron_mock.protocol.faults``; what a fault does, ``perceptron_mock.render.delivery``.
The queue lives in this process (``MemoryFaults``) or in Redis (``perceptron_mock.toolkit.redis_store``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any, Protocol

from perceptron_mock.asgi import Scope
from perceptron_mock.exchange import Exchange
from perceptron_mock.protocol.faults import Fault, from_header, invalid_fault
from perceptron_mock.protocol.test_ids import sees
from perceptron_mock.storage import STORAGE_ERRORS


@dataclass(frozen=True)
class QueuedFault:
    id: str
    fault: Fault
    remaining: int
    model: str | None = None  # only requests for this model take it
    test_id: str | None = None  # only this test's requests (X-Mock-Test-Id) and those without an id take it

    def takes(self, *, stream: bool, model: str, test_id: str | None = None) -> bool:
        if self.model is not None and self.model != model:
            return False
        if not sees(self.test_id, test_id):
            return False
        return stream or not self.fault.streams_only

    def describe(self) -> dict[str, Any]:
        shown = {"id": self.id, "fault": self.fault.spec, "remaining": self.remaining, "model": self.model}
        return {**shown, "test_id": self.test_id} if self.test_id is not None else shown


class FaultStore(Protocol):
    """Where queued faults live: this process, or Redis (so every worker counts down one queue)."""

    async def push(self, fault: Fault, count: int, model: str | None, test_id: str | None = None) -> QueuedFault: ...

    async def take(self, *, stream: bool, model: str, test_id: str | None = None) -> Fault | None: ...

    async def list(self) -> list[QueuedFault]: ...

    async def clear(self, test_id: str | None = None) -> int: ...


MAX_QUEUED = 1000  # queued faults in all (each request walks the queue); POST /_admin/faults refuses past it


class MemoryFaults:
    """Queued faults of this process, first in first out; each request takes one use of the first that
    matches it."""

    def __init__(self) -> None:
        self._queue: list[QueuedFault] = []
        self._ids = itertools.count(1)

    @property
    def empty(self) -> bool:
        """Nothing queued: the common case, known without a call."""
        return not self._queue

    async def push(self, fault: Fault, count: int, model: str | None, test_id: str | None = None) -> QueuedFault:
        queued = QueuedFault(id=f"fault_{next(self._ids)}", fault=fault, remaining=count, model=model, test_id=test_id)
        self._queue.append(queued)
        return queued

    async def take(self, *, stream: bool, model: str, test_id: str | None = None) -> Fault | None:
        if not self._queue:  # the common case: nothing queued
            return None
        for i, queued in enumerate(self._queue):
            if queued.takes(stream=stream, model=model, test_id=test_id):
                if queued.remaining <= 1:
                    del self._queue[i]
                else:
                    self._queue[i] = replace(queued, remaining=queued.remaining - 1)
                return queued.fault
        return None

    async def list(self) -> list[QueuedFault]:
        return list(self._queue)

    async def clear(self, test_id: str | None = None) -> int:
        count = len(self._queue)
        self._queue = [q for q in self._queue if test_id is not None and q.test_id != test_id]
        return count - len(self._queue)


class Faults:
    """The fault step of the pipeline: which fault, if any, a request gets."""

    def __init__(self, store: FaultStore) -> None:
        self.store = store
        self._local = store if isinstance(store, MemoryFaults) else None  # its queue can be looked at without a call

    def none_for(self, read_header: bool) -> bool:
        """Whether a request without ``X-Mock-*`` headers (``read_header`` False) gets no fault, known
        without picking: the queue is this process's and empty."""
        return not read_header and self._local is not None and self._local.empty

    async def pick(
        self, scope: Scope, exchange: Exchange, *, stream: bool, model: str, test_id: str | None = None,
        read_header: bool = True,  # False: the request has no X-Mock-* header
    ) -> Fault | None:
        """The request's own header wins; otherwise the first queued fault that matches it."""
        fault = from_header(scope) if read_header else None
        if fault is None:
            try:
                fault = await self.store.take(stream=stream, model=model, test_id=test_id)
            except STORAGE_ERRORS:  # no fault is better than a failed request the test did not ask for
                exchange.storage_failed = True  # logged once per outage (perceptron_mock.storage.Outage)
                return None
            if fault is None:
                return None
        elif fault.streams_only and not stream:
            raise invalid_fault(f"'{fault.spec}' applies to streamed requests (\"stream\": true) only")
        return fault
