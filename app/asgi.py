"""The few raw-ASGI helpers the hot path uses instead of a framework's Request and Response."""

from __future__ import annotations

import socket
import struct
from typing import Any, Awaitable, Callable, MutableMapping

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class ClientDisconnected(Exception):
    """The client went away before the request was read; there is nobody to answer."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def read_body(receive: Receive) -> bytes | bytearray:
    """The whole request body: the one chunk as it came, or the chunks gathered in one bytearray.

    A growing bytearray, not a list joined at the end, holds one copy of a 20 MB body instead of two,
    and its buffer goes back to the system when freed; the JSON parser reads it as it reads bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body = message.get("body", b"")
    if message.get("more_body", False):
        body = bytearray(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
    return body


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def until_disconnect(receive: Receive) -> None:
    """Wait until the client goes away (the body has been read, so the next message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def reset_connection(server_receive: Receive | None, receive: Receive) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox would.

    ``server_receive`` is the server's own ``receive`` (``Exchange.receive``): uvicorn's is a bound
    method of its request cycle, which holds the connection's transport."""
    transport = getattr(getattr(server_receive, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("a connection reset needs uvicorn (the server's transport was not found)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, ValueError):  # the client has left already (the socket is closed): nothing to reset
            pass
    transport.abort()
    await until_disconnect(receive)  # so that the server sees the connection is gone and does not answer it


_HTTPTOOLS_CYCLE = "uvicorn.protocols.http.httptools_impl"


class ChunkWriter:
    """Writes pieces of a started, chunked response body straight to uvicorn's connection, below the app's
    ASGI send chain: for paced streams, whose events cost more passing through the send wrappers and the
    coroutines above them than in the socket (docs: Streaming, performance). ``tap`` sees each piece."""

    __slots__ = ("_cycle", "_tap")

    def __init__(self, cycle: Any, tap: Callable[[bytes], None] | None) -> None:
        self._cycle, self._tap = cycle, tap

    @classmethod
    def of(cls, server_receive: Receive | None, tap: Callable[[bytes], None] | None = None) -> "ChunkWriter | None":
        """The writer for the connection behind ``server_receive`` (``Exchange.receive``: uvicorn's is a
        bound method of its request cycle), or None under another server: the caller sends through ASGI."""
        cycle = getattr(server_receive, "__self__", None)
        if type(cycle).__module__ != _HTTPTOOLS_CYCLE or not hasattr(cycle, "chunked_encoding"):
            return None
        return cls(cycle, tap)

    def write(self, body: bytes) -> bool:
        """Write ``body`` as one chunk now. False, and nothing written, when it cannot go this way: the
        client is gone, the response is not a started chunked one or has ended, or the client reads
        slower than the stream writes (uvicorn paused writing; the ASGI send waits until it may)."""
        cycle = self._cycle
        if cycle.disconnected or cycle.response_complete or cycle.chunked_encoding is not True or cycle.flow.write_paused:
            return False
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        if self._tap is not None:
            self._tap(body)
        return True
