"""How the mock tells a client to wait: OpenAI's Go-style durations and the Retry-After pair.

One rule for every 429 and 503 it sends, the rate limiter's refusals and injected faults alike.
"""

from __future__ import annotations

import math


def go_duration(seconds: float) -> str:
    """A duration as Go prints it, to the millisecond (rounded up): ``0s``, ``200ms``, ``1.5s``,
    ``1m0s``, ``1h2m3.004s`` — the format of OpenAI's ``x-ratelimit-reset-*`` headers."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    text = f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def retry_headers(wait_ms: float) -> list[tuple[str, str]]:
    """``Retry-After`` and ``retry-after-ms`` for a wait of ``wait_ms``.

    Retry-After is whole seconds (RFC 9110 allows no fraction), rounded up so that it is never too
    early; retry-after-ms, which the openai SDK prefers, carries the exact wait. Neither is ever less
    than 1: the openai SDK ignores a wait of 0 and falls back to its own back-off (0.5 s and up), while
    it honours 1 ms, so "retry at once" is sent as 1 ms."""
    ms = max(1, math.ceil(round(wait_ms, 6)))  # rounded first: 0.29 s is 290 ms, not 291
    return [("retry-after", str(math.ceil(ms / 1000))), ("retry-after-ms", str(ms))]
