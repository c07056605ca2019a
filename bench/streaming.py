"""Benchmark: the mock's streamed answers against a bare ASGI app writing the same SSE events.

    /work/venv/bin/python bench/streaming.py [--duration 5] [--connections 64] [--rounds 1] [--events 200]

In one run it starts two servers, each one uvicorn worker (uvloop + httptools) pinned to CPU 0:

- the mock (``python -m perceptron_mock``), answering ``stream: true`` with ``--events`` SSE events: the role
  chunk, token deltas, the finish chunk with usage, ``[DONE]``;
- a bare ASGI app that reads the request and writes the mock's own events, captured once at start,
  one ``send`` per event, with no framework at all: the ceiling for this server stack.

Then it loads each in turn with ``--connections`` concurrent keep-alive connections, each streaming
one answer after another, and prints streams/s, events/s, p50/p99 time to first byte and the
mock/bare ratio of events/s (the target is >= 0.5). The load client is a lean asyncio protocol
pinned to CPU 1 (it counts events and finds the end of the body; it does not parse JSON); its CPU
use is printed so that a saturated client is visible. The VM is shared and noisy: compare the two
columns of one run, not figures across runs, and use --rounds to interleave several.

The mock answers from a fixture written for the run (``--fixtures``), whose content is exactly the
right number of tokens; everything else is the mock as users run it (journal on), except the rate
limit, which is turned off because 300 requests a minute would refuse nearly every stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import start_bare  # noqa: E402
from bench.completions import start_mock as completions_mock  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

MODEL = "isaac-0.2-2b-preview"
BODY = (
    b'{"model":"' + MODEL.encode() + b'","messages":[{"role":"user","content":"Describe this scene in detail."}],'
    b'"stream":true,"stream_options":{"include_usage":true}}'
)
TAIL = b"data: [DONE]\n\n\r\n0\r\n\r\n"  # [DONE] in its own chunk, then the last chunk of the body

SENTENCE = (
    "The scene shows a workbench under soft, even light; a camera, two lenses and a notebook sit near the "
    "left edge, and a window fills the background with 3 tall panes. "
)


def write_fixture(directory: str, tokens: int) -> str:
    """A fixtures directory whose one fixture answers the bench's request with ``tokens`` tokens
    (role, finish and [DONE] are the stream's other three events)."""
    from perceptron_mock.accounting import tokens as tokenizer

    content = "".join(tokenizer.split(SENTENCE * (tokens // 10 + 1))[:tokens])
    fixtures = os.path.join(directory, "fixtures")
    os.makedirs(fixtures, exist_ok=True)
    with open(os.path.join(fixtures, "bench.json"), "w") as handle:
        json.dump({"name": "bench", "match": {"user_text": "^Describe this scene in detail"}, "respond": {"content": content}}, handle)
    return fixtures


BARE_APP = textwrap.dedent(
    """
    import os

    with open(os.environ["BARE_EVENTS"], "rb") as handle:
        EVENTS = [block + b"\\n\\n" for block in handle.read().split(b"\\n\\n") if block]
    HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        for event in EVENTS:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    """
)


# --- servers ----------------------------------------------------------------------------------


def start_mock(port: int, fixtures: str, extra: list[str]) -> subprocess.Popen:
    # The rate limit is off: 300/min would refuse nearly every stream.
    return completions_mock(port, ["--rate-limit-per-minute", "0", "--fixtures", fixtures, *extra])


# --- load client ------------------------------------------------------------------------------


class StreamingConnection(asyncio.Protocol):
    """One keep-alive connection that streams answers back to back until told to stop."""

    def __init__(self, request: bytes, stats: "Stats") -> None:
        self.request = request
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.first_byte = False
        self.body_start = 0  # where the body starts once the head is in; 0 before
        self.length: int | None = None  # content-length, or None for a chunked body
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.buffer.clear()
        self.first_byte = False
        self.body_start = 0
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.first_byte:
            self.first_byte = True
            self.stats.ttfb.append(time.perf_counter() - self.sent_at)
        self.buffer += data
        if not self.body_start:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.body_start = end + 4
            match = re.search(rb"\r\ncontent-length: *(\d+)", self.buffer[:end].lower())
            self.length = int(match.group(1)) if match else None
        if self.length is not None:
            if len(self.buffer) - self.body_start < self.length:
                return
            self.stats.refused(bytes(self.buffer[: self.body_start + self.length]))  # a JSON answer: an error
        elif not self.buffer.endswith(b"\r\n0\r\n\r\n"):
            return
        elif self.buffer.startswith(b"HTTP/1.1 200 ") and self.buffer.endswith(TAIL):
            self.stats.streams += 1
            self.stats.events += self.buffer.count(b"\ndata: ") + self.buffer.startswith(b"data: ")
        else:
            self.stats.refused(bytes(self.buffer))
        if self.stats.running:
            self._send()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stats.running:
            self.stats.failures += 1
        if not self.closed.done():
            self.closed.set_result(None)


class Stats:
    def __init__(self) -> None:
        self.running = True
        self.streams = 0
        self.events = 0
        self.failures = 0
        self.ttfb: list[float] = []
        self.example: bytes | None = None  # the first refused answer, shown once

    def refused(self, response: bytes) -> None:
        self.failures += 1
        self.example = self.example or response[:600]


async def load(port: int, connections: int, duration: float, warmup: float) -> dict:
    loop = asyncio.get_running_loop()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer bench-key\r\n"
        b"content-type: application/json\r\naccept: application/json\r\ncontent-length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    stats = Stats()
    protocols = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(lambda: StreamingConnection(request, stats), "127.0.0.1", port)
        protocols.append(protocol)
    await asyncio.sleep(warmup)
    streams, events, failures = stats.streams, stats.events, stats.failures
    stats.ttfb.clear()
    segments = tcp_segments()
    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.sleep(duration)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    segments = tcp_segments() - segments
    result = {
        "streams/s": (stats.streams - streams) / elapsed,
        "events/s": (stats.events - events) / elapsed,
        "failures": stats.failures - failures,
        "ttfb": sorted(stats.ttfb),
        "client cpu": cpu / elapsed,
        "segments/event": segments / max(stats.events - events, 1) if segments >= 0 else float("nan"),
        "example": stats.example,
    }
    stats.running = False
    await asyncio.gather(*(p.closed for p in protocols))
    return result


def tcp_segments() -> int:
    """TCP segments sent by this machine so far (both ends of loopback count), or -1 without nstat."""
    try:
        output = subprocess.run(["nstat", "-az", "TcpOutSegs"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return -1
    match = re.search(r"TcpOutSegs\s+(\d+)", output)
    return int(match.group(1)) if match else -1


# --- the Python cost of one event, in-process -------------------------------------------------


def python_cost(events: int, repeat: int = 5, streams: int = 1000) -> list[tuple[str, float]]:
    """Microseconds of Python per event to deliver a stream of ``events`` events to a no-op ``send``:
    no socket, no kernel, just the code each event goes through. Best of ``repeat``."""
    from sse_starlette import EventSourceResponse

    from perceptron_mock.accounting import tokens
    from perceptron_mock.answers.answer import Completion
    from perceptron_mock.render.delivery import Delivery
    from perceptron_mock.render.sse import CompletionStream, stream_events

    text = "".join(tokens.split("The scene shows a workbench under soft, even light; a camera sits near the edge. " * 40)[: events - 3])
    completion = Completion(content=text, reasoning=None, finish_reason="stop", prompt_tokens=10, completion_tokens=events - 3)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}

    def fresh():
        return stream_events(completion, id="chatcmpl-" + "x" * 29, created=0, model=MODEL, include_usage=True)

    async def receive():
        await asyncio.Event().wait()

    async def send(message):
        pass

    async def bare():
        encoded = fresh()
        encoded = [encoded.head, *encoded.tokens, *encoded.tail]
        for _ in range(streams):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for event in encoded:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def stock():
        for _ in range(streams):
            encoded = fresh()

            async def generator():
                yield encoded.head
                for event in encoded.tokens:
                    yield event
                for event in encoded.tail:
                    yield event

            await EventSourceResponse(generator(), sep="\n")(scope, receive, send)

    async def mock(per_write: int):
        for _ in range(streams):
            await CompletionStream(fresh(), delivery=Delivery(events_per_write=per_write))(scope, receive, send)

    async def encode_only():
        for _ in range(streams):
            encoded = fresh()
            for _event in encoded.tokens:
                pass

    cases = [
        ("bare loop of send() calls", bare),
        ("sse-starlette as commonly used (bytes generator)", stock),
        ("CompletionStream, one event per write", lambda: mock(1)),
        ("CompletionStream, defaults (64 events per write)", lambda: mock(64)),
        ("  of which encoding the events", encode_only),
    ]
    best = {name: float("inf") for name, _ in cases}

    async def measure():
        for _ in range(repeat):
            for name, case in cases:
                start = time.perf_counter()
                await case()
                best[name] = min(best[name], time.perf_counter() - start)

    asyncio.run(measure())
    return [(name, best[name] / streams / events * 1e6) for name, _ in cases]


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5, help="seconds measured per server and round")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of load before each measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--events", type=int, default=200, help="data events per stream, [DONE] included")
    parser.add_argument("--rounds", type=int, default=1, help="bare/mock measurements interleaved this many times")
    parser.add_argument("--mock-args", default="", help="extra CLI flags for the mock")
    parser.add_argument("--no-per-event", action="store_true", help="skip the mock/1 row (one event per write)")
    parser.add_argument("--no-python-cost", action="store_true", help="skip the in-process cost-per-event table")
    args = parser.parse_args()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the servers are on CPU 0

    servers: dict[str, int] = {"bare": free_port(), "mock": free_port()}
    if not args.no_per_event:
        servers["mock/1"] = free_port()
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as directory:
        try:
            fixtures = write_fixture(directory, args.events - 3)
            processes.append(start_mock(servers["mock"], fixtures, args.mock_args.split()))
            if "mock/1" in servers:
                extra = [*args.mock_args.split(), "--stream-events-per-write", "1"]
                processes.append(start_mock(servers["mock/1"], fixtures, extra))
            sample = httpx.post(
                f"http://127.0.0.1:{servers['mock']}/v1/chat/completions",
                content=BODY,
                headers={"authorization": "Bearer bench-key", "content-type": "application/json"},
            )
            count = sample.content.count(b"\n\n")
            if sample.status_code != 200 or not count:
                raise SystemExit(f"the mock did not stream: {sample.status_code} {sample.text[:300]}")
            events_path = os.path.join(directory, "events.sse")
            with open(events_path, "wb") as handle:
                handle.write(sample.content)
            processes.append(start_bare(servers["bare"], directory, BARE_APP, "bare_sse", {"BARE_EVENTS": events_path}))

            print(
                f"{count} events a stream ({len(sample.content) / count:.0f} bytes each on average), "
                f"{args.connections} connections, {args.duration:g}s per measurement, servers on CPU 0, client on CPU 1"
            )
            print("mock: defaults (events due together share a write); mock/1: --stream-events-per-write 1")
            header = (
                f"{'server':<6} | {'streams/s':>9} {'events/s':>9} {'TTFB p50 ms':>11} {'p99 ms':>7} | "
                f"{'client cpu':>10} {'failed':>6} {'segs/event':>10} | {'x bare':>6}"
            )
            print(header)
            print("-" * len(header))
            ratios: dict[str, list[float]] = {name: [] for name in servers if name != "bare"}
            for _ in range(args.rounds):
                bare_rate = 1.0
                for name, port in servers.items():
                    r = asyncio.run(load(port, args.connections, args.duration, args.warmup))
                    if name == "bare":
                        bare_rate = max(r["events/s"], 1.0)
                    else:
                        ratios[name].append(r["events/s"] / bare_rate)
                    if r["example"]:
                        print(f"  {name} refused some requests, e.g.: {r['example'][:400]!r}")
                    print(
                        f"{name:<6} | {r['streams/s']:>9.0f} {r['events/s']:>9.0f} {_pct(r['ttfb'], 0.5):>11.2f} "
                        f"{_pct(r['ttfb'], 0.99):>7.2f} | {r['client cpu']:>9.0%} {r['failures']:>6} "
                        f"{r['segments/event']:>10.2f} | {r['events/s'] / bare_rate:>6.2f}"
                    )
            print()
            for name, values in ratios.items():
                print(f"{name} / bare events/s, median of {len(values)}: {statistics.median(values):.2f}  (target >= 0.50)")
            print("segs/event: TCP segments sent on this machine (both ends, ACKs too) per event received")
            if not args.no_python_cost:
                print(f"\nPython cost per event, in-process, no-op send, {count}-event streams (best of 5):")
                for name, micros in python_cost(count):
                    print(f"  {name:<52} {micros:6.2f} us")
        finally:
            for process in processes:
                stop(process)

if __name__ == "__main__":
    main()
