"""The request journal: what clients sent and what they got back, for tests to read (``/_admin/requests``).

A bounded ring; the body is the one the endpoint read (kept by the ``Exchange``, no copy), and large
bodies and headers are shortened when recorded (docs: "Admin API" gives the bounds).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any, Iterable, Protocol

import orjson

from perceptron_mock.asgi import ASGIApp, Message, Receive, Scope, Send
from perceptron_mock.exchange import exchange_of
from perceptron_mock.protocol.json_items import items_over
from perceptron_mock.protocol.data_urls import Body, data_url_spans, replace_spans

# Headers that carry credentials never leave the process: not through the admin API, not into Redis.
SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"x-api-key", b"api-key", b"cookie"})

# Paths that are about the mock rather than the API: reading the journal must not add to it, and a
# health probe every few seconds would push real requests out of the ring.
UNRECORDED_PREFIXES = ("/_admin", "/health")

_LONG_STRING = 256  # strings longer than this are shortened in an oversized body
_KEPT_HEAD = 64

# What one entry keeps of the request's headers (the 431 cap allows 64 KiB of them, which a
# thousand-entry ring must not multiply): values clipped, then headers kept until a count or a size.
HEADER_VALUE_KEPT = 2048
HEADER_BYTES_KEPT = 16384
HEADERS_KEPT = 100


def recordable(path: str) -> bool:
    return not path.startswith(UNRECORDED_PREFIXES)


class JournalStore(Protocol):
    """Where entries live: this process's memory, or Redis (``perceptron_mock.toolkit.redis_store``) so that every
    worker and replica shares one journal."""

    # True when ``add`` goes to Redis: the recorder skips it for a request in which Redis already failed.
    remote: bool

    async def add(self, entry: dict[str, Any]) -> None: ...

    async def entries(self) -> list[dict[str, Any]]: ...

    async def clear(self) -> int: ...


class MemoryJournal:
    """A ring of the last ``size`` entries of this process."""

    remote = False

    def __init__(self, size: int) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=size)
        self._ids = itertools.count(1)

    async def add(self, entry: dict[str, Any]) -> None:
        entry["id"] = next(self._ids)
        self._ring.append(entry)

    async def entries(self) -> list[dict[str, Any]]:
        return list(self._ring)

    async def clear(self) -> int:
        count = len(self._ring)
        self._ring.clear()
        return count


# --- recording -------------------------------------------------------------------------------------


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > _LONG_STRING:
            return f"{value[:_KEPT_HEAD]}...[{len(value)} chars]"
        return value
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    return value


def _shorten_data_urls(body: Body) -> Body:
    """``body`` with each long data URL shortened as ``_shorten`` would, on the raw bytes. The length
    given is in bytes: the same as in characters for the base64 such a URL holds."""
    edits = []
    for start, end in data_url_spans(body, _LONG_STRING + 1):
        head = bytes(body[start : start + _KEPT_HEAD])
        if head.isascii():  # a head cut inside a UTF-8 character would not be JSON
            edits.append((start, end, head + f"...[{end - start} chars]".encode()))
    return replace_spans(body, edits) if edits else body


def stored_body(body: Body, limit: int, max_items: int | None = None) -> tuple[bytes, bool]:
    """The bytes to keep for ``body`` and whether they were shortened. A body of more than ``max_items``
    JSON items is not parsed (the endpoint refused it for that): its head is kept, as for one that is
    not JSON."""
    if len(body) <= limit:
        return bytes(body), False
    body = _shorten_data_urls(body)
    if len(body) <= limit:
        return bytes(body), True
    if max_items is not None and items_over(body, max_items):
        return bytes(body[:limit]), True
    try:
        shortened = orjson.dumps(_shorten(orjson.loads(body)))
    except orjson.JSONDecodeError:
        return bytes(body[:limit]), True
    return (shortened if len(shortened) <= limit else shortened[:limit]), True


def stored_headers(headers: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The headers to keep for a request and whether they were shortened. Within the bounds (every
    ordinary request) they are the server's own list, not a copy; past them, credentials are left
    out, a value over ``HEADER_VALUE_KEPT`` bytes keeps its head and says how long it was, and the
    headers past ``HEADERS_KEPT`` or ``HEADER_BYTES_KEPT`` bytes are left out."""
    if len(headers) <= HEADERS_KEPT:
        size = 0
        for name, value in headers:  # one plain loop: this runs on every request
            if len(value) > HEADER_VALUE_KEPT:
                break
            size += len(name) + len(value)
        else:
            if size <= HEADER_BYTES_KEPT:
                return headers, False
    kept: list[tuple[bytes, bytes]] = []
    size = 0
    shortened = False
    for name, value in headers:
        if name in SECRET_HEADERS:
            continue
        if len(value) > HEADER_VALUE_KEPT:
            value = value[:HEADER_VALUE_KEPT] + b"...[%d bytes]" % len(value)
            shortened = True
        size += len(name) + len(value)
        if len(kept) == HEADERS_KEPT or size > HEADER_BYTES_KEPT:
            return kept, True
        kept.append((name, value))
    return kept, shortened


class Recorder:
    """ASGI wrapper that records each request it passes on, with its answer, in a journal.

    The entry is written just before the last byte of the response is sent, so a client that has its
    answer always finds it in the journal; a request that ends without a complete answer (a hang the
    client gave up on, a reset, a cut stream) is written when the app returns.
    """

    def __init__(self, app: ASGIApp, store: JournalStore, *, body_limit: int, max_items: int | None = None) -> None:
        self.app = app
        self.store = store
        self.body_limit = body_limit
        self.max_items = max_items

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wall = time.time()
        began = time.perf_counter()
        status: int | None = None
        answer_headers: list = []  # the response's, where perceptron_mock.main put the x-request-id
        written = False

        exchange = exchange_of(scope)
        exchange.wants_body = True  # the endpoint's read keeps the body there: no copy is made here

        async def write(complete: bool) -> None:
            nonlocal written
            written = True
            body, exchange.body = exchange.body, b""
            if self.store.remote and exchange.storage_failed:
                return  # Redis failed earlier in this request: its one timeout was enough; the entry is lost
            if len(body) > self.body_limit:  # shortened, which may parse it: off the event loop
                body, shortened = await asyncio.to_thread(stored_body, body, self.body_limit, self.max_items)
            else:
                body, shortened = bytes(body), False
            headers, headers_shortened = stored_headers(scope["headers"])
            await self.store.add(
                {
                    "request_id": _request_id(answer_headers),
                    "time": wall,
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    # Credentials are dropped wherever an entry leaves this process (present(), and
                    # the Redis store before it writes), and from a shortened copy.
                    "headers": headers,
                    "headers_shortened": headers_shortened,
                    "body": body,
                    "body_shortened": shortened,
                    "status": status,
                    "complete": complete,
                    "duration_ms": round((time.perf_counter() - began) * 1000, 3),
                    "fault": exchange.fault,
                }
            )

        async def recording_send(message: Message) -> None:
            nonlocal status, answer_headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                answer_headers = message.get("headers", answer_headers)
            elif kind == "http.response.body" and not message.get("more_body", False) and not written:
                await write(complete=True)
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if not written:
                await write(complete=False)


def _request_id(headers: list) -> str | None:
    for key, value in reversed(headers):  # perceptron_mock.main appends it last
        if key == b"x-request-id":
            return value.decode("latin-1")
    return None


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
) -> list[dict[str, Any]]:
    """The presented entries that match every filter given, oldest first; ``limit`` keeps the newest.
    The walk goes newest first and stops at ``limit``: presenting parses a body, and the client's
    ``last_request`` asks for the newest entry of the whole ring."""
    if limit is not None and limit <= 0:
        return []
    out = []
    for entry in reversed(entries):
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
