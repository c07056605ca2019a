"""A stream follows the schedule its latency model draws (perceptron_mock.answers.pacing.schedule), on a
clock that only the renderer's own waits move: nothing here depends on the machine's speed."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from perceptron_mock.answers.answer import Completion, Pacing
from perceptron_mock.answers.pacing import schedule
from perceptron_mock.render import sse
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.sse import CompletionStream, stream_events
from tests.helpers import MODEL, sse_frames

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}
DRAWN = Pacing(first_token_ms=300, first_token_sd_ms=80, distribution="lognormal", tokens_per_second=20,
               token_jitter_ms=15, prefill_ms_per_1k=50)


class Watcher:
    """A StreamObserver that keeps what it was told."""

    def __init__(self) -> None:
        self.first: list[tuple[float, float]] = []
        self.gaps: list[tuple[float, float]] = []
        self.open = 0

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open -= 1

    def first_token(self, scheduled: float, delivered: float) -> None:
        self.first.append((scheduled, delivered))

    def token(self, scheduled: float, delivered: float) -> None:
        self.gaps.append((scheduled, delivered))


def deliver_on_a_virtual_clock(monkeypatch, delivery: Delivery, text: str) -> list[tuple[float, int]]:
    """(time, events in the write) of each write of a stream of ``text``."""
    completion = Completion(content=text, reasoning=None, finish_reason="stop", prompt_tokens=4000, completion_tokens=0)
    now = [0.0]
    written: list[tuple[float, int]] = []

    async def virtual_sleep(seconds: float) -> None:
        now[0] += max(seconds, 0.0)

    async def send(message):
        if message["type"] == "http.response.body" and message["body"]:
            written.append((now[0], len(sse_frames(message["body"]))))

    async def receive():
        await asyncio.Event().wait()

    async def run():
        asyncio.get_running_loop().time = lambda: now[0]
        monkeypatch.setattr(sse.asyncio, "sleep", virtual_sleep)
        events = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)
        await CompletionStream(events, delivery=delivery, keepalive=0)(SCOPE, receive, send)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    return written


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_event_is_written_when_the_drawn_schedule_says(monkeypatch, seed):
    watcher = Watcher()
    delivery = Delivery(pacing=DRAWN, prompt_tokens=4000, seed=seed, observer=watcher)
    written = deliver_on_a_virtual_clock(monkeypatch, delivery, "one two three four five")  # 5 tokens
    plan = schedule(DRAWN, prompt_tokens=4000, seed=seed)
    gaps = list(itertools.islice(plan.gaps(), 5))
    due = [plan.first + sum(gaps[:k]) for k in range(6)]  # token 1 (with the role chunk), tokens 2-5, finish
    expected = [(due[0], 2), *((t, 1) for t in due[1:5]), (due[5], 2)]  # [DONE] with the finish chunk
    assert [(pytest.approx(t), n) for t, n in expected] == written
    assert plan.first >= 0.2  # prefill: 4,000 prompt tokens at 50 ms per 1,000
    # What the metrics are told: the schedule, and (on this clock) delivery exactly on it.
    assert watcher.first == [(pytest.approx(plan.first), pytest.approx(plan.first))]
    assert watcher.gaps == [(pytest.approx(g), pytest.approx(g)) for g in gaps]
    assert watcher.open == 0


def test_a_fixed_model_needs_no_seed_and_repeats_exactly(monkeypatch):
    fixed = Pacing(first_token_ms=250, tokens_per_second=4)
    first = deliver_on_a_virtual_clock(monkeypatch, Delivery(pacing=fixed, seed=1), "one two three four")
    second = deliver_on_a_virtual_clock(monkeypatch, Delivery(pacing=fixed, seed=2), "one two three four")
    assert first == second == [(0.25, 2), (0.5, 1), (0.75, 1), (1.0, 1), (1.25, 2)]
