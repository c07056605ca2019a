"""A finished request leaves nothing behind for the cyclic garbage collector: its scope (which can
hold a 20 MB body while the request runs) is freed by reference counting the moment the server drops
it, as it would be without the mock's own keys in it."""

from __future__ import annotations

import asyncio
import gc
import weakref

import orjson

from perceptron_mock.main import create_app
from perceptron_mock.settings import Settings
from tests.helpers import chat


class _Scope(dict):  # a dict subclass, so that a weak reference can watch it
    pass


class _Cycle:
    """What uvicorn's RequestResponseCycle is to a scope: it holds the scope, and ``receive`` is its method."""

    def __init__(self, scope: dict, body: bytes) -> None:
        self.scope, self.body = scope, body

    async def receive(self) -> dict:
        return {"type": "http.request", "body": self.body, "more_body": False}


def test_scopes_are_freed_without_the_cyclic_collector() -> None:
    app = create_app(Settings())
    body = orjson.dumps(chat("hi"))
    statuses: list[int] = []
    watched: list[weakref.ref] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def serve(n: int) -> None:
        for path in ["/v1/chat/completions", "/v1/models", "/nowhere"] * n:
            scope = _Scope(type="http", method="POST" if "chat" in path else "GET", path=path, query_string=b"",
                           headers=[(b"authorization", b"Bearer k"), (b"content-length", str(len(body)).encode())])
            await app(scope, _Cycle(scope, body).receive, send)
            watched.append(weakref.ref(scope))
            del scope

    gc.collect()
    gc.disable()
    try:
        asyncio.run(serve(5))
        alive = sum(ref() is not None for ref in watched)
    finally:
        gc.enable()
    assert statuses[:3] == [200, 200, 404]
    assert alive == 0
