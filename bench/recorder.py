"""Benchmark: what the journal's recorder adds to one request, in-process, beside the bare app.

    .venv/bin/python bench/recorder.py [--requests 20000]

An ASGI app that reads the body and answers with a fixed completion (one write, or a 40-event stream
in 40 writes) is called directly (the baseline) and through ``Recorder`` with a memory journal: as it
runs by default (the answer's chunks and times kept, one live-view subscriber told), and with a body
carrying a 1 KB data-URL image (decoded and hashed into the image store). Printed: µs per request,
best of 5 rounds, and the difference to the baseline. No sockets: this isolates the recorder's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import orjson  # noqa: E402

from perceptron_mock.exchange import EXCHANGE_KEY, Exchange, exchange_of  # noqa: E402
from perceptron_mock.toolkit.image_store import ImageStore  # noqa: E402
from perceptron_mock.toolkit.journal import MemoryJournal, Recorder  # noqa: E402
from perceptron_mock.toolkit.live import Live  # noqa: E402

ANSWER = orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "A scene " * 20}, "finish_reason": "stop"}]})
EVENT = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"word "}}]}\n\n'
PLAIN = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "Describe this scene in detail."}]})
IMAGE = orjson.dumps(
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(os.urandom(1024)).decode()}}]}]}
)


def make_app(events: int):
    async def app(scope, receive, send):
        await exchange_of(scope).read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"req_1")]})
        if events:
            for _ in range(events - 1):
                await send({"type": "http.response.body", "body": EVENT, "more_body": True})
            await send({"type": "http.response.body", "body": EVENT})
        else:
            await send({"type": "http.response.body", "body": ANSWER})

    return app


async def run(app, body: bytes, requests: int) -> float:
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        pass

    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(requests):
            scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"", "headers": [(b"host", b"127.0.0.1")]}
            scope[EXCHANGE_KEY] = Exchange(receive=receive)
            await app(scope, receive, send)
        best = min(best, (time.perf_counter() - began) / requests * 1e6)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    live = Live()
    live.subscribe()  # one live view open (its queue fills and then only marks overflow)
    print("µs per request, best of 5 rounds of", args.requests)
    for label, events in (("one write", 0), ("40-event stream", 40)):
        app = make_app(events)
        recorded = Recorder(app, MemoryJournal(1000), body_limit=65536, images=ImageStore(32 << 20), live=live)
        bare = await run(app, PLAIN, args.requests)
        on = await run(recorded, PLAIN, args.requests)
        image_bare = await run(app, IMAGE, args.requests)
        image_on = await run(recorded, IMAGE, args.requests)
        print(f"{label:16} bare {bare:6.1f} | recorded {on:6.1f} (+{on - bare:.1f}) | 1 KB image: bare {image_bare:6.1f}, recorded {image_on:6.1f} (+{image_on - image_bare:.1f})")


if __name__ == "__main__":
    asyncio.run(main())
