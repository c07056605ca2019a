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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await until_disconnect(receive)  # so that the server sees the connection is gone and does not answer it
