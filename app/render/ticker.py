"""``Ticker``: one timer for all the paced streams of an event loop, instead of one per stream and event.

A stream waits for the tick nearest its event's due time (a future to await, or a plain callback); each
tick wakes every stream due then, in one callback. libuv's timers count whole milliseconds anyway, so
a 1 ms tick costs no precision.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

log = logging.getLogger("perceptron_mock")


class _Slot:
    __slots__ = ("handle", "calls")

    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle
        self.calls: dict[TickCall, None] = {}  # an ordered set: called in the order they came


class TickCall:
    """A callback waiting for a tick; ``cancel()`` forgets it at once."""

    __slots__ = ("callback", "_ticker", "_tick")

    def __init__(self, callback: Callable[[], None], ticker: "Ticker", tick: int) -> None:
        self.callback, self._ticker, self._tick = callback, ticker, tick

    def cancel(self) -> None:
        self._ticker._forget(self._tick, self)


class Ticker:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution  # seconds between ticks
        self._slots: dict[int, _Slot] = {}  # tick number -> the streams waiting for it

    def _slot(self, when: float) -> tuple[int, _Slot]:
        tick = round(when / self.resolution)
        slot = self._slots.get(tick)
        if slot is None:
            loop = asyncio.get_running_loop()
            slot = self._slots[tick] = _Slot(loop.call_at(tick * self.resolution, self._fire, tick))
        return tick, slot

    def call_at(self, when: float, callback: Callable[[], None]) -> TickCall:
        """Call ``callback`` (which must not raise) at the tick nearest ``when``."""
        tick, slot = self._slot(when)
        call = TickCall(callback, self, tick)
        slot.calls[call] = None
        return call

    async def sleep_until(self, when: float) -> None:
        """Wait for the tick nearest ``when`` (on the running loop's clock)."""
        woken = asyncio.get_running_loop().create_future()
        call = self.call_at(when, lambda: woken.done() or woken.set_result(None))
        try:
            await woken
        except asyncio.CancelledError:
            # The client left: nothing of this stream may wait on (a gap can be a minute long).
            call.cancel()
            raise

    def _forget(self, tick: int, call: TickCall) -> None:
        slot = self._slots.get(tick)
        if slot is None:
            return
        slot.calls.pop(call, None)
        if not slot.calls:
            slot.handle.cancel()
            del self._slots[tick]

    def _fire(self, tick: int) -> None:
        slot = self._slots.pop(tick, None)
        if slot is None:
            return
        for call in slot.calls:
            try:
                call.callback()
            except Exception:  # a broken callback must not keep the others of its tick waiting forever
                log.exception("a paced stream's tick failed")

    @property
    def waiting(self) -> int:
        """Streams waiting for a tick."""
        return sum(len(slot.calls) for slot in self._slots.values())
