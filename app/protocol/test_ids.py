"""``X-Mock-Test-Id``: the request header that scopes the journal, queued faults and run-time fixtures to one
test, so that many test runs can share one mock (docs: "Admin API", test ids).

No id is the shared scope, which behaves as a mock without ids does; an id sees its own and the shared.
"""

from __future__ import annotations

import re
from typing import Any

from perceptron_mock.asgi import header
from perceptron_mock.protocol.errors import APIError

HEADER = "X-Mock-Test-Id"
_RAW = HEADER.lower().encode()
MAX_LENGTH = 256
VALID = re.compile(r"[\x20-\x7e]{1,%d}" % MAX_LENGTH)  # visible ASCII and spaces: a pytest node id fits


def invalid_test_id() -> APIError:
    return APIError(
        400,
        f"Invalid {HEADER} header: give 1 to {MAX_LENGTH} visible ASCII characters (or spaces).",
        param=HEADER,
        code="invalid_test_id",
    )


def read_test_id(scope: Any) -> str | None:
    """The request's test id (None: the shared scope); a bad one is a 400."""
    raw = header(scope, _RAW)
    if raw is None:
        return None
    text = raw.decode("latin-1").strip()
    if not VALID.fullmatch(text):
        raise invalid_test_id()
    return text


def lenient_test_id(scope: Any) -> str | None:
    """The request's test id, None for a bad one (refused with its 400, journaled in the shared scope)."""
    try:
        return read_test_id(scope)
    except APIError:
        return None


def sees(owner: str | None, viewer: str | None) -> bool:
    """Whether what ``owner`` added is visible to ``viewer``: no viewer id sees everything (as without
    ids); an id sees its own and the shared scope's, never another id's."""
    return viewer is None or owner is None or owner == viewer
