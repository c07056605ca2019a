"""The request journal: what clients sent and what they got back, for tests to read (``/_admin/requests``).

A bounded ring; the body is the one the endpoint read (kept by the ``Exchange``, no copy), and large
bodies and headers are shortened when recorded (docs: "Admin API" gives the bounds).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from time import perf_counter
from typing import Any, Iterable, Protocol

import orjson

from perceptron_mock.asgi import ASGIApp, Message, Receive, Scope, Send
from perceptron_mock.exchange import exchange_of
from perceptron_mock.protocol.data_urls import Body
from perceptron_mock.toolkit.answer_tape import decode as decode_answer
from perceptron_mock.toolkit.image_store import ImageStore, keep_images
from perceptron_mock.toolkit.journal_entry import Entry
from perceptron_mock.toolkit.live import Live
from perceptron_mock.protocol.test_ids import lenient_test_id, sees
from perceptron_mock.toolkit.journal_bounds import SECRET_HEADERS, kept_calls, stored_body, stored_headers

# Paths that are about the mock rather than the API: reading the journal must not add to it, and a
# health probe every few seconds would push real requests out of the ring.
UNRECORDED_PREFIXES = ("/_admin", "/health", "/metrics")

def recordable(path: str) -> bool:
    return not path.startswith(UNRECORDED_PREFIXES)


class JournalStore(Protocol):
    """Where entries live: this process's memory, or Redis (``perceptron_mock.toolkit.redis_store``) so that every
    worker and replica shares one journal."""

    # True when ``add`` goes to Redis: the recorder skips it for a request in which Redis already failed.
    remote: bool

    async def add(self, entry: Entry) -> None: ...

    async def entries(self) -> list[Any]: ...  # Entry or, from elsewhere, dicts of its FIELDS and id

    async def clear(self, test_id: str | None = None) -> int: ...


class MemoryJournal:
    """A ring of the last ``size`` entries of this process."""

    remote = False

    def __init__(self, size: int) -> None:
        self._ring: deque[Entry] = deque(maxlen=size)
        self._ids = itertools.count(1)

    async def add(self, entry: Entry) -> None:
        entry.id = next(self._ids)
        self._ring.append(entry)

    async def entries(self) -> list[Entry]:
        return list(self._ring)

    async def clear(self, test_id: str | None = None) -> int:
        """Empty the ring, or with ``test_id`` drop that test's entries only."""
        count = len(self._ring)
        if test_id is None:
            self._ring.clear()
            return count
        kept = [entry for entry in self._ring if entry.get("test_id") != test_id]
        self._ring.clear()
        self._ring.extend(kept)
        return count - len(kept)


# --- recording -------------------------------------------------------------------------------------


class Recorder:
    """ASGI wrapper that records each request it passes on, with its answer, in a journal.

    The entry is written just before the last byte of the response is sent, so a client that has its
    answer always finds it in the journal; a request that ends without a complete answer (a hang the
    client gave up on, a reset, a cut stream) is written when the app returns.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: JournalStore,
        *,
        body_limit: int,
        max_items: int | None = None,
        images: ImageStore | None = None,  # keeps the data-URL images of the bodies, for the live view
        live: Live | None = None,  # told of each entry written
    ) -> None:
        self.app = app
        self.store = store
        self.body_limit = body_limit
        self.max_items = max_items
        self.images = images
        self.live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = Entry(scope, self.body_limit)  # the answer is recorded in it, bounded as the body is
        exchange = exchange_of(scope)
        exchange.wants_body = True  # the endpoint's read keeps the body there: no copy is made here
        # A paced stream writes its events below ``recording_send`` (perceptron_mock.asgi.ChunkWriter).
        exchange.body_tap = record = entry.record
        raw_body: list[Body] = []  # a body whose images are kept once the answer is out

        async def recording_send(message: Message) -> None:
            if message["type"] != "http.response.body":
                if message["type"] == "http.response.start":
                    entry.status = message["status"]
                    entry.answer_headers = message.get("headers", entry.answer_headers)
                return await send(message)
            record(message.get("body", b""))
            if message.get("more_body", False):
                return await send(message)
            if entry.id is None:
                await self._write(entry, exchange, scope, True, raw_body)
            await send(message)
            if raw_body:
                await self._keep_images(raw_body.pop(), entry)  # the answer is out: off its path

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if entry.id is None:
                await self._write(entry, exchange, scope, False, raw_body)
            if raw_body:
                await self._keep_images(raw_body.pop(), entry)

    async def _write(self, entry: Entry, exchange: Any, scope: Scope, complete: bool, raw_body: list[Body]) -> None:
        """Complete ``entry`` with what the request holds (bounded) and add it to the store."""
        entry.id, entry.complete, entry.ended = 0, complete, perf_counter()  # 0: written, not yet numbered
        body, exchange.body = exchange.body, b""
        if self.store.remote and exchange.storage_failed:
            return  # Redis failed earlier in this request: its one timeout was enough; the entry is lost
        if self.images is not None and self.store.remote:
            await self._keep_images(body, entry)  # the entry leaves for Redis: its images go with it
        elif self.images is not None and (len(body) > self.body_limit or body.find(b'"data:') >= 0):  # as _keep_images tests
            raw_body.append(body)  # its images are kept once the answer is out (in ``entry.images``)
        if len(body) > self.body_limit:  # shortened, which may parse it: off the event loop
            entry.body, entry.body_shortened = await asyncio.to_thread(stored_body, body, self.body_limit, self.max_items)
        else:
            entry.body, entry.body_shortened = body if type(body) is bytes else bytes(body), False
        # Credentials are dropped wherever an entry leaves this process (present(), and the Redis
        # store before it writes), and from a shortened copy.
        entry.headers, entry.headers_shortened = stored_headers(scope["headers"], exchange.head_bytes)
        entry.fault = exchange.fault
        entry.tool_calls = kept_calls(exchange.tool_calls) if exchange.tool_calls else None
        entry.test_id = lenient_test_id(scope) if exchange.controls else None
        await self.store.add(entry)
        if self.live is not None and self.live.subscribers:
            self.live.publish(entry)

    async def _keep_images(self, body: Body, entry: Entry) -> None:
        """Keep the body's data-URL images in the store and their sha256 in ``entry``. Past the
        journal's body bound, in a thread: decoding and hashing cost about 5 µs a kB."""
        if self.images is None or not body:
            return
        if len(body) > self.body_limit:
            entry.images = await asyncio.to_thread(keep_images, self.images, body)
        elif body.find(b'"data:') >= 0:
            entry.images = keep_images(self.images, body)


# --- reading ---------------------------------------------------------------------------------------


def public_headers(headers: Iterable[Any]) -> list[tuple[Any, Any]]:
    """``headers`` without the ones that carry credentials."""
    return [(k, v) for k, v in headers if (k if isinstance(k, bytes) else k.encode("latin-1")) not in SECRET_HEADERS]


def _decode_headers(headers: Iterable[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in public_headers(headers):
        key = key.decode("latin-1") if isinstance(key, bytes) else key
        value = value.decode("latin-1") if isinstance(value, bytes) else value
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def present(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry as ``GET /_admin/requests`` shows it: headers as an object, the body as JSON when it
    parses (``body``) and as text when it does not (``body_text``), the model and stream flag read from it."""
    raw = entry["body"]
    body: Any = None
    text: str | None = None
    if raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            text = raw.decode("utf-8", errors="replace")
    fields = body if isinstance(body, dict) else {}
    model = fields.get("model")
    return {
        "id": entry["id"],
        "request_id": entry["request_id"],
        "time": entry["time"],
        "method": entry["method"],
        "path": entry["path"],
        "query": entry["query"],
        "headers": _decode_headers(entry["headers"]),
        "headers_shortened": entry.get("headers_shortened", False),  # absent from entries of older versions
        "body": body,
        "body_text": text,
        "body_shortened": entry["body_shortened"],
        "model": model if isinstance(model, str) else None,
        "stream": fields.get("stream") is True,
        "status": entry["status"],
        "complete": entry["complete"],
        "duration_ms": entry["duration_ms"],
        "fault": entry["fault"],
        "tool_calls": entry.get("tool_calls"),  # the calls the answer made: [{id, name, arguments}], or null
        # Entries of older versions have no answer or images.
        "answer": decode_answer(
            entry.get("answer_chunks") or [], entry.get("answer_times") or [], shortened=entry.get("answer_shortened", False)
        ),
        "images": entry.get("images") or [],
        "test_id": entry.get("test_id"),  # absent from entries of older versions
    }


def status_matches(status: int | None, wanted: str) -> bool:
    """``wanted`` is a status (``503``), a class (``5xx``) or ``none`` (no answer was sent)."""
    wanted = wanted.strip().lower()
    if wanted == "none":
        return status is None
    if status is None:
        return False
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return status // 100 == int(wanted[0])
    return wanted.isdigit() and status == int(wanted)


def select(
    entries: list[dict[str, Any]],
    *,
    model: str | None = None,
    status: str | None = None,
    path: str | None = None,
    method: str | None = None,
    request_id: str | None = None,
    limit: int | None = None,
    test_id: str | None = None,
) -> list[dict[str, Any]]:
    """The presented entries that match every filter given, oldest first; ``limit`` keeps the newest.
    The walk goes newest first and stops at ``limit``: presenting parses a body, and the client's
    ``last_request`` asks for the newest entry of the whole ring."""
    if limit is not None and limit <= 0:
        return []
    out = []
    for entry in reversed(entries):
        if not sees(entry.get("test_id"), test_id):
            continue
        if path is not None and entry["path"] != path:
            continue
        if method is not None and entry["method"] != method.upper():
            continue
        if request_id is not None and entry["request_id"] != request_id:
            continue
        if status is not None and not status_matches(entry["status"], status):
            continue
        shown = present(entry)
        if model is not None and shown["model"] != model:
            continue
        out.append(shown)
        if len(out) == limit:
            break
    out.reverse()
    return out
