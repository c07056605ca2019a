"""A paced stream whose events fall due together (a first-token wait and no rate, or a late tick) lets the
event loop run every 64 events while the tick writes them, as the stream's own task does: other streams,
new requests and a client's disconnect are not held up by one long answer (perceptron_mock.render.pacer)."""

from __future__ import annotations

import asyncio
from collections import Counter

import uvloop

from perceptron_mock.answers.answer import Completion, Pacing
from perceptron_mock.answers.pacing import schedule
from perceptron_mock.render.pacer import Pacer, TickWriter
from perceptron_mock.render.sse import stream_events
from perceptron_mock.render.ticker import Ticker
from tests.helpers import MODEL, sse_frames

LONG = " ".join(f"word{i}" for i in range(400))


def writes_between_other_work(pacing: Pacing, per_write: int) -> tuple[Counter, int]:
    """Events the tick wrote between two runs of another task (keyed by that task's run count), and
    the stream's length in events."""
    completion = Completion(content=LONG, reasoning=None, finish_reason="stop", prompt_tokens=4, completion_tokens=0)
    stream = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)
    events = [stream.head, *stream.tokens, *stream.tail]

    async def scenario() -> Counter:
        loop = asyncio.get_running_loop()
        runs, written, finished = 0, Counter(), False

        class Connection:
            def write(self, body: bytes) -> bool:
                written[runs] += len(sse_frames(body))
                return True

        async def other_work() -> None:
            nonlocal runs
            while not finished:
                runs += 1
                await asyncio.sleep(0)

        other = asyncio.ensure_future(other_work())
        pacer = Pacer(iter(events), schedule(pacing), start=loop.time())
        writer = TickWriter(pacer, Connection(), Ticker(0.001), per_write)  # type: ignore[arg-type]
        await writer.done
        finished = True
        await other
        return written

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        written = runner.run(asyncio.wait_for(scenario(), timeout=20))  # a watchdog, not a timing check
    return written, len(events)


def test_a_backlog_the_tick_writes_lets_the_event_loop_run_every_64_events():
    for per_write in (64, 1):
        written, total = writes_between_other_work(Pacing(first_token_ms=5), per_write)
        assert sum(written.values()) == total > 600  # every event, once
        assert max(written.values()) <= 64, (per_write, sorted(written.values())[-3:])

