"""How an answer reaches the client: pacing, and what a fault or a fixture does to the delivery.

``before_answer`` applies what comes before any byte is sent (latency, a status, a hang, a reset);
``Delivery`` carries the rest to the renderers (drip, cut, an SSE error event, malformed JSON).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from perceptron_mock.answers.answer import Answer, Pacing
from perceptron_mock.asgi import JSON_HEADERS, ClientDisconnected, Receive, Send, reset_connection, send_bytes, until_disconnect
from perceptron_mock.exchange import Exchange
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.faults import Fault, status_error
from perceptron_mock.render.ticker import Ticker


class StreamObserver(Protocol):
    """What watches streams as they are delivered (the metrics): times in seconds, as scheduled and as
    written; ``token`` is called for paced streams only, with the gap before each further event."""

    def opened(self) -> None: ...

    def first_token(self, scheduled: float, delivered: float) -> None: ...

    def token(self, scheduled: float, delivered: float) -> None: ...

    def closed(self) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """How one answer reaches the client: its pacing, and where (if anywhere) it is interrupted.

    Event counts are data events, ``[DONE]`` included and keep-alives not: ``stop_after=0`` sends
    headers and nothing else; ``stop_after`` one less than the stream's length leaves out ``[DONE]``.
    A non-streamed answer honours ``malformed`` and ``drop_connection`` only (see ``send_completion``).
    """

    pacing: Pacing = Pacing()
    events_per_write: int = 64  # most events due at the same moment that go out in one write
    stop_after: int | None = None  # send this many events, then stop
    drop_connection: bool = False  # on stop, reset the connection mid-body instead of ending the body
    error_after: int | None = None  # send this many events, then ``error`` as an error event, then end
    error: APIError | None = None  # default: the service's generic server error
    malformed: bool = False  # the first token event's JSON (a JSON body: the body) cut in half
    prompt_tokens: int = 0  # what a pacing's prefill stretches the first-token wait by
    seed: int = 0  # draws the schedule of a pacing that is a distribution (perceptron_mock.answers.pacing)
    observer: StreamObserver | None = None
    ticker: Ticker | None = None  # wakes paced streams together; None: each waits on a timer of its own

    @classmethod
    def of(
        cls,
        fault: Fault | None,
        *,
        pacing: Pacing,
        events_per_write: int,
        prompt_tokens: int = 0,
        seed: int = 0,
        observer: StreamObserver | None = None,
        ticker: Ticker | None = None,
    ) -> "Delivery":
        """The delivery of an answer paced by ``pacing`` that ``fault`` (if any) interrupts."""
        if fault is None:
            return cls(pacing, events_per_write, prompt_tokens=prompt_tokens, seed=seed, observer=observer, ticker=ticker)
        if fault.drip_ms:
            pacing = Pacing(first_token_ms=fault.drip_ms, tokens_per_second=1000 / fault.drip_ms)
        error_after = fault.error_after
        return cls(
            pacing=pacing,
            events_per_write=events_per_write,
            prompt_tokens=prompt_tokens,
            seed=seed,
            observer=observer,
            ticker=ticker,
            stop_after=fault.cut_after,
            drop_connection=fault.cut_after is not None,
            error_after=error_after,
            error=status_error(fault.status) if error_after is not None and fault.status is not None else None,
            malformed=fault.malformed,
        )


async def before_answer(fault: Fault | None, answer: Answer, exchange: Exchange, receive: Receive) -> None:
    """Apply what comes before an answer: the fault's latency, then its status, hang or reset (which end
    the request by raising); then the fixture's latency and error. Returns when the answer may go out."""
    if fault is not None:
        exchange.fault = fault.spec  # for the journal, wherever the fault came from
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.status is not None and fault.error_after is None:
            raise fault.error()
        if fault.hang:
            await until_disconnect(receive)
            raise ClientDisconnected
        if fault.reset:
            await reset_connection(exchange.receive, receive)
            raise ClientDisconnected
    if answer.latency_ms:
        await asyncio.sleep(answer.latency_ms / 1000)
    if answer.error is not None:
        raise answer.error


async def send_completion(body: bytes, delivery: Delivery, exchange: Exchange, receive: Receive, send: Send) -> None:
    """A non-streamed answer: whole; ``malformed``, its JSON cut in half in a valid HTTP message; or
    with ``drop_connection``, half the declared body and then a reset."""
    if delivery.malformed:
        await send_bytes(send, 200, body[: max(1, len(body) // 2)], JSON_HEADERS)
        return
    if not delivery.drop_connection:
        await send_bytes(send, 200, body, JSON_HEADERS)
        return
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
    await reset_connection(exchange.receive, receive)
    raise ClientDisconnected
