"""Instructions per chat request, in-process under callgrind: a count a busy machine does not change.

    .venv/bin/python bench/instructions.py [--requests 300] [--ref REF ...] [--digest]

Runs the mock's ASGI app (no server, no socket) over the requests of bench/request_pool.py under
`valgrind --tool=callgrind`, counting only the N requests after a warm-up of 300, for the working tree
and for each ``--ref`` (the app as it was at that commit, from the same virtualenv). Plain requests:
no test id, no pacing header, no file ids, no tools. ``--digest`` instead prints a digest of every
answer (JSON and streamed) to the pool and 330 variants, ids and times masked: a change that keeps
answers byte-identical keeps it. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import checkout  # noqa: E402
from bench.request_pool import request_pool  # noqa: E402

WARM_UP = 300
_MASKED = (b"x-request-id", b"x-trace-id", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests")


def make_app():
    os.environ["PERCEPTRON_MOCK_RATE_LIMIT_PER_MINUTE"] = "1000000000"
    from perceptron_mock.main import create_app

    return create_app()


async def call(app, body: bytes) -> list[dict]:
    """One POST /v1/chat/completions through the ASGI app; the messages it sent."""
    received = False

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    out: list[dict] = []

    async def send(message: dict) -> None:
        out.append(message)

    headers = [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
        (b"authorization", b"Bearer bench-key"), (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http", "method": "POST", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "headers": headers, "query_string": b"", "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "root_path": "", "asgi": {"version": "3.0"},
    }
    await app(scope, receive, send)
    return out


def count(requests: int) -> None:
    """Under callgrind: warm up, then count ``requests`` requests of the pool."""
    app = make_app()
    pool = [json.dumps(r, separators=(",", ":")).encode() for r in request_pool()]

    async def run(n: int) -> None:
        for i in range(n):
            out = await call(app, pool[i % len(pool)])
            assert out[0]["status"] == 200, out

    asyncio.run(run(WARM_UP))
    gc.collect()
    gc.freeze()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True, check=True)
    asyncio.run(run(requests))
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True, check=True)


def variants() -> list[dict]:
    pool = request_pool(1000)
    hinted = lambda r, hint: [{"role": "system", "content": f"<hint>{hint}</hint>"}] + r["messages"]  # noqa: E731
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a", "b"]}
    extra = [dict(r, stream=True, stream_options={"include_usage": True}) for r in pool[:100]]
    extra += [dict(r, messages=hinted(r, "POINT THINK")) for r in pool[100:200]]
    extra += [dict(r, messages=hinted(r, "POLYGON"), max_completion_tokens=20) for r in pool[200:260]]
    extra += [dict(r, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}) for r in pool[260:300]]
    extra += [dict(r, regex="[a-z]{3,8} [0-9]{2}") for r in pool[300:330]]
    extra += [{"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": "bad"}], "temperature": 5}]
    return pool + extra


def digest() -> str:
    app = make_app()

    async def run() -> str:
        total = hashlib.sha256()
        for request in variants():
            out = await call(app, json.dumps(request).encode())
            head = sorted((k, v) for k, v in out[0]["headers"] if k not in _MASKED)
            body = b"".join(m.get("body", b"") for m in out[1:])
            body = re.sub(rb"chatcmpl-[A-Za-z0-9]+", b"ID", body)
            body = re.sub(rb'"created": ?\d+', b"CREATED", body)
            total.update(repr((out[0]["status"], head)).encode() + body)
        return total.hexdigest()

    return asyncio.run(run())


def measure(requests: int, package: str | None) -> float:
    """Thousands of instructions per request, the app from ``package`` (a checkout) or the tree."""
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = package
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             sys.executable, os.path.abspath(__file__), "--child", str(requests)],
            env=env, cwd=package or ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        totals = re.search(r"^totals:\s+(\d+)", open(out).read(), re.M)
    return int(totals.group(1)) / requests / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--ref", action="append", default=[], help="also count the app as it was at this commit")
    parser.add_argument("--digest", action="store_true", help="print the digest of the answers instead")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        count(args.child)
    elif args.digest:
        print(digest())
    else:
        with tempfile.TemporaryDirectory() as directory:
            for ref in args.ref:
                package = checkout(ref, os.path.join(directory, ref))
                print(f"{ref}: {measure(args.requests, package):.1f}k instructions/request", flush=True)
        print(f"working tree: {measure(args.requests, None):.1f}k instructions/request")


if __name__ == "__main__":
    main()
