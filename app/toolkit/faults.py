"""Fault injection: make a request fail the way a real service or network fails.

A fault is written as a short spec, the same everywhere it can come from:

- the ``X-Mock-Fault`` request header, for that one request;
- ``POST /_admin/faults`` with a count: "the next 2 requests get 503, then normal" (queued in a
  ``FaultStore``: ``MemoryFaults``, or ``perceptron_mock.toolkit.redis_store.RedisFaults``);
- a fixture (``perceptron_mock.answers``), for the requests it matches.

Spec: items separated by ``;`` or ``,``, each ``name`` or ``name=value``, at most ``MAX_SPEC_CHARS`` in all::

    503                     status 503 with its error envelope (any 4xx/5xx; also ``status=503``)
    429; retry_after=0.2    ... with Retry-After: 1 (whole seconds) and retry-after-ms: 200
    latency=300             wait 300 ms, then answer normally (combines with any other item)
    hang                    never answer; the request ends when the client gives up
    reset                   reset the TCP connection (RST) before answering
    malformed               200 with a JSON body cut in half (stream: one event's JSON cut in half)
    cut=3                   stream: drop the connection after 3 events; non-stream: after half the body
    sse_error=3             stream: after 3 events, an SSE error event instead of the rest
    sse_error=3; 503        ... whose envelope is that of 503 (default: 500's server_error)
    drip=200                stream: 200 ms between events

The parts that come before an answer (latency, status, hang, reset) are applied here by ``begin``;
the ones that change an answer (malformed, cut, sse_error, drip) are carried to the renderer.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from dataclasses import dataclass, replace
from functools import lru_cache
from http import HTTPStatus
from typing import Any, Protocol

from perceptron_mock.answers.answer import Pacing
from perceptron_mock.asgi import ASGIApp, ClientDisconnected, Message, Receive, Scope, Send, header
from perceptron_mock.guards.rate_limit import retry_headers
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.render.sse import Delivery, StreamEvents
from perceptron_mock.storage import STORAGE_ERRORS, STORAGE_FAILED_KEY
from perceptron_mock.toolkit.journal import FAULT_KEY

FAULT_HEADER = b"x-mock-fault"
RECEIVE_KEY = "perceptron_mock.receive"  # the server's own receive, kept by perceptron_mock.main (reset needs its socket)


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood."""


@dataclass(frozen=True)
class Fault:
    spec: str
    status: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    hang: bool = False
    reset: bool = False
    malformed: bool = False
    cut_after: int | None = None  # events (stream); a non-stream body is cut in half
    error_after: int | None = None  # events, stream only
    drip_ms: float | None = None  # stream only

    @property
    def streams_only(self) -> bool:
        """Whether the fault only makes sense for a streamed answer."""
        return self.error_after is not None or self.drip_ms is not None

    def error(self) -> APIError:
        assert self.status is not None
        error = status_error(self.status)
        if self.retry_after is not None:
            error.headers.update(retry_headers(self.retry_after * 1000))  # as the rate limiter sends them
        return error


# --- the envelope each injected status gets ---------------------------------------------------------

# What the real service (OpenAI's wire format) says for the statuses tests most often inject.
_ENVELOPES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "The request could not be processed.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to sample from this model.", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it.", "model_not_found"),
    408: ("invalid_request_error", "Request timed out.", None),
    409: ("invalid_request_error", "The request conflicts with another request.", None),
    429: ("requests", "Rate limit reached for requests. Please try again later.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request. Sorry about that!", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("service_unavailable_error", "The engine is currently overloaded, please try again later", "server_is_overloaded"),
    504: ("server_error", "Gateway timeout.", None),
}


def status_error(status: int) -> APIError:
    if status in _ENVELOPES:
        type_, message, code = _ENVELOPES[status]
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else f"Error {status}"
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        message, code = f"{phrase}.", None
    return APIError(status, message, type=type_, code=code)


# --- parsing ---------------------------------------------------------------------------------------

_FLAGS = {"hang", "reset", "malformed"}
_ALIASES = {"retry-after": "retry_after", "sse-error": "sse_error", "error": "sse_error", "delay": "latency"}


_LONGEST_MS = 600_000  # latency and drip: ten minutes is already "forever" for a test; "hang" is the real thing

# The longest spec read: the longest useful one is about 40 characters. It bounds the parse cache by
# bytes (256 entries of at most this), and what the journal keeps of a spec.
MAX_SPEC_CHARS = 200


def _number(name: str, value: str | None, *, integer: bool = False, minimum: float = 0, maximum: float = 1e9) -> Any:
    if value is None:
        raise FaultSpecError(f"'{name}' needs a value, e.g. {name}=1")
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise FaultSpecError(f"'{name}' must be {'an integer' if integer else 'a number'}, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise FaultSpecError(f"'{name}' must be between {minimum:g} and {maximum:g}, got {value!r}")
    return number


def parse(spec: str) -> Fault:
    """The ``Fault`` a spec describes, or ``FaultSpecError`` saying what is wrong with it."""
    if len(spec) > MAX_SPEC_CHARS:
        raise FaultSpecError(f"the fault spec is {len(spec)} characters long; the most accepted is {MAX_SPEC_CHARS}")
    return _parse(spec)


@lru_cache(maxsize=256)
def _parse(spec: str) -> Fault:
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    items = [item.strip() for item in spec.replace(",", ";").split(";") if item.strip()]
    if not items:
        raise FaultSpecError("the fault spec is empty")
    for item in items:
        name, has_value, value = item.partition("=")
        name = name.strip().lower()
        name = _ALIASES.get(name, name)
        value = value.strip() if has_value else None
        if name.isdigit():
            name, value = "status", name
        if name in seen:
            raise FaultSpecError(f"'{name}' is given twice")
        seen.add(name)
        if name == "status":
            fields["status"] = _number(name, value, integer=True, minimum=400, maximum=599)
        elif name == "retry_after":
            fields["retry_after"] = _number(name, value)
        elif name == "latency":
            fields["latency_ms"] = _number(name, value, maximum=_LONGEST_MS)
        elif name in _FLAGS:
            if value is not None:
                raise FaultSpecError(f"'{name}' takes no value")
            fields[name] = True
        elif name == "cut":
            fields["cut_after"] = 0 if value is None else _number(name, value, integer=True)
        elif name == "sse_error":
            fields["error_after"] = 0 if value is None else _number(name, value, integer=True)
        elif name == "drip":
            fields["drip_ms"] = _number(name, value, maximum=_LONGEST_MS)
        else:
            raise FaultSpecError(
                f"unknown fault {name!r}; known: a status such as 503, retry_after, latency, hang, reset, "
                "malformed, cut, sse_error, drip"
            )
    # A status may name the envelope of an SSE error event; otherwise each of these ends a request its own way.
    endings = [n for n in ("status", "hang", "reset", "malformed", "cut_after", "error_after") if n in fields]
    if endings == ["status", "error_after"]:
        endings = ["error_after"]
    if len(endings) > 1:
        raise FaultSpecError(f"choose one of {', '.join(endings)}; they end a request in different ways")
    if "retry_after" in fields and ("status" not in fields or "error_after" in fields):
        raise FaultSpecError("retry_after goes with a status, e.g. '429; retry_after=1'")
    if "drip_ms" in fields and any(n in fields for n in ("status", "hang", "reset")):
        raise FaultSpecError("drip slows a stream; it cannot go with a status, hang or reset")
    return Fault(spec="; ".join(items), **fields)


def invalid_fault(detail: str) -> APIError:
    return APIError(400, f"Invalid X-Mock-Fault header: {detail}.", param=None, code="invalid_fault")


def from_header(scope: Scope) -> Fault | None:
    raw = header(scope, FAULT_HEADER)
    if raw is None:
        return None
    try:
        return parse(raw.decode("latin-1"))
    except FaultSpecError as exc:
        raise invalid_fault(str(exc)) from None


# --- queued faults ("the next 2 requests get 503") -----------------------------------------------------


@dataclass(frozen=True)
class QueuedFault:
    id: str
    fault: Fault
    remaining: int
    model: str | None = None  # only requests for this model take it

    def takes(self, *, stream: bool, model: str) -> bool:
        if self.model is not None and self.model != model:
            return False
        return stream or not self.fault.streams_only

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "fault": self.fault.spec, "remaining": self.remaining, "model": self.model}


class FaultStore(Protocol):
    """Where queued faults live: this process, or Redis (so every worker counts down one queue)."""

    async def push(self, fault: Fault, count: int, model: str | None) -> QueuedFault: ...

    async def take(self, *, stream: bool, model: str) -> Fault | None: ...

    async def list(self) -> list[QueuedFault]: ...

    async def clear(self) -> int: ...


class MemoryFaults:
    """Queued faults of this process, first in first out; each request takes one use of the first that
    matches it."""

    def __init__(self) -> None:
        self._queue: list[QueuedFault] = []
        self._ids = itertools.count(1)

    async def push(self, fault: Fault, count: int, model: str | None) -> QueuedFault:
        queued = QueuedFault(id=f"fault_{next(self._ids)}", fault=fault, remaining=count, model=model)
        self._queue.append(queued)
        return queued

    async def take(self, *, stream: bool, model: str) -> Fault | None:
        if not self._queue:  # the common case: nothing queued
            return None
        for i, queued in enumerate(self._queue):
            if queued.takes(stream=stream, model=model):
                if queued.remaining <= 1:
                    del self._queue[i]
                else:
                    self._queue[i] = replace(queued, remaining=queued.remaining - 1)
                return queued.fault
        return None

    async def list(self) -> list[QueuedFault]:
        return list(self._queue)

    async def clear(self) -> int:
        count = len(self._queue)
        self._queue.clear()
        return count


# --- applying ---------------------------------------------------------------------------------------


class Faults:
    """The fault step of the pipeline: which fault, if any, a request gets, and the parts of it that
    come before an answer."""

    def __init__(self, store: FaultStore) -> None:
        self.store = store

    async def pick(self, scope: Scope, *, stream: bool, model: str) -> Fault | None:
        """The request's own header wins; otherwise the first queued fault that matches it."""
        fault = from_header(scope)
        if fault is None:
            try:
                fault = await self.store.take(stream=stream, model=model)
            except STORAGE_ERRORS:  # no fault is better than a failed request the test did not ask for
                scope[STORAGE_FAILED_KEY] = True  # logged once per outage (perceptron_mock.storage.Outage)
                return None
            if fault is None:
                return None
        elif fault.streams_only and not stream:
            raise invalid_fault(f"'{fault.spec}' applies to streamed requests (\"stream\": true) only")
        return fault


async def begin(fault: Fault, scope: Scope, receive: Receive) -> None:
    """Apply what comes before an answer: latency, then a status, a hang or a reset (which end the
    request by raising). Returns when the request should be answered."""
    scope[FAULT_KEY] = fault.spec  # for the journal, wherever the fault came from
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.status is not None and fault.error_after is None:
        raise fault.error()
    if fault.hang:
        await until_disconnect(receive)
        raise ClientDisconnected
    if fault.reset:
        await reset_connection(scope, receive)
        raise ClientDisconnected


async def until_disconnect(receive: Receive) -> None:
    """Wait until the client goes away (the body has been read, so the next message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _transport(scope: Scope) -> Any:
    # uvicorn's receive is a bound method of its request cycle, which holds the connection's transport.
    receive = scope.get(RECEIVE_KEY)
    cycle = getattr(receive, "__self__", None)
    return getattr(cycle, "transport", None)


async def reset_connection(scope: Scope, receive: Receive) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    transport = _transport(scope)
    if transport is None:
        raise RuntimeError("a connection reset needs uvicorn (the server's transport was not found)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server see the connection is gone, so it does not try to answer it.
    await until_disconnect(receive)


def answer_send(fault: Fault, scope: Scope, receive: Receive, send: Send) -> Send:
    """For a non-streamed answer: a ``send`` that delivers it malformed (JSON cut in half, a valid HTTP
    message) or cut (half the declared body, then the connection drops)."""
    if not (fault.malformed or fault.cut_after is not None):
        return send
    held: dict[str, Message] = {}

    async def faulty_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            held["start"] = message
            return
        if message["type"] != "http.response.body" or "start" not in held:
            await send(message)
            return
        start, body = held.pop("start"), message.get("body", b"")
        half = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start.get("headers", ()) if k != b"content-length"]
        if fault.malformed:
            headers.append((b"content-length", str(len(half)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": half})
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": half, "more_body": True})
        await reset_connection(scope, receive)
        raise ClientDisconnected

    return faulty_send


def stream_delivery(fault: Fault, delivery: Delivery) -> Delivery:
    """The ``Delivery`` that carries a stream fault through the SSE renderer."""
    if fault.drip_ms:
        delivery = replace(delivery, pacing=Pacing(first_token_ms=fault.drip_ms, tokens_per_second=1000 / fault.drip_ms))
    if fault.cut_after is not None:
        delivery = replace(delivery, stop_after=fault.cut_after, drop_connection=True)
    if fault.error_after is not None:
        error = status_error(fault.status) if fault.status is not None else None
        delivery = replace(delivery, error_after=fault.error_after, error=error)
    return delivery


def _cut_json(event: bytes) -> bytes:
    payload = event[len(b"data: ") : -2]
    return b"data: " + payload[: len(payload) // 2] + b"\n\n"


def stream_events(fault: Fault, events: StreamEvents) -> StreamEvents:
    """For ``malformed``: the first event after the role chunk (a token, or the finish chunk when there
    is none) has its JSON cut in half; the SSE framing stays intact, so it is the client's JSON parser
    that chokes."""
    if not fault.malformed:
        return events
    tokens = iter(events.tokens)
    first = next(tokens, None)
    if first is None:
        return replace(events, tail=(_cut_json(events.tail[0]), *events.tail[1:]))
    return replace(events, tokens=itertools.chain((_cut_json(first),), tokens))


def stream_app(fault: Fault, app: ASGIApp) -> ASGIApp:
    """For ``cut``: the stream app, made to drop the connection (RST) when it stops mid-body, so the
    server does not take the unfinished response for a bug of its own."""
    if fault.cut_after is None:
        return app

    async def dropping(scope: Scope, receive: Receive, send: Send) -> None:
        ended = False

        async def watching_send(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        await app(scope, receive, watching_send)
        if not ended:
            await reset_connection(scope, receive)

    return dropping
