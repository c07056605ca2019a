"""What a journal entry keeps of a request and its answer: bodies, headers and tool calls cut to their
bounds (docs: "Admin API" gives them), credentials never."""

from __future__ import annotations

from itertools import chain
from typing import Any

import orjson

from perceptron_mock.protocol.data_urls import Body, data_url_spans, replace_spans
from perceptron_mock.protocol.json_items import items_over

# Headers that carry credentials never leave the process: not through the admin API, not into Redis.
SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"x-api-key", b"api-key", b"cookie"})

_LONG_STRING = 256  # strings longer than this are shortened in an oversized body
_KEPT_HEAD = 64

# What one entry keeps of the request's headers (the 431 cap allows 64 KiB of them, which a
# thousand-entry ring must not multiply): values clipped, then headers kept until a count or a size.
HEADER_VALUE_KEPT = 2048
HEADER_BYTES_KEPT = 16384
HEADERS_KEPT = 100


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > _LONG_STRING:
            return f"{value[:_KEPT_HEAD]}...[{len(value)} chars]"
        return value
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    return value


def _shorten_data_urls(body: Body) -> Body:
    """``body`` with each long data URL shortened as ``_shorten`` would, on the raw bytes. The length
    given is in bytes: the same as in characters for the base64 such a URL holds."""
    edits = []
    for start, end in data_url_spans(body, _LONG_STRING + 1):
        head = bytes(body[start : start + _KEPT_HEAD])
        if head.isascii():  # a head cut inside a UTF-8 character would not be JSON
            edits.append((start, end, head + f"...[{end - start} chars]".encode()))
    return replace_spans(body, edits) if edits else body


def stored_body(body: Body, limit: int, max_items: int | None = None) -> tuple[bytes, bool]:
    """The bytes to keep for ``body`` and whether they were shortened. A body of more than ``max_items``
    JSON items is not parsed (the endpoint refused it for that): its head is kept, as for one that is
    not JSON."""
    if len(body) <= limit:
        return bytes(body), False
    body = _shorten_data_urls(body)
    if len(body) <= limit:
        return bytes(body), True
    if max_items is not None and items_over(body, max_items):
        return bytes(body[:limit]), True
    try:
        shortened = orjson.dumps(_shorten(orjson.loads(body)))
    except orjson.JSONDecodeError:
        return bytes(body[:limit]), True
    return (shortened if len(shortened) <= limit else shortened[:limit]), True


def stored_headers(headers: list[tuple[bytes, bytes]], size: int | None = None) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The headers to keep for a request and whether they were shortened. Within the bounds (every
    ordinary request) they are the server's own list, not a copy; past them, credentials are left
    out, a value over ``HEADER_VALUE_KEPT`` bytes keeps its head and says how long it was, and the
    headers past ``HEADERS_KEPT`` or ``HEADER_BYTES_KEPT`` bytes are left out. ``size``: the head's
    size on the wire when it was measured already (``guards.header_limit.header_bytes``)."""
    if len(headers) <= HEADERS_KEPT:
        # Names and values of at most HEADER_VALUE_KEPT bytes together (every ordinary request): no
        # value is over its bound, nor the whole over HEADER_BYTES_KEPT; known without a Python loop.
        if size is None:
            size = len(b"".join(chain.from_iterable(headers)))
        if size <= HEADER_VALUE_KEPT:
            return headers, False
        size = 0
        for name, value in headers:  # one plain loop: this runs on every request
            if len(value) > HEADER_VALUE_KEPT:
                break
            size += len(name) + len(value)
        else:
            if size <= HEADER_BYTES_KEPT:
                return headers, False
    kept: list[tuple[bytes, bytes]] = []
    size = 0
    shortened = False
    for name, value in headers:
        if name in SECRET_HEADERS:
            continue
        if len(value) > HEADER_VALUE_KEPT:
            value = value[:HEADER_VALUE_KEPT] + b"...[%d bytes]" % len(value)
            shortened = True
        size += len(name) + len(value)
        if len(kept) == HEADERS_KEPT or size > HEADER_BYTES_KEPT:
            return kept, True
        kept.append((name, value))
    return kept, shortened


def kept_calls(calls: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    """An answer's tool calls as an entry keeps them: a name or arguments over ``HEADER_VALUE_KEPT``
    characters keeps its head and says how long it was (a ring of entries must not hold megabytes)."""
    if not calls:
        return None

    def kept(text: str) -> str:
        return text if len(text) <= HEADER_VALUE_KEPT else f"{text[:HEADER_VALUE_KEPT]}...[{len(text)} chars]"

    return [{"id": call["id"], "name": kept(call["name"]), "arguments": kept(call["arguments"])} for call in calls]
