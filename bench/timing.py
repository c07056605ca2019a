"""Benchmark: how closely paced streams keep their schedule when thousands are open on one worker.

    .venv/bin/python bench/timing.py [--streams 1,100,1000,2000] [--duration 8] [--tokens 45]
        [--variant NAME=FLAGS ...]

Each variant is one mock (one uvicorn worker, pinned to CPU 0) paced at 300 ms to the first token and
30 tokens a second (``--stream-first-token-ms 300 --stream-tokens-per-second 30``), answering from a
fixture of ``--tokens`` tokens. For each count of concurrent streams, a lean asyncio client pinned to
CPU 1 keeps that many keep-alive connections streaming back to back (started spread over one stream's
length, so that they do not all ask at once) and timestamps every data event as it arrives. The schedule
is the mock's deterministic fixed pacing, anchored where the stream's response head arrived: the role
chunk and first token at 300 ms, then one event every 1/30 s. It prints, per row, how late each event
came against that schedule (p50/p99 for the first token and for the events after it), the time from
sending the request to its response head (queueing in the server, outside the schedule), and the
client's own CPU use: a client near 100% cannot timestamp on time, and its row is marked void.
Targets (issue 18): p99 lateness <= 20 ms for the first token and <= 10 ms between tokens at 1,000 streams.
The baseline, first unless ``--no-bare``: a bare ASGI app under the same uvicorn that writes the mock's
own events on the same schedule, a timer per stream and event: what pacing costs with nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from array import array

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import start_bare  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

MODEL = "isaac-0.2-2b-preview"
FIRST_MS, RATE = 300.0, 30.0
BODY = (
    b'{"model":"' + MODEL.encode() + b'","messages":[{"role":"user","content":"Describe this scene in detail."}],'
    b'"stream":true}'
)
END = b"0\r\n\r\n"  # the last chunk of the body: a data chunk ends with "\n\n\r\n" instead
SENTENCE = (
    "The scene shows a workbench under soft, even light; a camera, two lenses and a notebook sit near the "
    "left edge, and a window fills the background with 3 tall panes. "
)
TARGET_FIRST_MS, TARGET_GAP_MS, TARGET_AT = 20.0, 10.0, 1000
VOID_CPU = 0.9  # a client busier than this may be the one that is late


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def write_fixture(directory: str, tokens: int) -> str:
    from perceptron_mock.accounting import tokens as tokenizer

    content = "".join(tokenizer.split(SENTENCE * (tokens // 10 + 1))[:tokens])
    fixtures = os.path.join(directory, "fixtures")
    os.makedirs(fixtures, exist_ok=True)
    with open(os.path.join(fixtures, "bench.json"), "w") as handle:
        json.dump({"name": "bench", "match": {}, "respond": {"content": content}}, handle)
    return fixtures


BARE_APP = textwrap.dedent(
    """
    import asyncio, os

    with open(os.environ["BARE_EVENTS"], "rb") as handle:
        HEAD, *TOKENS, FINISH = handle.read().split(b"\\0")  # the mock's events, one per write
    FIRST, GAP = float(os.environ["BARE_FIRST"]), float(os.environ["BARE_GAP"])
    HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        if scope["method"] == "POST":
            loop = asyncio.get_running_loop()
            due = loop.time() + FIRST
            for event in [HEAD + TOKENS[0], *TOKENS[1:], FINISH]:
                await asyncio.sleep(due - loop.time())
                await send({"type": "http.response.body", "body": event, "more_body": True})
                due += GAP
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    """
)


def start_bare_paced(port: int, directory: str, tokens: int) -> subprocess.Popen:
    """The baseline: ``BARE_APP`` writing the events the mock writes for the bench's fixture."""
    from perceptron_mock.accounting import tokens as tokenizer
    from perceptron_mock.answers.answer import Completion
    from perceptron_mock.render.sse import stream_events

    content = "".join(tokenizer.split(SENTENCE * (tokens // 10 + 1))[:tokens])
    completion = Completion(content=content, reasoning=None, finish_reason="stop", prompt_tokens=9, completion_tokens=tokens)
    stream = stream_events(completion, id="chatcmpl-bench", created=0, model=MODEL, include_usage=False)
    path = os.path.join(directory, "bare_events")
    with open(path, "wb") as handle:  # the finish chunk and [DONE] go out together, as the mock writes them
        handle.write(b"\0".join([stream.head, *stream.tokens, b"".join(stream.tail)]))
    env = {"BARE_EVENTS": path, "BARE_FIRST": str(FIRST_MS / 1000), "BARE_GAP": str(1 / RATE)}
    return start_bare(port, directory, BARE_APP, "bare_paced", env)


def start_mock(port: int, fixtures: str, extra: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTRON_MOCK_")}
    flags = [
        "--port", str(port), "--log-level", "warning", "--rate-limit-per-minute", "0", "--fixtures", fixtures,
        "--stream-first-token-ms", str(FIRST_MS), "--stream-tokens-per-second", str(RATE), *extra,
    ]
    process = subprocess.Popen(
        [*pin(0), sys.executable, "-m", "perceptron_mock", *flags],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"the mock exited: {' '.join(extra)}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the mock did not start")


# --- load client ------------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.measuring = False
        self.running = True
        self.first = array("d")  # lateness of each first token, seconds
        self.later = array("d")  # lateness of each later event
        self.head = array("d")  # request sent -> response head
        self.streams = 0
        self.failures = 0


class PacedConnection(asyncio.Protocol):
    """One keep-alive connection streaming answers back to back; every data event is timestamped."""

    def __init__(self, request: bytes, stats: Stats, delay: float) -> None:
        self.request, self.stats, self.delay = request, stats, delay
        self.loop = asyncio.get_running_loop()
        self.closed = self.loop.create_future()
        self.transport = None
        self.interval = 1 / RATE
        self.first = FIRST_MS / 1000

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.loop.call_later(self.delay, self._send)

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        self.head_at = 0.0
        self.events = 0
        self.tail = b""
        self.measured = self.stats.measuring
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.head_at:
            end = data.find(b"\r\n\r\n")
            if end < 0 or not data.startswith(b"HTTP/1.1 200"):
                self.stats.failures += 1
                self.transport.close()
                return
            self.head_at = now
            if self.measured:
                self.stats.head.append(now - self.sent_at)
            data = data[end + 4 :]
        seen = (self.tail + data).count(b"data: ")
        self.tail = data[-5:]
        if seen and self.measured:
            offset = now - self.head_at
            for k in range(self.events, self.events + seen):
                if k == 0:
                    continue  # the role chunk: written with the first token
                scheduled = self.first + (k - 1) * self.interval
                (self.stats.first if k == 1 else self.stats.later).append(offset - scheduled)
        self.events += seen
        if data.endswith(END):
            if self.measured:
                self.stats.streams += 1
            if self.stats.running:
                self._send()
            else:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.stats.running:
            self.stats.failures += 1
        if not self.closed.done():
            self.closed.set_result(None)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU time the process ``pid`` has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def load(port: int, pid: int, streams: int, duration: float, stream_seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer bench-key\r\n"
        b"content-type: application/json\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    stats = Stats()
    connections = []
    for i in range(streams):
        _, protocol = await loop.create_connection(
            lambda i=i: PacedConnection(request, stats, stream_seconds * i / streams), "127.0.0.1", port
        )
        connections.append(protocol)
    await asyncio.sleep(stream_seconds * 2)  # every connection started, then a stream of each
    stats.measuring = True
    cpu, server, start = time.process_time(), cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(duration)
    elapsed, cpu, (user, system) = time.perf_counter() - start, time.process_time() - cpu, cpu_seconds(pid)
    user, system = user - server[0], system - server[1]
    events = len(stats.first) * 2 + len(stats.later)  # so far: the events of the streams begun in the window
    stats.measuring = False
    await asyncio.sleep(stream_seconds + 0.5)  # the streams begun in the window finish
    stats.running = False
    for protocol in connections:
        protocol.transport.close()
    await asyncio.wait([p.closed for p in connections], timeout=10)
    return {"stats": stats, "cpu": cpu / elapsed, "elapsed": elapsed, "server": (user + system) / elapsed,
            "kernel": system / max(user + system, 1e-9), "events": events / elapsed}


def python_cost(streams: int = 1000, tokens: int = 45, rate: float = 500.0) -> list[tuple[str, float]]:
    """CPU microseconds per paced event to deliver ``streams`` concurrent paced streams in-process to a
    no-op ``send``: no socket, no kernel, no other process in the measurement (CPU time, not wall time)."""
    from perceptron_mock.accounting import tokens as tokenizer
    from perceptron_mock.answers.answer import Completion, Pacing
    from perceptron_mock.render.delivery import Delivery
    from perceptron_mock.render.sse import CompletionStream, stream_events
    from perceptron_mock.render.ticker import Ticker
    from perceptron_mock.toolkit.metrics import Metrics

    text = "".join(tokenizer.split(SENTENCE * (tokens // 10 + 1))[:tokens])
    completion = Completion(content=text, reasoning=None, finish_reason="stop", prompt_tokens=10, completion_tokens=tokens)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    pacing = Pacing(first_token_ms=5, tokens_per_second=rate)

    async def receive():
        await asyncio.Event().wait()

    async def send(message):
        pass

    class NoopWriter:  # a ChunkWriter's stand-in: the connection the ticker writes to under uvicorn
        def write(self, body: bytes) -> bool:
            return True

    async def run(delivery: Delivery, loop_only: bool = False, writer: NoopWriter | None = None) -> float:
        async def one() -> None:
            events = stream_events(completion, id="chatcmpl-x", created=0, model=MODEL, include_usage=False)
            if loop_only:  # the delivery loop alone, no sse-starlette response around it
                async for _ in CompletionStream._deliver(events, delivery, writer):  # type: ignore[arg-type]
                    pass
            else:
                await CompletionStream(events, delivery=delivery, keepalive=0)(scope, receive, send)

        cpu = time.process_time()
        await asyncio.gather(*(one() for _ in range(streams)))
        return (time.process_time() - cpu) / (streams * (tokens + 3)) * 1e6

    async def whole_app(extra: dict) -> float:
        # The mock's own ASGI app as uvicorn calls it (request pipeline, journal, sse-starlette), without
        # uvicorn and the kernel: the Python cost of a paced stream, per event.
        from perceptron_mock.main import create_app
        from perceptron_mock.settings import Settings

        with tempfile.TemporaryDirectory() as directory:
            settings = Settings(
                rate_limit_per_minute=0, fixtures_dir=write_fixture(directory, tokens), fixtures_reload_seconds=0,
                stream_first_token_ms=5,
                stream_tokens_per_second=rate, **extra,
            )
            app = create_app(settings)
        body = BODY
        headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer bench-key"), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]

        async def one() -> None:
            sent = False

            async def app_receive():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()

            request_scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
                "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
            }
            await app(request_scope, app_receive, send)

        await one()  # warm-up: imports, caches
        cpu = time.process_time()
        await asyncio.gather(*(one() for _ in range(streams)))
        return (time.process_time() - cpu) / (streams * (tokens + 3)) * 1e6

    cases = [
        ("a timer per stream and event (--stream-tick-ms 0)", lambda: Delivery(pacing=pacing)),
        ("shared 1 ms tick (default)", lambda: Delivery(pacing=pacing, ticker=Ticker(0.001))),
        ("shared tick + metrics observer", lambda: Delivery(pacing=pacing, ticker=Ticker(0.001), observer=Metrics([MODEL]))),
    ]
    loops = [  # under uvicorn the tick writes to the connection; in-process (no connection) the task sends
        ("delivery loop alone: the tick writes straight", NoopWriter),
        ("delivery loop alone: the task yields each write", lambda: None),
    ]
    apps = [
        ("the whole app (pipeline, journal, metrics), tick", {}),
        ("the whole app, --stream-tick-ms 0", {"stream_tick_ms": 0}),
        ("the whole app, --no-metrics", {"metrics": False}),
    ]
    best = {name: float("inf") for name, _ in [*cases, *loops, *apps]}
    for _ in range(3):
        for name, make in cases:
            best[name] = min(best[name], asyncio.run(run(make())))
        for name, writer in loops:
            delivery = Delivery(pacing=pacing, ticker=Ticker(0.001))
            best[name] = min(best[name], asyncio.run(run(delivery, loop_only=True, writer=writer())))
        for name, extra in apps:
            best[name] = min(best[name], asyncio.run(whole_app(extra)))
    return [(name, best[name]) for name in best]


def pct(values: array, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,100,1000,2000", help="concurrent stream counts, comma-separated")
    parser.add_argument("--duration", type=float, default=8, help="seconds measured per row")
    parser.add_argument("--tokens", type=int, default=45, help="tokens per answer (45: 1.8 s a stream)")
    parser.add_argument(
        "--variant", action="append", default=[],
        help="NAME=FLAGS: a mock with these extra flags (default: one, 'mock', with none)",
    )
    parser.add_argument("--no-python-cost", action="store_true", help="skip the in-process cost-per-event table")
    parser.add_argument("--no-bare", action="store_true", help="skip the baseline (a bare ASGI app pacing the same events)")
    args = parser.parse_args()
    variants = [v.partition("=")[::2] for v in args.variant] or [("mock", "")]
    if not args.no_bare:
        variants.insert(0, ("bare", None))
    counts = [int(n) for n in args.streams.split(",")]
    stream_seconds = FIRST_MS / 1000 + (args.tokens + 1) / RATE

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * max(counts) + 100)), hard))
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})

    print(
        f"pacing {FIRST_MS:g} ms to the first token, {RATE:g} tokens/s; {args.tokens} tokens a stream "
        f"({stream_seconds:.1f} s); {args.duration:g} s measured per row; mock on CPU 0, client on CPU 1; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'variant':<10} {'streams':>7} | {'first p50':>9} {'p99':>7} | {'later p50':>9} {'p99':>7} | "
        f"{'head p99':>8} | {'events/s':>8} {'server':>7} {'us/ev':>6} {'kernel':>6} | {'client cpu':>10} {'failed':>6} | targets"
    )
    print("lateness against the schedule, ms (head: request sent -> response head, outside the schedule);")
    print("server: the mock's CPU use over the window, its CPU time per event delivered (us/ev), and the share of")
    print("that time spent in the kernel (on loopback, the sender's CPU also runs the TCP receive path of the client)")
    print(header)
    print("-" * len(header))
    best: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as directory:
        fixtures = write_fixture(directory, args.tokens)
        for name, flags in variants:
            port = free_port()
            process = start_bare_paced(port, directory, args.tokens) if flags is None else start_mock(port, fixtures, flags.split())
            try:
                for count in counts:
                    r = asyncio.run(load(port, process.pid, count, args.duration, stream_seconds))
                    s: Stats = r["stats"]
                    first99, later99 = pct(s.first, 0.99), pct(s.later, 0.99)
                    void = r["cpu"] > VOID_CPU
                    met = first99 <= TARGET_FIRST_MS and later99 <= TARGET_GAP_MS and not s.failures
                    verdict = "void (client busy)" if void else ("met" if met else "missed")
                    if met and not void:
                        best[name] = max(best.get(name, 0), count)
                    events = r["events"]
                    per_event = r["server"] / max(events, 1) * 1e6
                    print(
                        f"{name:<10} {count:>7} | {pct(s.first, 0.5):>9.1f} {first99:>7.1f} | {pct(s.later, 0.5):>9.1f} "
                        f"{later99:>7.1f} | {pct(s.head, 0.99):>8.1f} | {events:>8.0f} {r['server']:>7.0%} {per_event:>6.1f} {r['kernel']:>6.0%} | "
                        f"{r['cpu']:>9.0%} {s.failures:>6} | {verdict}",
                        flush=True,
                    )
            finally:
                stop(process)
    print()
    if not args.no_python_cost:
        print("Python CPU per paced event, in-process: 1,000 streams at once, 45 tokens at 500 tokens/s, no-op send (best of 3);")
        print("the whole app: as uvicorn calls it, request pipeline included (amortised over 48 events), no uvicorn or kernel:")
        for name, micros in python_cost():
            print(f"  {name:<52} {micros:6.2f} us")
        print()
    print(f"targets: p99 first token <= {TARGET_FIRST_MS:g} ms and later events <= {TARGET_GAP_MS:g} ms, at {TARGET_AT} streams")
    for name, _ in variants:
        print(f"{name}: most streams within the targets: {best.get(name, 0)} (of the counts tried)")


if __name__ == "__main__":
    main()
