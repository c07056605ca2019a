"""Client disconnects mid-stream: generation stops and everything is freed.

The server runs in this process (uvicorn in a thread, on a real socket, with the real app) so that
the test can look inside its event loop: which tasks are alive, how much memory Python holds. No
assertion here is about time; the only clock is a guard that turns a hang into a readable failure.
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import time
import tracemalloc

from perceptron_mock.main import create_app
from perceptron_mock.render.sse import CompletionStream
from perceptron_mock.settings import Settings
from tests.helpers import ThreadedServer, chat


def stream_request(port: int, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:" + str(port).encode() + b"\r\n"
        b"authorization: Bearer test-key\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )


def disconnect_mid_stream(port: int, request: bytes, reset: bool) -> None:
    """Start a stream, read until its first data event, then go away (FIN, or RST when ``reset``)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(request)
        received = b""
        while b"\ndata: " not in received:
            data = sock.recv(65536)
            assert data, "the server closed the connection before the first event"
            received += data
        assert received.startswith(b"HTTP/1.1 200 ")
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


REQUEST_TASKS = ("RequestResponseCycle.run_asgi", "TaskHandle._run_coro")  # a request, a stream's task group


def settle(server: ThreadedServer) -> list[str]:
    """The server's tasks once no request is in flight, or after a 30 s guard against a hang."""
    deadline = time.monotonic() + 30
    tasks = server.tasks()
    while any(kind in t for t in tasks for kind in REQUEST_TASKS) and time.monotonic() < deadline:
        time.sleep(0.05)
        tasks = server.tasks()
    return tasks


def live_streams() -> int:
    gc.collect()
    return sum(isinstance(o, CompletionStream) for o in gc.get_objects())


def python_memory() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_500_disconnects_leave_no_task_and_no_memory_behind():
    # Streams that would take minutes: one token every 100 s after the first, and a keep-alive
    # pinging every 50 ms meanwhile. A stream that did not stop when its client left would still be
    # running (and holding its task, response and generator) when the tasks are counted.
    settings = Settings(
        stream_tokens_per_second=0.01,
        stream_keepalive_seconds=0.05,
        rate_limit_per_minute=0,
        journal_size=10,  # a bounded ring: filled during warm-up, so its size no longer changes
    )
    server = ThreadedServer(create_app(settings))
    with server.running():
        request = stream_request(server.port, chat("Describe the scene in detail.", stream=True))
        for i in range(50):  # warm-up: imports, caches, allocator pools, the journal ring, sse-starlette's watcher
            disconnect_mid_stream(server.port, request, reset=bool(i % 2))
        # Idle now: what is left (uvicorn's main loop, sse-starlette's shutdown watcher) is the baseline.
        baseline = settle(server)
        tracemalloc.start()
        try:
            before = python_memory()
            for i in range(500):
                disconnect_mid_stream(server.port, request, reset=bool(i % 2))
            tasks = settle(server)
            after = python_memory()
        finally:
            tracemalloc.stop()
        assert tasks == baseline  # every request's task and stream's task group (stream, ping, listeners) is gone
        assert live_streams() == 0
        grown = after - before
        # 500 leaked streams would hold megabytes (a task group, a generator, the encoded answer and
        # its events each); a few hundred kB is allocator and cache noise.
        assert grown < 512 * 1024, f"Python memory grew by {grown / 1024:.0f} kB over 500 disconnects"
