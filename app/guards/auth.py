"""Bearer-key authentication: any non-empty key by default, or one of a configured set."""

from __future__ import annotations

import hmac

from app.asgi import Scope, header
from app.protocol.errors import missing_key, refused_key


class BearerAuth:
    def __init__(self, keys: list[str]) -> None:
        self._keys = [key.encode() for key in keys]

    def check(self, scope: Scope) -> str:
        """The caller's key, or an ``APIError`` 401."""
        raw = header(scope, b"authorization")
        if raw is None:
            raise missing_key()
        scheme, _, token = raw.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            raise missing_key()
        if self._keys:
            # Compare against every key so that timing says nothing about which, or how much, matched.
            matched = False
            for key in self._keys:
                matched |= hmac.compare_digest(token, key)
            if not matched:
                raise refused_key(token.decode("latin-1"))
        return token.decode("latin-1")
