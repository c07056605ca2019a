"""``Pacer``: which events of a stream are due, and when the next one is; ``TickWriter`` writes them.

One schedule, two drivers: the stream's own task waits and sends what is due through ASGI
(``CompletionStream``), or the shared ticker's callback writes it straight to the connection
(``TickWriter``, with a ``ChunkWriter``), without waking the task at all (docs: Streaming, performance).
"""

from __future__ import annotations

import asyncio
from typing import Iterator

from perceptron_mock.answers.pacing import Schedule
from perceptron_mock.asgi import ChunkWriter
from perceptron_mock.render.delivery import StreamObserver
from perceptron_mock.render.ticker import TickCall, Ticker

DONE = b"data: [DONE]\n\n"
# A comment, never an ``event: ping`` with data: the openai SDK json-decodes every data field.
PING = b": ping\n\n"
# Events due together (unpaced, or a backlog) let the event loop run after this many, so that a long
# answer neither holds the loop nor misses a client's disconnect (uvicorn drops writes to a closed socket).
YIELD_EVERY = 64


class Pacer:
    """The events of one stream against its schedule: the role chunk with the first token after the first
    wait, then one event per gap (``[DONE]`` right after the finish chunk), stopping after ``limit``
    events (-1: none). Taken events gather in ``ready`` until the driver writes them."""

    __slots__ = (
        "_events", "_gaps", "_next", "_gap", "_first", "_observer",
        "paced", "start", "due", "last", "sent", "limit", "ready", "ended", "interrupted", "written_at",
    )

    def __init__(
        self, events: Iterator[bytes], plan: Schedule, *, start: float, limit: int = -1, observer: StreamObserver | None = None
    ) -> None:
        self._events = events
        self._gaps = plan.gaps()
        self.paced = bool(plan.first or plan.interval)
        self._observer = observer if self.paced else None
        self.start = self.last = start
        self._first = plan.first
        self.due = start + plan.first  # kept against the start: a late event does not delay the rest
        self._gap = 0.0
        self.sent = 0  # events taken (written, or in ``ready``)
        self.limit = limit
        self.ready: list[bytes] = []
        self.ended = False  # nothing more to take: no event left, or ``limit`` reached
        self.interrupted = False  # ended by ``limit`` with events left
        self.written_at = start  # when the driver last wrote (the response head went out at the start)
        self._next: bytes | None = None
        self._advance()

    def _advance(self) -> None:
        """Look at the next event and work out when it falls due."""
        event = self._next = next(self._events, None)
        if event is None:
            self.ended = True
        elif self.sent == self.limit:
            self.ended = self.interrupted = True
        elif self.paced and self.sent >= 2 and event != DONE:
            self._gap = next(self._gaps)
            self.due += self._gap

    def take(self, now: float, most: int, *, waited: float = 0.0) -> None:
        """Move the events due at ``now`` into ``ready`` until it holds ``most``. ``waited``: the due time
        the driver waited for (a tick wakes up to half a tick early): events due by then are due."""
        ready = self.ready
        due_by = max(now, waited)
        while not self.ended and len(ready) < most:
            event = self._next
            assert event is not None
            if event != DONE:  # never waited for: it goes with the finish chunk
                if self.due > due_by and self.paced:
                    return
                observer = self._observer
                if observer is not None and self.sent:
                    if self.sent == 1:
                        observer.first_token(self._first, now - self.start)
                    else:
                        observer.token(self._gap, now - self.last)
                    self.last = now
            ready.append(event)
            self.sent += 1
            self._advance()

    def wake(self, keepalive: float) -> tuple[float, bool]:
        """When the driver must act next, and whether for a keep-alive: the next event's due time, unless
        more than ``keepalive`` seconds (0: no keep-alives) would pass without a write before it."""
        if keepalive and self.due - self.written_at > keepalive:
            return self.written_at + keepalive, True
        return self.due, False

    def drain(self) -> bytes:
        """What ``ready`` holds, joined; ``ready`` is then empty."""
        data = b"".join(self.ready)
        self.ready.clear()
        return data


class TickWriter:
    """Drives a paced ``Pacer`` from the ticker: at each tick something is due, writes it with ``writer``
    (the events due, or a keep-alive after ``keepalive`` seconds without a write). ``done`` resolves when
    the stream has nothing more to write this way (ended, or a write could not go out: what it held
    stays in ``pacer.ready`` for the stream's task to send)."""

    __slots__ = ("pacer", "writer", "most", "keepalive", "done", "_ticker", "_loop", "_call", "_ping")

    def __init__(self, pacer: Pacer, writer: ChunkWriter, ticker: Ticker, most: int, keepalive: float = 0.0) -> None:
        self.pacer, self.writer, self.most, self.keepalive, self._ticker = pacer, writer, most, keepalive, ticker
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._call: TickCall | asyncio.Handle | None = None
        self._ping = False
        if pacer.ended:  # interrupted before its first event (``cut``, ``sse_error``): nothing to wait for
            self.done.set_result(None)
        else:
            self._schedule()

    def _schedule(self) -> None:
        when, self._ping = self.pacer.wake(self.keepalive)
        self._call = self._ticker.call_at(when, self._fire)

    def _fire(self, on_tick: bool = True) -> None:
        self._call = None
        if self.done.done():  # cancelled with the stream's task, which forgets this call once it runs
            return
        pacer, loop = self.pacer, self._loop
        if self._ping and on_tick:
            if not self.writer.write(PING):
                self.done.set_result(None)  # the task keeps the stream alive from here
                return
            pacer.written_at = loop.time()
            self._schedule()
            return
        written = 0
        try:
            waited = pacer.due if on_tick else 0.0  # a tick wakes up to half a tick early
            while True:
                pacer.take(loop.time(), self.most, waited=waited)
                if not pacer.ready or pacer.interrupted:  # an interruption goes out with what is ready
                    break
                if not self.writer.write(b"".join(pacer.ready)):
                    self.done.set_result(None)  # the task sends what is ready through ASGI
                    return
                pacer.written_at = loop.time()
                written += len(pacer.ready)
                pacer.ready.clear()
                if written >= YIELD_EVERY and not pacer.ended:  # a backlog: the rest once the loop has run
                    self._call = loop.call_soon(self._fire, False)
                    return
        except Exception as error:  # the events failed to encode: the task ends the stream as it would
            self.done.set_exception(error)
            return
        if pacer.ended:
            self.done.set_result(None)
        else:
            self._schedule()

    def cancel(self) -> None:
        """Forget the tick waited for (the stream's task was cancelled: its client left)."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if self.done.done() and not self.done.cancelled():
            self.done.exception()  # seen: a failure the cancelled task never read is not logged as lost
