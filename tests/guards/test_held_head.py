"""A response head held to go out with its body (perceptron_mock.guards.held_head) never waits for a late one."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from tests.helpers import MODEL, threaded_mock


def _post(url: str, body: dict) -> socket.socket:
    address = urlsplit(url)
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {address.netloc}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer k\r\ncontent-length: {len(data)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    sock.sendall(head + data)
    return sock


def test_a_paced_stream_s_head_is_not_held_for_its_first_token():
    # The first token is due after 60 s: the head must come long before (the 5 s socket timeout is a watchdog).
    with threaded_mock(stream_first_token_ms=60_000, stream_keepalive_seconds=0) as mock:
        with _post(mock.url, {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}) as sock:
            sock.settimeout(5)
            received = sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200") and b"text/event-stream" in received
    assert b"data:" not in received
