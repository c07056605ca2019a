"""Benchmark: does the event loop stay free while one large request is worked on?

    .venv/bin/python bench/large_bodies.py [--cases text,image-png,...] [--rounds 1]

One mock, one uvicorn worker, started as users start it (`perceptron-mock --port P`; only the rate
limit is off, so that the probes below are never refused). For each case a client sends one ~19.9 MB
body while two other asyncio clients, each on its own connection, probe the server: `GET /health`
every 10 ms and a small ordinary completion every 50 ms. Printed per case: the large request's
status and error code, its wall time, and the worst and median latency of each probe while it was
in flight. The first row ("plain") is a small completion measured the same way in the same run:
the baseline. The issue's target: every probe answered within 100 ms behind any single request.
Figures vary on a shared VM: compare the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import statistics
import sys
import time
from typing import Callable

import httpx
import orjson
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import REQUEST, start_mock  # noqa: E402
from tests.helpers import json_items  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

MB = 1024 * 1024
SIZE = 20 * MB - 100 * 1024  # just under the 20 MB cap
KEY = {"authorization": "Bearer bench-key", "content-type": "application/json"}
MODEL = REQUEST["model"]


def _body(messages: list, **fields) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": messages, **fields})


def _fill(make: Callable[[int], bytes], size: int = SIZE) -> bytes:
    """``make(n)`` for the largest n (found by doubling and bisection) whose body fits in ``size``."""
    low, high = 1, 1
    while len(make(high)) <= size:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(make(middle)) <= size else (low, middle)
    return make(low)


def _encode(fmt: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":  # stored, not compressed: its size is its pixels
        Image.new("RGB", (width, height), "teal").save(buffer, "PNG", compress_level=0)
    else:  # noise, which JPEG cannot shrink much
        Image.effect_noise((width, height), 64).convert("RGB").save(buffer, "JPEG", quality=100)
    return buffer.getvalue()


def _image(fmt: str, size: int) -> bytes:
    """A ``fmt`` image of at most about ``size`` bytes."""
    width = 2000
    per_row = len(_encode(fmt, width, 64)) / 64
    return _encode(fmt, width, max(1, int(size / per_row * 0.97)))


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def text_prompt() -> bytes:
    words = "lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    return _fill(lambda n: _body([{"role": "user", "content": words * n}]))


def one_image(fmt: str, mime: str) -> Callable[[], bytes]:
    def make() -> bytes:
        image = _image(fmt, SIZE * 3 // 4 - 64 * 1024)
        parts = [{"type": "image_url", "image_url": {"url": _data_url(image, mime)}}, {"type": "text", "text": "Describe it."}]
        return _body([{"role": "user", "content": parts}])

    return make


def many_messages() -> bytes:
    return _fill(lambda n: _body([{"role": "user", "content": "hi there"}] * n))


def many_text_parts() -> bytes:
    return _fill(lambda n: _body([{"role": "user", "content": [{"type": "text", "text": "hi"}] * n}]))


def many_keys() -> bytes:
    # An object of many unknown keys where only known ones are allowed: one validation error per key.
    return _fill(lambda n: _body([{"role": "user", "content": "hi"}], vision_config={f"k{i}": 1 for i in range(n)}), SIZE)


def many_ints() -> bytes:
    # Content parts that are not objects: one validation error per item.
    return _fill(lambda n: _body([{"role": "user", "content": [1] * n}]))


def deep_nesting() -> bytes:
    depth = (SIZE - 200) // 2
    return _body([{"role": "user", "content": "hi"}]).replace(b'"hi"', b"[" * depth + b"]" * depth)


def many_images() -> bytes:
    # Small data-URL images (each under the 64 KB that is lifted out of the body before parsing).
    url = _data_url(_image("PNG", 30 * 1024), "image/png")
    return _fill(lambda n: _body([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}] * n}]))


def many_image_urls() -> bytes:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    return _fill(lambda n: _body([{"role": "user", "content": [part] * n}]))


ITEMS = 25_000  # the default --max-json-items: bodies at it are parsed, bodies over it are not


def at_cap(make: Callable[[int], dict]) -> Callable[[], bytes]:
    """The body ``make(n)`` with the most items at most ``ITEMS``: the most the mock will parse."""

    def build() -> bytes:
        low, high = 1, ITEMS
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if json_items(make(middle)) <= ITEMS else (low, middle)
        return orjson.dumps(make(low))

    return build


def _request(messages: list, **fields) -> dict:
    return {"model": MODEL, "messages": messages, **fields}  # fields may name another model


CASES: dict[str, Callable[[], bytes]] = {
    "plain": lambda: orjson.dumps(REQUEST),
    "text": text_prompt,
    "image-png": one_image("PNG", "image/png"),
    "image-jpeg": one_image("JPEG", "image/jpeg"),
    "many-messages": many_messages,
    "many-text-parts": many_text_parts,
    "many-keys": many_keys,
    "many-ints": many_ints,
    "deep-nesting": deep_nesting,
    "many-images": many_images,
    "many-image-urls": many_image_urls,
    # The worst bodies the item cap lets through to the parser:
    "cap-messages": at_cap(lambda n: _request([{"role": "user", "content": "hi there"}] * n)),
    "cap-bad-messages": at_cap(lambda n: _request([{"role": "user", "content": [{"type": "text"}]}] * n)),
    "cap-keys": at_cap(lambda n: _request([{"role": "user", "content": "hi"}], vision_config={f"k{i}": 1 for i in range(n)})),
    "cap-ints": at_cap(lambda n: _request([{"role": "user", "content": [1] * n}])),
    "cap-image-urls": at_cap(
        lambda n: _request([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}] * n}])
    ),
    "cap-tool-schema": at_cap(
        lambda n: _request(
            [{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {f"p{i}": {"type": "string"} for i in range(n)}}}],
            model="perceptron-mk1.5",  # the catalog's model with tool calling
        )
    ),
}


async def _probe(client: httpx.AsyncClient, request: Callable, every: float, done: asyncio.Event, out: list[float]) -> None:
    while not done.is_set():
        started = time.perf_counter()
        try:
            response = await request(client)
        except httpx.TimeoutException:  # a stalled server: the probe waited this long and gave up
            out.append(time.perf_counter() - started)
            continue
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:200]
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))


async def run_case(url: str, body: bytes) -> dict:
    limits = httpx.Limits(max_connections=1)
    async with (
        httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as big,
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as health,
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers=KEY) as small,
    ):
        # Warm each connection, so that connecting is not what the first probe measures.
        await health.get("/health")
        await small.post("/v1/chat/completions", content=orjson.dumps(REQUEST))
        done = asyncio.Event()
        health_latency: list[float] = []
        small_latency: list[float] = []
        probes = [
            asyncio.create_task(_probe(health, lambda c: c.get("/health"), 0.010, done, health_latency)),
            asyncio.create_task(
                _probe(small, lambda c: c.post("/v1/chat/completions", content=orjson.dumps(REQUEST)), 0.050, done, small_latency)
            ),
        ]
        await asyncio.sleep(0.1)
        health_latency.clear()
        small_latency.clear()
        started = time.perf_counter()
        response = await big.post("/v1/chat/completions", content=body, headers=KEY)
        elapsed = time.perf_counter() - started
        done.set()
        await asyncio.gather(*probes)
    code = None
    if response.status_code != 200:
        code = response.json()["error"]["code"]
    return {"status": response.status_code, "code": code, "seconds": elapsed, "health": health_latency, "small": small_latency}


def _ms(values: list[float], how: Callable) -> str:
    return f"{how(values) * 1000:.0f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--rounds", type=int, default=1, help="times each case is sent (the worst is printed)")
    parser.add_argument("--flags", default="", help="extra mock flags, space-separated")
    args = parser.parse_args()
    names = [name for name in args.cases.split(",") if name]
    bodies = {name: CASES[name]() for name in names}

    port = free_port()
    mock = start_mock(port, ["--rate-limit-per-minute", "0", *args.flags.split()])
    url = f"http://127.0.0.1:{port}"
    print(f"One worker; /health every 10 ms and a small completion every 50 ms while each body is answered; flags: {args.flags or '(defaults)'}")
    print(f"{'case':<16} {'MB':>5} {'status':>6} {'code':<26} {'seconds':>7} {'health max/p50 ms':>18} {'small max/p50 ms':>17}")
    try:
        for name in names:
            body = bodies[name]
            results = [asyncio.run(run_case(url, body)) for _ in range(args.rounds)]
            worst = max(results, key=lambda r: max(r["health"], default=0))
            print(
                f"{name:<16} {len(body) / MB:>5.1f} {worst['status']:>6} {str(worst['code'] or ''):<26} {worst['seconds']:>7.2f} "
                f"{_ms(worst['health'], max) + ' / ' + _ms(worst['health'], statistics.median):>18} "
                f"{_ms(worst['small'], max) + ' / ' + _ms(worst['small'], statistics.median):>17}",
                flush=True,
            )
    finally:
        stop(mock)


if __name__ == "__main__":
    main()
