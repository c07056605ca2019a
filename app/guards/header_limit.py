"""The request-header cap: a head over ``max_header_bytes`` is refused with 431 before any other check.

``perceptron_mock.main.MockServer`` applies it first, for every route, so nothing downstream (auth, the rate
limiter's buckets, the journal, the fault-spec cache) ever holds an oversized header.
"""

from __future__ import annotations

from typing import Iterable

from perceptron_mock.protocol.errors import APIError

# ": " and CRLF: each header line is counted as it was sent, so a head of many tiny headers is bounded too.
LINE_OVERHEAD = 4


def header_bytes(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The size of ``headers`` as header lines on the wire."""
    return sum(len(name) + len(value) + LINE_OVERHEAD for name, value in headers)


def measure_head(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, bool]:
    """``header_bytes(headers)`` and whether any is an ``X-Mock-*`` header (test id, fault, pacing), in
    the one pass every request makes over its head: a request without one skips each reader's scan."""
    size = 0
    controls = False
    for name, value in headers:
        size += len(name) + len(value) + LINE_OVERHEAD
        if name[:7] == b"x-mock-":
            controls = True
    return size, controls


def headers_too_large(limit: int) -> APIError:
    return APIError(
        431,
        f"Request header fields too large: the limit is {limit} bytes for all header lines together "
        f"({limit / 1024:g} KiB).",
        code="request_header_fields_too_large",
        # A client that sends such a head is not one to keep a connection open for.
        headers={"connection": "close"},
    )
