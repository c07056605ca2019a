"""The raw-ASGI helpers against a real uvicorn on a real socket (perceptron_mock.asgi)."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from perceptron_mock.asgi import reset_connection, until_disconnect
from tests.helpers import ThreadedServer


@pytest.mark.parametrize("rst", [False, True])
def test_resetting_a_connection_whose_client_already_left_is_quietly_nothing_to_do(rst):
    # A cut stream can reach its cut after its client has gone (FIN or RST): the transport is closed
    # by then, and the reset must not fail on the socket it no longer has.
    outcome: list[BaseException | None] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()  # the request
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await until_disconnect(receive)  # the client is gone: the server has closed the transport
        try:
            await reset_connection(receive, receive)
            outcome.append(None)
        except Exception as error:
            outcome.append(error)

    server = ThreadedServer(app)
    with server.running():
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.call(_settled)
    assert outcome == [None]


async def _settled() -> None:
    for _ in range(200):  # the app's task finishes within a few loop turns once the client has left
        if not any("run_asgi" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            return
        await asyncio.sleep(0.01)
