"""A paced stream's two drivers write the same events at the same moments: the stream's own task sending
through ASGI, and the ticker writing straight to the connection (perceptron_mock.render.pacer)."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from perceptron_mock.answers.answer import Completion, Pacing
from perceptron_mock.answers.pacing import schedule
from perceptron_mock.asgi import ChunkWriter
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.pacer import Pacer, TickWriter
from perceptron_mock.render.sse import CompletionStream, stream_events
from perceptron_mock.render.ticker import Ticker
from tests.helpers import MODEL, ThreadedServer, sse_frames

TEXT = "one two three four five"  # 5 tokens: 8 events with the role chunk, the finish chunk and [DONE]
FIXED = Pacing(first_token_ms=250, tokens_per_second=4)
JITTERED = Pacing(first_token_ms=300, first_token_sd_ms=80, distribution="lognormal", tokens_per_second=20, token_jitter_ms=15)


def events(text: str = TEXT):
    completion = Completion(content=text, reasoning=None, finish_reason="stop", prompt_tokens=4, completion_tokens=0)
    stream = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)
    return itertools.chain((stream.head,), stream.tokens, stream.tail)


class ManualTicker:
    """A ticker on a virtual clock, whose ticks ``run`` fires in order of their times."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[list] = []

    def call_at(self, when: float, callback):
        call = [when, callback]
        self.calls.append(call)

        class Handle:
            def cancel(_) -> None:
                if call in self.calls:
                    self.calls.remove(call)

        return Handle()

    async def sleep_until(self, when: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self.call_at(when, lambda: woken.set_result(None))
        await woken

    def run(self) -> None:
        while self.calls:
            self.fire_next()

    def fire_next(self) -> None:
        call = min(self.calls, key=lambda c: c[0])
        self.calls.remove(call)
        self.now = max(self.now, call[0])
        call[1]()

    async def pump(self) -> None:
        """Fire the ticks as the tasks ask for them, forever (cancelled by the test)."""
        while True:
            await asyncio.sleep(0)
            if self.calls:
                self.fire_next()


class Connection:
    """A ChunkWriter's stand-in: keeps (time, events) of each write; refuses the writes after ``accept``."""

    def __init__(self, clock: ManualTicker, accept: int = 10**9) -> None:
        self.clock, self.accept, self.writes = clock, accept, []

    def write(self, body: bytes) -> bool:
        if len(self.writes) >= self.accept:
            return False
        self.writes.append((self.clock.now, len(sse_frames(body))))
        return True


def on_the_ticker(pacing: Pacing, seed: int = 0) -> list[tuple[float, int]]:
    async def scenario() -> list[tuple[float, int]]:
        clock = ManualTicker()
        connection = Connection(clock)
        pacer = Pacer(events(), schedule(pacing, seed=seed), start=0.0)
        asyncio.get_running_loop().time = lambda: clock.now
        writer = TickWriter(pacer, connection, clock, most=64)  # type: ignore[arg-type]
        clock.run()
        await writer.done
        assert pacer.ended and not pacer.interrupted and not pacer.ready
        return connection.writes

    return asyncio.run(scenario())


def test_the_ticker_writes_the_role_chunk_with_the_first_token_then_one_event_per_gap():
    assert on_the_ticker(FIXED) == [(0.25, 2), (0.5, 1), (0.75, 1), (1.0, 1), (1.25, 1), (1.5, 2)]  # [DONE] with the finish


@pytest.mark.parametrize("seed", [1, 2])
def test_the_ticker_follows_a_drawn_schedule_as_the_task_does(seed):
    plan = schedule(JITTERED, seed=seed)
    gaps = list(itertools.islice(plan.gaps(), 5))
    due = [plan.first + sum(gaps[:k]) for k in range(6)]
    expected = [(due[0], 2), *((t, 1) for t in due[1:5]), (due[5], 2)]
    assert on_the_ticker(JITTERED, seed) == [(pytest.approx(t), n) for t, n in expected]


def test_a_limit_at_the_streams_length_is_no_interruption():
    pacer = Pacer(events(), schedule(Pacing()), start=0.0, limit=8)
    pacer.take(0.0, 64)
    assert pacer.ended and not pacer.interrupted and len(pacer.ready) == 8


def test_a_limit_short_of_the_length_interrupts_after_that_many_events():
    pacer = Pacer(events(), schedule(FIXED), start=0.0, limit=3)
    pacer.take(10.0, 64)  # long past every due time
    assert pacer.ended and pacer.interrupted and len(pacer.ready) == 3


def test_an_event_is_not_taken_before_it_is_due_unless_the_driver_waited_for_it():
    pacer = Pacer(events(), schedule(FIXED), start=0.0)
    pacer.take(0.2499, 64)
    assert pacer.ready == []
    pacer.take(0.2499, 64, waited=0.25)  # a tick rounds to the nearest: half a tick early at most
    assert len(pacer.ready) == 2 and pacer.due == pytest.approx(0.5)


def deliver(pacing: Pacing, writer=None, error_after: int | None = None) -> tuple[list[bytes], list[bytes]]:
    """(written straight, sent through ASGI) of one stream of TEXT, on a virtual clock."""

    async def scenario():
        clock, sent = ManualTicker(), []
        asyncio.get_running_loop().time = lambda: clock.now
        pump = asyncio.ensure_future(clock.pump())
        delivery = Delivery(pacing=pacing, ticker=clock, error_after=error_after)  # type: ignore[arg-type]
        completion = Completion(content=TEXT, reasoning=None, finish_reason="stop", prompt_tokens=4, completion_tokens=0)
        stream = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)
        async for chunk in CompletionStream._deliver(stream, delivery, writer):
            sent.append(chunk)
        pump.cancel()
        return sent

    sent = asyncio.run(asyncio.wait_for(scenario(), timeout=20))  # a watchdog, not a timing check
    return (writer.bodies if writer else []), sent


class Refusing:
    """Takes ``accept`` writes, then refuses (a client reading slower than the stream writes)."""

    def __init__(self, accept: int) -> None:
        self.accept, self.bodies = accept, []

    def write(self, body: bytes) -> bool:
        if len(self.bodies) >= self.accept:
            return False
        self.bodies.append(body)
        return True


FAST = Pacing(first_token_ms=5, tokens_per_second=1000)


def test_once_the_connection_refuses_a_write_the_task_sends_the_rest_each_event_once_in_order():
    _, through_asgi = deliver(FAST)
    straight, rest = deliver(FAST, Refusing(accept=2))
    assert len(straight) == 2 and rest
    assert sse_frames(b"".join(straight + rest)) == sse_frames(b"".join(through_asgi))


def test_an_error_after_n_events_goes_out_with_the_events_before_it_in_one_write():
    straight, sent = deliver(FAST, Refusing(accept=10**9), error_after=3)
    assert len(straight) == 1 and len(sse_frames(straight[0])) == 2  # role chunk and first token
    assert len(sent) == 1 and b'"error"' in sent[0] and len(sse_frames(sent[0])) == 2  # token 2, then the error


def test_the_chunk_writer_writes_through_uvicorns_own_connection():
    tapped: list[bytes] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        writer = ChunkWriter.of(receive, tapped.append)
        assert writer is not None
        assert writer.write(b"one ") and writer.write(b"two")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    server = ThreadedServer(app)
    with server.running():
        response = httpx.get(f"http://127.0.0.1:{server.port}/", timeout=10)
    assert response.status_code == 200 and response.headers["transfer-encoding"] == "chunked"
    assert response.content == b"one two" and tapped == [b"one ", b"two"]


def test_under_another_server_there_is_no_chunk_writer_and_the_stream_uses_asgi():
    async def receive():
        return {"type": "http.request", "body": b""}

    assert ChunkWriter.of(receive) is None and ChunkWriter.of(None) is None


def test_a_stream_cancelled_while_its_tick_is_due_does_not_disturb_the_others_in_that_tick():
    # Cancelling the stream's task cancels the future it awaits at once, but the task forgets its tick
    # only when it next runs: a tick firing in between must skip it, and still write the others.
    async def scenario() -> tuple[int, int]:
        ticker = Ticker(0.001)
        loop = asyncio.get_running_loop()
        plan = schedule(Pacing(first_token_ms=20, tokens_per_second=100))
        first, second = Refusing(10**9), Refusing(10**9)
        leaving = TickWriter(Pacer(events(), plan, start=loop.time()), first, ticker, 64)  # type: ignore[arg-type]
        staying = TickWriter(Pacer(events(), plan, start=loop.time()), second, ticker, 64)  # type: ignore[arg-type]
        leaving.done.cancel()  # its task was cancelled; leaving.cancel() has not run yet
        await staying.done
        return len(first.bodies), len(second.bodies)

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) == (0, 6)


def test_a_backlog_goes_out_64_events_a_turn_and_the_next_event_still_waits_for_its_time():
    async def scenario() -> list[tuple[float, int]]:
        clock = ManualTicker()
        connection = Connection(clock)
        asyncio.get_running_loop().time = lambda: clock.now
        pacer = Pacer(events(" ".join(["word"] * 150)), schedule(Pacing(first_token_ms=1000, tokens_per_second=1)), start=0.0)
        TickWriter(pacer, connection, clock, most=1)  # type: ignore[arg-type]
        clock.now = 63.5  # the worker fell behind: the first tick (due at 1 s) fires at 63.5 s
        clock.fire_next()
        for _ in range(10):
            await asyncio.sleep(0)  # the turns the backlog is written in
        return connection.writes

    writes = asyncio.run(scenario())
    # The role chunk and tokens 1-63 (due at 1..63 s): 64 writes, the last of a turn; token 64 waits for 64 s.
    assert len(writes) == 64 and {t for t, _ in writes} == {63.5}
