"""``Exchange``: what one HTTP request carries from stage to stage besides its ASGI scope.

``perceptron_mock.main.MockServer`` makes one per request, keeps it under ``EXCHANGE_KEY`` in the scope
and deletes the key when the request ends: the server's ``receive`` it holds refers back to the scope,
and left in it the pair would wait for the cyclic garbage collector (a 20 MB body with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from perceptron_mock.asgi import Receive, Scope, read_body

EXCHANGE_KEY = "perceptron_mock.exchange"


@dataclass(slots=True, eq=False)
class Exchange:
    receive: Receive | None = None  # the server's own; a "reset" fault reaches the socket through it
    wants_body: bool = False  # the journal asks for the body the endpoint reads, to keep no copy of its own
    body: bytes | bytearray = b""
    quota: Any = None  # the rate limiter's Quota for this caller, once it admitted or refused the request
    storage_failed: bool = False  # a Redis call of this request failed: the rest of it does not wait on Redis again
    fault: str | None = None  # the spec of the fault this request got, for the journal
    tool_calls: list | None = None  # the calls the answer made ({id, name, arguments}), for the journal
    model: str | None = None  # the model a valid chat request named, for the metrics
    controls: bool = True  # the request may carry X-Mock-* headers; False: their readers need not look
    head_bytes: int | None = None  # the request head's size (guards.header_limit.header_bytes), once measured
    body_tap: Callable[[bytes], None] | None = None  # sees each body piece written past the send chain (the journal)

    async def read_body(self, receive: Receive) -> bytes | bytearray:
        """The request body (``perceptron_mock.asgi.read_body``), kept here too when the journal wants it."""
        body = await read_body(receive)
        if self.wants_body:
            self.body = body
        return body


def exchange_of(scope: Scope) -> Exchange:
    return scope[EXCHANGE_KEY]
