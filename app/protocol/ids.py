"""Identifiers in the shapes the real service uses.

They need to be unique, not secret: a generator seeded from the OS (again in each forked worker) is
several times cheaper per id than ``os.urandom`` per call, which mattered on the hot path.
"""

from __future__ import annotations

import base64
import os
import random

_random = random.Random(os.urandom(32))

# base64 is letters and digits but for "+" and "/"; mapping those two onto letters keeps the ids
# alphanumeric (a slight bias towards "A" and "a" is harmless in an identifier).
_ALNUM_ONLY = bytes.maketrans(b"+/", b"Aa")

# The ids every answer carries are made a batch at a time (one draw, one formatting), a third of the
# cost of one by one; a forked worker drops the batches it inherited with the generator's state.
_BATCH = 192
_request_ids: list[bytes] = []
_completion_ids: list[str] = []


def _after_fork() -> None:
    _random.seed(os.urandom(32))
    _request_ids.clear()
    _completion_ids.clear()


os.register_at_fork(after_in_child=_after_fork)


def _next_request_id() -> bytes:
    if not _request_ids:
        digits = b"%0*x" % (32 * _BATCH, _random.getrandbits(128 * _BATCH))
        _request_ids.extend(b"req_" + digits[i : i + 32] for i in range(0, len(digits), 32))
    return _request_ids.pop()


def request_id() -> str:
    """``req_`` + 32 hex digits, sent as ``x-request-id`` and ``x-trace-id``."""
    return _next_request_id().decode()


def request_id_headers() -> list[tuple[bytes, bytes]]:
    """A fresh request id as the two headers every answer carries."""
    value = _next_request_id()
    return [(b"x-request-id", value), (b"x-trace-id", value)]


def completion_id() -> str:
    """``chatcmpl-`` + 29 letters and digits."""
    if not _completion_ids:
        size = 22 * _BATCH  # a multiple of 3: base64 without padding
        text = base64.b64encode(_random.getrandbits(8 * size).to_bytes(size, "big")).translate(_ALNUM_ONLY).decode()
        _completion_ids.extend("chatcmpl-" + text[i : i + 29] for i in range(0, len(text) - 28, 29))
    return _completion_ids.pop()


def multilook_id() -> str:
    """``mlcmpl-`` + 32 hex digits, as the perceptron SDK's fixture spells a multilook response's id."""
    return f"mlcmpl-{_random.getrandbits(128):032x}"


def tool_call_id() -> str:
    """``call_`` + 24 letters and digits, fresh in every answer."""
    raw = _random.getrandbits(144).to_bytes(18, "big")
    return "call_" + base64.b64encode(raw)[:24].translate(_ALNUM_ONLY).decode()
