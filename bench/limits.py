"""Benchmark: what the limits cost.

    .venv/bin/python bench/limits.py [--duration 5] [--connections 16] [--skip-rate]

1. Memory: the server's peak RSS (VmHWM, reset through /proc/PID/clear_refs before each case) while
   it accepts a 19.9 MB data-URL request, and while it refuses a 500 MB Content-Length and a 100 MB
   chunked upload; targets: accepted <= idle + 3x the body, refused = no growth. A chunked upload
   declares no length, so it can only be refused once it has passed the cap: it holds at most the cap
   (20 MB), which is its target here. Also the image 4 times in a row on one server (what one
   request leaves behind must not add up), and a 19.9 MB text prompt, which is read, counted and
   refused with 400 context_length_exceeded; the issue sets no target for that one (it is parsed
   whole), so its row shows the 3x of accepted bodies only for comparison.
2. Rate limiter: requests/s of the mock with the limiter off, in memory and in Redis, same run, wrk
   pinned to CPU 1 and the mock to CPU 0 (the limit is set so high that nothing is refused: this is
   the cost of the check). A Redis storage URL moves the journal and the fault queue to Redis too,
   so a request there makes three Lua calls: the limiter's, the fault queue's and the journal's. The
   row with --journal-size 0 leaves out the journal's; the fault queue's cannot be switched off, so
   no row shows the limiter's round trip alone. Needs `wrk` and `redis-server` (Debian's packages).
3. Tokenizer: the cost of counting a text with the Qwen3 tokenizer against the regex approximation it
   replaced, and that approximation's error on real texts.

Figures vary +-25 % on a shared VM: compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import shutil
import sys
import tempfile
import time
import timeit

import httpx
import orjson
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import REQUEST, WRK_SCRIPT, proc_status_kb, start_mock, wrk  # noqa: E402
from tests.redis_server import run_redis  # noqa: E402
from tests.server import declared_body, free_port, stop  # noqa: E402

MB = 1024 * 1024
CAP = 20 * MB
KEY = {"authorization": "Bearer bench-key"}


# --- 1. memory -----------------------------------------------------------------------------------


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current RSS


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG", compress_level=0)  # stored: size is pixels
    return buffer.getvalue()


def _image_request(body_bytes: int) -> bytes:
    width = 4000
    height = (body_bytes * 3 // 4) // (3 * width + 1)
    url = "data:image/png;base64," + base64.b64encode(_png(width, height)).decode()
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Describe it."}]
    return orjson.dumps({**REQUEST, "messages": [{"role": "user", "content": parts}]})


def _text_request(body_bytes: int) -> bytes:
    empty = len(orjson.dumps({**REQUEST, "messages": [{"role": "user", "content": ""}]}))
    sentence = "lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    words = sentence * ((body_bytes - empty) // len(sentence) + 1)
    return orjson.dumps({**REQUEST, "messages": [{"role": "user", "content": words[: body_bytes - empty]}]})


def _declared_only(port: int, length: int) -> int:
    with declared_body(f"http://127.0.0.1:{port}", length, timeout=30, authorization="Bearer bench-key") as sock:
        return int(sock.recv(65536).split(b" ", 2)[1])


def _chunked(url: str, total: int) -> int:
    def chunks():
        for _ in range(total // MB):
            yield b"x" * MB

    return httpx.post(url, content=chunks(), headers=KEY, timeout=120).status_code


def memory(flags: list[str]) -> None:
    """Each case on a fresh mock, warmed up the same way, so that no case inherits the heap another
    one left behind (freed memory is not always given back to the system)."""
    image_body = _image_request(CAP - 100 * 1024)
    text_body = _text_request(CAP - 100 * 1024)
    small = {**REQUEST, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(_png(64, 64)).decode()}},
        {"type": "text", "text": "Describe it."},
    ]}]}
    cases = [  # (name, target as printed, run)
        ("accepted: 19.9 MB data-URL image", f"<= {3 * len(image_body) / MB:.1f}", lambda url, port: httpx.post(url, content=image_body, headers=KEY, timeout=120).status_code),
        ("accepted: the same image, 4 in a row", f"<= {3 * len(image_body) / MB:.1f}", lambda url, port: [httpx.post(url, content=image_body, headers=KEY, timeout=120).status_code for _ in range(4)][-1]),
        ("read, refused 400: 19.9 MB text", f"(3x={3 * len(text_body) / MB:.1f})", lambda url, port: httpx.post(url, content=text_body, headers=KEY, timeout=120).status_code),
        ("refused 413: 500 MB Content-Length", "~0", lambda url, port: _declared_only(port, 500 * MB)),
        ("refused 413: 100 MB chunked upload", f"~{CAP / MB:.0f} (cap)", lambda url, port: _chunked(url, 100 * MB)),
    ]
    print(f"1. Memory: peak RSS of the mock (1 worker) per request; flags: {' '.join(flags) or '(defaults)'}")
    print(f"   {'case':<38} {'status':>6} {'seconds':>8} {'idle MB':>8} {'peak MB':>8} {'growth MB':>9} {'target MB':>12}")
    for name, target, run in cases:
        port = free_port()
        mock = start_mock(port, ["--rate-limit-per-minute", "0", *flags])
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        try:
            # Warm-up with a small image: what is loaded once (Pillow's plugins, lazy imports) is
            # not the cost of a large body.
            httpx.post(url, json=small, headers=KEY)
            idle = proc_status_kb(mock.pid)
            _reset_peak(mock.pid)
            started = time.perf_counter()
            status = run(url, port)
            elapsed = time.perf_counter() - started
            peak = proc_status_kb(mock.pid, "VmHWM")
        finally:
            stop(mock)
        print(
            f"   {name:<38} {status:>6} {elapsed:>8.2f} {idle / 1024:>8.1f} {peak / 1024:>8.1f} "
            f"{(peak - idle) / 1024:>9.1f} {target:>12}"
        )


# --- 2. rate limiter -------------------------------------------------------------------------------


def rate_limiter(duration: int, connections: int) -> None:
    print(f"2. Rate limiter: mock requests/s, 1 worker, wrk -c{connections} for {duration}s each, same run")
    print(f"   {'storage':<56} {'rps':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs off':>7}")
    high = ["--rate-limit-per-minute", "100000000"]  # checked on every request, never refused
    with run_redis() as redis_url, tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "post.lua")
        with open(script, "w") as handle:
            handle.write(WRK_SCRIPT.format(body=orjson.dumps(REQUEST).decode()))
        baseline = None
        for name, flags in [
            ("off (--rate-limit-per-minute 0)", ["--rate-limit-per-minute", "0"]),
            ("memory://", high),
            ("redis://: limiter + fault queue + journal (3 Lua calls)", [*high, "--rate-limit-storage", redis_url]),
            ("redis://, --journal-size 0: limiter + fault queue (2)", [*high, "--rate-limit-storage", redis_url, "--journal-size", "0"]),
        ]:
            port = free_port()
            mock = start_mock(port, flags)
            try:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                wrk(url, script, connections, 1)  # warm-up
                result = wrk(url, script, connections, duration)
            finally:
                stop(mock)
            baseline = baseline or result["rps"]
            note = f"  ({result['non2xx']} non-2xx)" if result["non2xx"] else ""
            print(
                f"   {name:<56} {result['rps']:>8.0f} {result['p50']:>7.2f} {result['p99']:>7.2f} "
                f"{result['rps'] / baseline:>7.2f}{note}"
            )


# --- 3. tokenizer --------------------------------------------------------------------------------

# The approximation used before the real tokenizer: words with their leading space, runs of up to
# three digits, single punctuation marks and whitespace runs each count as one token.
_APPROX = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]|\s+(?!\S)|\s+|_+")


def _texts() -> dict[str, str]:
    def read(*parts: str) -> str:
        path = os.path.join(*parts)
        return open(path, encoding="utf-8").read() if os.path.exists(path) else ""

    shared = os.path.join(os.path.dirname(ROOT), "shared", "reference")
    texts = {
        "API reference (English prose)": read(shared, "perceptron-chat-completions.txt"),
        "wire notes (technical English)": read(shared, "openai-wire-notes.md"),
        "docs/limits.md (markdown, tables)": read(ROOT, "docs", "limits.md"),
        "app/main.py (Python code)": read(ROOT, "app", "main.py"),
        "Chinese prose": "视觉语言模型会把图像切成小块，再把每四个小块合成一个标记。" * 40,
        "a short prompt": "What stands out in this scene?",
    }
    return {name: text for name, text in texts.items() if text}


def tokenizer() -> None:
    started = time.perf_counter()
    from perceptron_mock.accounting import tokens

    print(f"3. Tokenizer: Qwen3 vocabulary loaded in {time.perf_counter() - started:.2f}s at import")
    print(f"   {'text':<32} {'chars':>7} {'tokens':>7} {'approx':>7} {'error':>7} {'us qwen':>8} {'us approx':>9}")
    for name, text in _texts().items():
        exact = tokens.count(text)
        approx = len(_APPROX.findall(text))
        runs = min(20_000, max(20, 200_000 // len(text)))
        qwen = timeit.timeit(lambda: tokens.count(text), number=runs) / runs * 1e6
        regex = timeit.timeit(lambda: _APPROX.findall(text), number=runs) / runs * 1e6
        print(
            f"   {name:<32} {len(text):>7} {exact:>7} {approx:>7} {(approx - exact) / exact:>+7.1%} "
            f"{qwen:>8.1f} {regex:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-rate", action="store_true", help="skip the wrk runs (no wrk or redis-server)")
    args = parser.parse_args()
    memory([])
    print()
    memory(["--journal-size", "0"])
    print()
    if not args.skip_rate:
        if not (shutil.which("wrk") and shutil.which("redis-server")):
            raise SystemExit("wrk and redis-server are needed: apt-get install wrk redis-server (or --skip-rate)")
        rate_limiter(args.duration, args.connections)
        print()
    tokenizer()


if __name__ == "__main__":
    main()
