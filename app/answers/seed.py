"""A reproducible seed per request: same request, same answer; any change to the input, another one.

``stream`` and ``stream_options`` are left out so that a streamed answer equals the JSON answer to
the same request, and the token limits so that a cut answer is a prefix of the uncut one, as with
a real model. With ``temperature`` 0 (the service default) the seed is all there is; above 0
the temperature is part of the seed, so answers vary between temperatures but stay reproducible.
"""

from __future__ import annotations

import hashlib
import random

from app.protocol.requests import ChatCompletionRequest

_EXCLUDED = {"stream", "stream_options", "max_completion_tokens", "max_tokens"}


def seed_of(request: ChatCompletionRequest) -> int:
    # temperature 0 is the service default, so sending it is the same request as leaving it out
    excluded = _EXCLUDED if request.temperature else _EXCLUDED | {"temperature"}
    canonical = request.model_dump_json(exclude=excluded, exclude_none=True, by_alias=True)
    return int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=8).digest(), "big")


def rng_for(request: ChatCompletionRequest) -> random.Random:
    return random.Random(seed_of(request))
