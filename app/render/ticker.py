"""``Ticker``: one timer for all the paced streams of an event loop, instead of one per stream and event.

A stream waits for the tick nearest its event's due time; each tick wakes every stream due then, in one
callback. libuv's timers count whole milliseconds anyway, so a 1 ms tick costs no precision.
"""

from __future__ import annotations

import asyncio


class _Slot:
    __slots__ = ("handle", "waiters")

    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle
        self.waiters: dict[asyncio.Future, None] = {}  # an ordered set: woken in the order they came


class Ticker:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution  # seconds between ticks
        self._slots: dict[int, _Slot] = {}  # tick number -> the streams waiting for it

    async def sleep_until(self, when: float) -> None:
        """Wait for the tick nearest ``when`` (on the running loop's clock)."""
        loop = asyncio.get_running_loop()
        tick = round(when / self.resolution)
        slot = self._slots.get(tick)
        if slot is None:
            slot = self._slots[tick] = _Slot(loop.call_at(tick * self.resolution, self._fire, tick))
        future = loop.create_future()
        slot.waiters[future] = None
        try:
            await future
        except asyncio.CancelledError:
            # The client left: nothing of this stream may wait on (a gap can be a minute long).
            slot.waiters.pop(future, None)
            if not slot.waiters and self._slots.get(tick) is slot:
                slot.handle.cancel()
                del self._slots[tick]
            raise

    def _fire(self, tick: int) -> None:
        slot = self._slots.pop(tick, None)
        for future in slot.waiters if slot is not None else ():
            if not future.done():
                future.set_result(None)

    @property
    def waiting(self) -> int:
        """Streams waiting for a tick."""
        return sum(len(slot.waiters) for slot in self._slots.values())
