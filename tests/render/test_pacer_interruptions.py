"""Interruptions (``cut``, ``sse_error``, a renderer failure) of a stream, as a client reading the raw
chunked body sees them: at the moment and in the writes they had before the tick wrote paced streams
itself (perceptron_mock.render.pacer), whichever driver writes the stream."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from perceptron_mock.answers.answer import Completion
from perceptron_mock.render import sse
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.sse import CompletionStream, stream_events
from tests.helpers import MODEL, chat, sse_frames

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


@pytest.mark.perceptron_mock(stream_events_per_write=1)
@pytest.mark.parametrize("pacing", ["none", "ttft=20; tps=500"])
def test_with_one_event_per_write_an_sse_error_gets_a_write_of_its_own(perceptron_mock, pacing):
    chunks, ending = raw_stream(port_of(perceptron_mock), f"x-mock-pacing: {pacing}", "x-mock-fault: sse_error=3")
    assert ending == "end"
    assert [len(sse_frames(c)) for c in chunks] == [1, 1, 1, 1]  # three events, then the error
    assert b'"error"' in chunks[-1] and b'"error"' not in b"".join(chunks[:-1])


def test_with_one_event_per_write_a_renderer_failure_gets_a_write_of_its_own(caplog):
    completion = Completion(content="one two three four five", reasoning=None, finish_reason="stop", prompt_tokens=4, completion_tokens=0)
    good = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)

    def failing_tokens():
        yield next(good.tokens)
        yield next(good.tokens)
        raise RuntimeError("renderer bug")

    events = sse.StreamEvents(head=good.head, tokens=failing_tokens(), tail=good.tail)
    writes: list[bytes] = []

    async def send(message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            writes.append(message["body"])

    async def receive():
        await asyncio.Event().wait()

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    stream = CompletionStream(events, delivery=Delivery(events_per_write=1), keepalive=0)
    asyncio.run(asyncio.wait_for(stream(scope, receive, send), timeout=WATCHDOG))
    assert [len(sse_frames(w)) for w in writes] == [1, 1, 1, 1]  # role chunk, two tokens, then the error
    assert b'"server_error"' in writes[-1] and "renderer bug" in caplog.text
