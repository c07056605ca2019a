"""The few raw-ASGI helpers the hot path uses instead of a framework's Request and Response."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]

# The journal (``perceptron_mock.toolkit.journal``) asks for the request body by putting this key in the scope, and
# ``read_body`` leaves the body there: one copy of a 20 MB body, not one more kept by a recorder wrapped
# around ``receive``. Without a journal the key is absent and the scope keeps nothing (a scope can live
# on until the cyclic garbage collector runs: the server's ``receive`` kept in it refers back to it).
BODY_KEY = "perceptron_mock.body"


class ClientDisconnected(Exception):
    """The client went away before the request was read; there is nobody to answer."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def read_body(receive: Receive, scope: Scope | None = None) -> bytes | bytearray:
    """The whole request body: the one chunk as it came, or the chunks gathered in one bytearray;
    also left in ``scope`` under ``BODY_KEY`` when the journal asked for it there.

    Gathering into a growing bytearray, not a list joined at the end, holds one copy of a 20 MB
    body instead of two, and its large buffer goes back to the system when freed (thousands of
    64 KB chunks would stay in the heap). The JSON parser reads a bytearray as it reads bytes."""
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
    if scope is not None and BODY_KEY in scope:
        scope[BODY_KEY] = body
    return body


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
