"""Identifiers in the shapes the real service uses."""

from __future__ import annotations

import os
import string

_ALNUM = (string.ascii_letters + string.digits).encode()


def request_id() -> str:
    """``req_`` + 32 hex digits, sent as ``x-request-id`` and ``x-trace-id``."""
    return "req_" + os.urandom(16).hex()


def completion_id() -> str:
    """``chatcmpl-`` + 29 letters and digits."""
    return "chatcmpl-" + bytes(_ALNUM[b % 62] for b in os.urandom(29)).decode()
