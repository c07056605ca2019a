"""Interruptions (``cut``, ``sse_error``) of a stream, as a client reading the raw
chunked body sees them: at the moment and in the writes they had before the tick wrote paced streams
itself (perceptron_mock.render.pacer), whichever driver writes the stream."""

from __future__ import annotations

import json
import socket
import time

from tests.helpers import chat

WATCHDOG = 20.0  # seconds: turns a stall into a failure; nothing here measures time


def raw_stream(port: int, *headers: str) -> tuple[list[bytes], str]:
    """The HTTP chunks of one streamed answer as they were written, and how the body ended: ``end``
    (the terminating chunk), ``reset`` or ``closed``."""
    payload = json.dumps(chat("Describe the scene in detail.", stream=True)).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\n"
        + b"".join(h.encode() + b"\r\n" for h in headers)
        + b"content-length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    deadline = time.monotonic() + WATCHDOG
    data, ending = b"", "closed"
    with socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG) as sock:
        sock.sendall(request)
        while not data.endswith(b"\r\n0\r\n\r\n"):
            assert time.monotonic() < deadline, f"the stream stalled; so far: {data[-300:]!r}"
            try:
                received = sock.recv(65536)
            except ConnectionResetError:
                ending = "reset"
                break
            if not received:
                break
            data += received
        else:
            ending = "end"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in head
    chunks = []
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        chunks.append(rest[:n])
        body = rest[n + 2 :]
    return chunks, ending


def port_of(mock) -> int:
    return int(mock.url.rsplit(":", 1)[1])


A_MINUTE_TO_THE_FIRST_TOKEN = "x-mock-pacing: ttft=60000; tps=50"


def test_a_cut_before_the_first_event_drops_the_connection_at_once_not_after_the_first_token_wait(perceptron_mock):
    chunks, ending = raw_stream(port_of(perceptron_mock), A_MINUTE_TO_THE_FIRST_TOKEN, "x-mock-fault: cut")
    assert (chunks, ending) == ([], "reset")  # headers, then the reset: no keep-alive, no event


def test_an_sse_error_before_the_first_event_comes_at_once_not_after_the_first_token_wait(perceptron_mock):
    chunks, ending = raw_stream(port_of(perceptron_mock), A_MINUTE_TO_THE_FIRST_TOKEN, "x-mock-fault: sse_error")
    assert ending == "end" and len(chunks) == 1  # the error event alone, no keep-alive before it
    assert json.loads(chunks[0][len(b"data: ") :])["error"]["type"] == "server_error"
