"""The shared tick that wakes paced streams: every waiter wakes, in order, and one that is cancelled
(its client left) leaves nothing behind (perceptron_mock.render.ticker)."""

from __future__ import annotations

import asyncio

import pytest

from perceptron_mock.render.ticker import Ticker


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))  # a watchdog, not a timing check


def test_streams_due_in_the_same_tick_all_wake_in_the_order_they_waited():
    async def scenario() -> list[int]:
        ticker, woken = Ticker(0.001), []
        due = asyncio.get_running_loop().time() + 0.02

        async def stream(n: int) -> None:
            await ticker.sleep_until(due)
            woken.append(n)

        await asyncio.gather(*(stream(n) for n in range(200)))
        assert ticker.waiting == 0 and not ticker._slots
        return woken

    assert run(scenario()) == list(range(200))


def test_a_stream_never_wakes_before_the_tick_nearest_its_due_time():
    async def scenario() -> float:
        ticker = Ticker(0.005)
        loop = asyncio.get_running_loop()
        due = loop.time() + 0.03
        await ticker.sleep_until(due)
        return loop.time() - due

    assert run(scenario()) >= -0.0025 - 0.001  # half a tick early at most (libuv rounds to whole ms)


def test_a_cancelled_waiter_is_forgotten_at_once_and_the_others_still_wake():
    async def scenario() -> None:
        ticker = Ticker(0.001)
        loop = asyncio.get_running_loop()
        far = loop.time() + 60  # a gap of a minute: nothing may wait that long for a gone client
        alone = asyncio.ensure_future(ticker.sleep_until(far))
        near = loop.time() + 0.02
        leaving = asyncio.ensure_future(ticker.sleep_until(near))
        staying = asyncio.ensure_future(ticker.sleep_until(near))
        await asyncio.sleep(0)
        assert ticker.waiting == 3
        alone.cancel()
        leaving.cancel()
        for task in (alone, leaving):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert ticker.waiting == 1 and len(ticker._slots) == 1  # the minute-long slot and its timer are gone
        await staying
        assert ticker.waiting == 0 and not ticker._slots

    run(scenario())


def test_callbacks_and_waiters_due_in_one_tick_run_in_that_tick_and_a_cancelled_callback_never_runs():
    async def scenario() -> list[str]:
        ticker, ran = Ticker(0.001), []
        loop = asyncio.get_running_loop()
        due = loop.time() + 0.02
        ticker.call_at(due, lambda: ran.append("first"))
        gone = ticker.call_at(due, lambda: ran.append("cancelled"))
        ticker.call_at(due, lambda: ran.append("second"))
        far = ticker.call_at(loop.time() + 60, lambda: ran.append("a minute later"))
        assert ticker.waiting == 4
        gone.cancel()
        far.cancel()
        assert ticker.waiting == 2 and len(ticker._slots) == 1  # the minute-long slot and its timer are gone
        await ticker.sleep_until(due)
        ran.append("waiter")
        return ran

    assert run(scenario()) == ["first", "second", "waiter"]
