"""``Ticker``: one timer for all the paced streams of an event loop, instead of one per stream and event.

A stream waits for the tick nearest its event's due time; each tick wakes every stream due then, in one
callback. libuv's timers count whole milliseconds anyway, so a 1 ms tick costs no precision.
"""

from __future__ import annotations

import asyncio


class Ticker:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution  # seconds between ticks
        self._slots: dict[int, list[asyncio.Future]] = {}  # tick number -> the streams waiting for it

    async def sleep_until(self, when: float) -> None:
        """Wait for the tick nearest ``when`` (on the running loop's clock)."""
        loop = asyncio.get_running_loop()
        slot = round(when / self.resolution)
        waiters = self._slots.get(slot)
        if waiters is None:
            waiters = self._slots[slot] = []
            loop.call_at(slot * self.resolution, self._fire, slot)
        future = loop.create_future()
        waiters.append(future)
        await future

    def _fire(self, slot: int) -> None:
        for future in self._slots.pop(slot, ()):
            if not future.done():  # a stream whose client left is cancelled while it waits
                future.set_result(None)

    @property
    def waiting(self) -> int:
        """Streams waiting for a tick (a disconnected one counts until its tick passes)."""
        return sum(len(waiters) for waiters in self._slots.values())
