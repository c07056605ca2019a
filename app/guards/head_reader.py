"""uvicorn's httptools protocol with a bound on the request head while it is still arriving (431).

httptools copies a header value on every piece that arrives (O(N²) for a head of N bytes), so an
oversized head must be refused while it arrives, not once it is complete (docs: "Limits").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from perceptron_mock.guards.header_limit import headers_too_large
from perceptron_mock.guards.held_head import HeldHeadTransport
from perceptron_mock.protocol import ids
from perceptron_mock.settings import Settings

REQUEST_LINE_BYTES = 64 * 1024  # beyond the headers: the request line, and slack for the chunk a head begins in
DISCARD_SECONDS = 5.0  # after the 431: how long what the client still sends is read and dropped


def _max_header_bytes(app: Any) -> int:
    # The app is perceptron_mock.main.MockServer, possibly wrapped by uvicorn's middlewares (each keeps it as .app).
    while app is not None:
        limit = getattr(app, "max_header_bytes", None)
        if isinstance(limit, int):
            return limit
        app = getattr(app, "app", None)
    return Settings.model_fields["max_header_bytes"].default


class HeadLimitedHttpTools(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses a head over its bound while it arrives (431, then closes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head = _max_header_bytes(self.app) + REQUEST_LINE_BYTES
        self._in_head = False
        self._heads = 0  # heads completed on this connection
        self._head_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldHeadTransport(transport))  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped: the client may still be sending the head it was refused for
        in_head, heads = self._in_head, self._heads
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        if in_head and self._heads == heads:
            self._head_bytes += len(data)  # the whole chunk went to this head
        else:
            self._head_bytes = 0  # this head began within the chunk: the part of it is not counted
        if self._head_bytes > self._max_head:
            self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        error = headers_too_large(self._max_head - REQUEST_LINE_BYTES)
        body = error.body()
        head = [
            b"HTTP/1.1 431 Request Header Fields Too Large",
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
            *(name + b": " + value for name, value in ids.request_id_headers()),
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        # Half-close: the client reads the answer and an end, while what it still sends is dropped
        # (closing at once with unread data would reset the connection and lose the answer).
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(DISCARD_SECONDS, self.transport.close)
