"""The streamed answer: ``chat.completion.chunk`` events over SSE, framed as the service frames them.

``stream_events`` says what is said (a pure function); ``CompletionStream`` delivers it through
sse-starlette as its ``Delivery`` asks (docs: "Streaming" shows the wire format and why).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass, replace
from typing import AsyncIterator, Iterable, Iterator

import orjson
from sse_starlette import EventSourceResponse

from perceptron_mock.accounting import tokens
from perceptron_mock.answers import pacing
from perceptron_mock.answers.answer import Completion
from perceptron_mock.asgi import ChunkWriter, Receive, Scope, Send, reset_connection
from perceptron_mock.exchange import Exchange
from perceptron_mock.protocol.errors import APIError, server_error
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.json import usage_of
from perceptron_mock.render.pacer import DONE, PING, YIELD_EVERY, Pacer, TickWriter

log = logging.getLogger("perceptron_mock")

SEP = "\n"  # OpenAI and Perceptron frame with LF; sse-starlette's default is CRLF
CONTENT_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")


async def sleep_until(when: float) -> None:
    """Wait until the event loop's clock reads ``when``."""
    await asyncio.sleep(when - asyncio.get_running_loop().time())


def _frame(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def error_event(error: APIError) -> bytes:
    """A mid-stream failure, as OpenAI sends it: one data event whose JSON has a top-level ``error``.

    Encoded with ``json.dumps``'s spaced separators, byte for byte like the captured original."""
    return b"data: " + json.dumps(error.envelope()).encode() + b"\n\n"


# --- what is said -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamEvents:
    """The data events of one stream, in order: ``head``, then ``tokens``, then ``tail``."""

    head: bytes  # the role chunk
    tokens: Iterator[bytes]  # one event per token: reasoning first, then content; encoded lazily
    tail: tuple[bytes, ...]  # the finish chunk (with usage when asked) and [DONE]


def chunk(*, id: str, created: int, model: str, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _token_events(
    prefix: bytes, field: str, text: str | None, ids: tuple[int, ...], suffix: bytes
) -> Iterator[bytes]:
    if not text:
        return
    # The chunk around a delta never changes, so it is encoded once and each token is spliced in;
    # tests check the result equals encoding the whole chunk. The ids fit() counted give the pieces
    # without encoding the text again (a Completion built elsewhere has none: split it).
    head = prefix + b'{"' + field.encode() + b'":'
    for piece in tokens.pieces_of(list(ids)) if ids else tokens.split(text):
        yield head + orjson.dumps(piece) + suffix


def _tokens(completion: Completion, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
    yield from _token_events(prefix, "reasoning_content", completion.reasoning, completion.reasoning_ids, suffix)
    yield from _token_events(prefix, "content", completion.content, completion.content_ids, suffix)
    if completion.tool_calls:
        yield from _tool_call_events(completion, prefix, suffix)


def _tool_call_events(completion: Completion, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
    """Each call as the service streams it: a first fragment with its index, id, type and name (sent once:
    the openai SDK concatenates repeated strings), then its arguments one token a fragment."""
    for index, (call_id, name, arguments) in enumerate(completion.tool_calls):
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        yield prefix + orjson.dumps({"tool_calls": [first]}) + suffix[1:]
        head = prefix + b'{"tool_calls":[{"index":' + str(index).encode() + b',"function":{"arguments":'
        for piece in tokens.split(arguments):
            yield head + orjson.dumps(piece) + b"}}]" + suffix


def stream_events(completion: Completion, *, id: str, created: int, model: str, include_usage: bool) -> StreamEvents:
    """The events that stream ``completion``: its deltas joined give the JSON answer back."""
    # OpenAI's first delta carries an empty content beside the role: clients print content from it
    # (null when the answer is tool calls alone, as the JSON answer's content is).
    content = None if completion.tool_calls and not completion.content else ""
    head = _frame(chunk(id=id, created=created, model=model, delta={"role": "assistant", "content": content}))
    template = _frame(chunk(id=id, created=created, model=model, delta={}))
    prefix, suffix = template.split(b"{}", 1)  # the first "{}" is the delta: id and model are JSON strings
    suffix = b"}" + suffix  # closes the one-field delta spliced in by _token_events
    last = chunk(id=id, created=created, model=model, delta={}, finish_reason=completion.finish_reason)
    if include_usage:
        # The Perceptron reference: usage rides on the finish_reason chunk, right before [DONE]
        # (OpenAI sends a separate chunk with empty choices instead).
        last["usage"] = usage_of(completion)
    return StreamEvents(head=head, tokens=_tokens(completion, prefix, suffix), tail=(_frame(last), DONE))


# --- how it is delivered ------------------------------------------------------------------------


def _cut_json(event: bytes) -> bytes:
    payload = event[len(b"data: ") : -2]
    return b"data: " + payload[: len(payload) // 2] + b"\n\n"


def _malformed(events: StreamEvents) -> StreamEvents:
    """The first event after the role chunk (a token, or the finish chunk when there is none) with its
    JSON cut in half; the SSE framing stays intact, so that it is the client's JSON parser that chokes."""
    tokens = iter(events.tokens)
    first = next(tokens, None)
    if first is None:
        return replace(events, tail=(_cut_json(events.tail[0]), *events.tail[1:]))
    return replace(events, tokens=itertools.chain((_cut_json(first),), tokens))


def _ending_with(pacer: Pacer, per_write: int, last: bytes) -> Iterator[bytes]:
    """The writes that end a stream with ``last`` (an error event): it goes with the events ready, in a
    write of its own if they fill one already."""
    if len(pacer.ready) >= per_write:
        yield pacer.drain()
    yield pacer.drain() + last


class StreamDropped(Exception):
    """Raised by a delivery that must end with a dropped connection rather than an ended body."""


class CompletionStream(EventSourceResponse):
    """sse-starlette's response (its disconnect listener and shutdown handling unchanged), with the
    service's framing and headers, and a delivery loop that paces, keeps alive and interrupts."""

    def __init__(
        self,
        events: StreamEvents,
        *,
        delivery: Delivery = Delivery(),
        keepalive: float = 15.0,
        headers: Iterable[tuple[bytes, bytes]] = (),
        exchange: Exchange | None = None,  # given, a dropped connection is reset through its server receive
    ) -> None:
        if delivery.malformed:
            events = _malformed(events)
        self.exchange = exchange
        self.delivery = delivery
        paced = delivery.pacing.paced
        # Paced events are written by the ticker straight to the connection when the server allows it.
        writer = ChunkWriter.of(exchange.receive, exchange.body_tap) if paced and exchange and delivery.ticker else None
        super().__init__(
            # Keep-alives are written by the delivery, between events (never after [DONE]), and only
            # for a paced stream: an unpaced one is written as fast as the client reads.
            self._deliver(events, delivery, writer, keepalive if paced else 0.0),
            ping=0,
            sep=SEP,
        )
        # sse-starlette adds cache-control, connection and x-accel-buffering, which the service
        # does not send: a fingerprint. Starlette's charset suffix matches the service's header.
        self.raw_headers = [CONTENT_TYPE, *headers]

    async def _send_with_timeout(self, send: Send, message: dict) -> None:
        # sse-starlette wraps every send in an anyio cancel scope even with no timeout set; that
        # scope was the largest per-event cost in the profile (docs/streaming.md, performance).
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        observer = self.delivery.observer
        if observer is not None:
            observer.opened()
        try:
            await self._run(scope, receive, send)
        except StreamDropped:
            # A reset (RST), so that the server does not take the unfinished response for a bug of its
            # own; without the exchange, returning without ending the body makes it close the connection.
            if self.exchange is not None:
                await reset_connection(self.exchange.receive, receive)
        finally:
            if observer is not None:
                observer.closed()

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """sse-starlette's tasks (stream, shutdown and disconnect listeners; the first to finish
        ends the others) on plain asyncio tasks: its anyio task group cost more per stream than the
        stream's events (docs/benchmarks.md, timing). The stream runs in the calling task."""
        if scope["type"] != "http" or scope["method"] == "HEAD":
            await super().__call__(scope, receive, send)
            return
        stream = asyncio.current_task()
        assert stream is not None
        ended: list[BaseException | None] = []  # set once a helper task ended the stream (or it ended)

        def end(task: asyncio.Task) -> None:
            if not ended:
                ended.append(None if task.cancelled() else task.exception())
                stream.cancel()

        # No ping task: keep-alives are the delivery's (``_deliver``).
        helpers = [
            asyncio.ensure_future(self._listen_for_disconnect(receive)),
            asyncio.ensure_future(self._listen_for_exit_signal_with_grace()),
        ]
        for task in helpers:
            task.add_done_callback(end)
        try:
            await self._stream_response(send)
        except asyncio.CancelledError:
            if not ended or stream.cancelling() > 1:
                raise
            stream.uncancel()
            if ended[0] is not None:
                raise ended[0] from None
        finally:
            ended.append(None)  # a helper that ends from now on no longer cancels this task
            for task in helpers:
                task.cancel()
            await asyncio.wait(helpers)
        if self.background is not None:
            await self.background()

    @staticmethod
    async def _deliver(
        events: StreamEvents, delivery: Delivery, writer: ChunkWriter | None = None, keepalive: float = 0.0
    ) -> AsyncIterator[bytes]:
        """The events as they fall due (``Pacer``), then the interruption the delivery asks for. Events due
        at the same moment go out together, up to ``events_per_write`` in one write; a keep-alive after
        ``keepalive`` seconds without a write. A paced stream with a ``writer`` and a ticker is written by
        the ticker (``TickWriter``) while this waits."""
        limit = min((n for n in (delivery.stop_after, delivery.error_after) if n is not None), default=-1)
        plan = pacing.schedule(delivery.pacing, prompt_tokens=delivery.prompt_tokens, seed=delivery.seed)
        ticker = delivery.ticker
        per_write = delivery.events_per_write
        loop = asyncio.get_running_loop()
        pacer = Pacer(
            itertools.chain((events.head,), events.tokens, events.tail),
            plan, start=loop.time(), limit=limit, observer=delivery.observer,
        )
        unpaused = 0  # events written since the loop last ran
        try:
            if pacer.paced and writer is not None and ticker is not None:
                driver = TickWriter(pacer, writer, ticker, per_write, keepalive)
                try:
                    await driver.done
                finally:
                    driver.cancel()
            waited = 0.0
            while True:
                pacer.take(loop.time(), per_write, waited=waited)
                if pacer.interrupted:
                    break
                if pacer.ready:
                    yield pacer.drain()
                    pacer.written_at = loop.time()
                if pacer.ended:
                    break
                if pacer.due > loop.time() and pacer.paced:
                    wake, ping = pacer.wake(keepalive)
                    unpaused = 0
                    await (sleep_until(wake) if ticker is None else ticker.sleep_until(wake))
                    if ping:
                        yield PING
                        pacer.written_at, waited = loop.time(), 0.0
                    else:
                        waited = wake
                else:
                    unpaused += per_write
                    if unpaused >= YIELD_EVERY:
                        await asyncio.sleep(0)
                        unpaused = 0
        except Exception:
            # Headers are out, so a status can no longer say it: tell the client in the stream.
            log.exception("stream failed after %d events", pacer.sent)
            for data in _ending_with(pacer, per_write, error_event(server_error())):
                yield data
            return
        if not pacer.interrupted:
            return
        # Interrupted after ``limit`` events, as the delivery asked.
        if pacer.sent == delivery.error_after:
            for data in _ending_with(pacer, per_write, error_event(delivery.error or server_error())):
                yield data
            return
        if pacer.ready:
            yield pacer.drain()
        if delivery.drop_connection:
            raise StreamDropped
