"""Bearer-key authentication: any non-empty key by default, or one of a configured set."""

from __future__ import annotations

import hmac

from perceptron_mock.asgi import Scope, header
from perceptron_mock.protocol.errors import missing_key, refused_key


def bearer_token(scope: Scope) -> bytes | None:
    """The token of the request's ``Authorization: Bearer <token>`` header, unchecked; None when there is
    no such header, another scheme or an empty token. The API key check, the rate limiter's key and the
    admin key check all read the header through this one function."""
    raw = header(scope, b"authorization")
    if raw is None:
        return None
    scheme, _, token = raw.partition(b" ")
    token = token.strip()
    return token if scheme.lower() == b"bearer" and token else None


def matches_any(token: bytes, keys: list[bytes]) -> bool:
    # Compare against every key so that timing says nothing about which, or how much, matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched


class BearerAuth:
    def __init__(self, keys: list[str]) -> None:
        self._keys = [key.encode() for key in keys]

    def check(self, scope: Scope) -> str:
        """The caller's key, or an ``APIError`` 401."""
        token = bearer_token(scope)
        if token is None:
            raise missing_key()
        if self._keys and not matches_any(token, self._keys):
            raise refused_key(token.decode("latin-1"))
        return token.decode("latin-1")
