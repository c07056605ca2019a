"""Identifiers in the shapes the real service uses.

They need to be unique, not secret: a generator seeded from the OS (again in each forked worker) is
several times cheaper per id than ``os.urandom`` per call, which mattered on the hot path.
"""

from __future__ import annotations

import base64
import os
import random

_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))

# base64 is letters and digits but for "+" and "/"; mapping those two onto letters keeps the ids
# alphanumeric (a slight bias towards "A" and "a" is harmless in an identifier).
_ALNUM_ONLY = bytes.maketrans(b"+/", b"Aa")


def request_id() -> str:
    """``req_`` + 32 hex digits, sent as ``x-request-id`` and ``x-trace-id``."""
    return f"req_{_random.getrandbits(128):032x}"


def request_id_headers() -> list[tuple[bytes, bytes]]:
    """A fresh request id as the two headers every answer carries."""
    value = request_id().encode()
    return [(b"x-request-id", value), (b"x-trace-id", value)]


def completion_id() -> str:
    """``chatcmpl-`` + 29 letters and digits."""
    raw = _random.getrandbits(176).to_bytes(22, "big")
    return "chatcmpl-" + base64.b64encode(raw)[:29].translate(_ALNUM_ONLY).decode()


def multilook_id() -> str:
    """``mlcmpl-`` + 32 hex digits, as the perceptron SDK's fixture spells a multilook response's id."""
    return f"mlcmpl-{_random.getrandbits(128):032x}"
def tool_call_id() -> str:
    """``call_`` + 24 letters and digits, fresh in every answer."""
    raw = _random.getrandbits(144).to_bytes(18, "big")
    return "call_" + base64.b64encode(raw)[:24].translate(_ALNUM_ONLY).decode()
