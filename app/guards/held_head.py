"""A transport that sends a response head together with the body written right after it: one segment.

uvicorn writes the head and the body of a response separately, two system calls (and on loopback two
trips through the TCP stack) for every small answer; a head is held for at most one loop turn.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HeldHeadTransport:
    """``transport``, except that a write of a response head (``HTTP/1.1 ...\\r\\n\\r\\n``) is held until
    the next write, which it joins, or until the end of the event loop's turn, whichever comes first."""

    __slots__ = ("_transport", "_held", "_loop")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
