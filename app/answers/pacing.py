"""Latency models: each stream's schedule (first-token wait, then the gap before each further event),
fixed or drawn from a seeded distribution, and the ``X-Mock-Pacing`` grammar that picks a model.

The schedule is a pure function of the model, the prompt's length and a seed derived from the request,
so the same request is paced the same way on every run (docs: Streaming, latency models).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from perceptron_mock.answers.answer import Pacing
from perceptron_mock.asgi import Scope, header
from perceptron_mock.protocol.errors import APIError

PACING_HEADER = b"x-mock-pacing"

# Caps (docs/limits.md): a drawn or stated wait never exceeds these, whatever the spec.
MAX_FIRST_TOKEN_MS = 600_000.0  # ten minutes, as a fault's latency
MAX_GAP_MS = 60_000.0  # one gap between two events
MAX_TOKENS_PER_SECOND = 100_000.0
MAX_PREFILL_MS_PER_1K = 60_000.0
MAX_SEED = 2**63 - 1
MAX_SPEC_CHARS = 200

DISTRIBUTIONS = ("normal", "lognormal")


class PacingSpecError(ValueError):
    """A pacing spec that cannot be understood."""


@dataclass(frozen=True)
class Schedule:
    """When a stream's events fall due, in seconds: the first token ``first`` after the stream starts,
    then ``gaps()`` one gap before each further event."""

    first: float
    interval: float  # the mean gap; 0: as fast as possible
    jitter: float  # the gaps' standard deviation
    seed: int

    def gaps(self) -> Iterator[float]:
        if not self.jitter:
            return itertools.repeat(self.interval)
        return _jittered(self.interval, self.jitter, random.Random(self.seed ^ 0x9E3779B97F4A7C15))


def _jittered(mean: float, sd: float, rng: random.Random) -> Iterator[float]:
    gauss, cap = rng.gauss, MAX_GAP_MS / 1000
    while True:
        yield min(max(gauss(mean, sd), 0.0), cap)


def stream_seed(base: int, request_seed: int) -> int:
    """One stream's seed: the pacing's (or the server's) seed mixed with the request's own, so that
    the same request draws the same schedule and another request another one."""
    digest = hashlib.blake2b(f"{base}:{request_seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def draw_first_ms(pacing: Pacing, rng: random.Random) -> float:
    mean, sd = pacing.first_token_ms, pacing.first_token_sd_ms
    if not sd:
        return mean
    if pacing.distribution == "lognormal":
        if mean <= 0:
            return 0.0
        # The log-normal whose mean and standard deviation are the ones given.
        sigma2 = math.log1p((sd / mean) ** 2)
        return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    return rng.gauss(mean, sd)


def schedule(pacing: Pacing, *, prompt_tokens: int = 0, seed: int = 0) -> Schedule:
    """The schedule ``pacing`` gives one stream whose prompt has ``prompt_tokens`` tokens; ``seed``
    (``stream_seed``) picks the draw when the model is a distribution."""
    first = draw_first_ms(pacing, random.Random(seed)) if pacing.first_token_sd_ms else pacing.first_token_ms
    first += pacing.prefill_ms_per_1k * prompt_tokens / 1000
    first = min(max(first, 0.0), MAX_FIRST_TOKEN_MS)
    rate = pacing.tokens_per_second
    interval = min(1 / rate, MAX_GAP_MS / 1000) if rate else 0.0
    jitter = pacing.token_jitter_ms / 1000 if rate else 0.0
    return Schedule(first=first / 1000, interval=interval, jitter=jitter, seed=seed)


# --- the grammar ------------------------------------------------------------------------------------

# name: (field, minimum, maximum); numbers in ms unless said.
_NUMBERS: dict[str, tuple[str, float, float]] = {
    "first_token_ms": ("first_token_ms", 0, MAX_FIRST_TOKEN_MS),
    "first_token_sd_ms": ("first_token_sd_ms", 0, MAX_FIRST_TOKEN_MS),
    "tokens_per_second": ("tokens_per_second", 0, MAX_TOKENS_PER_SECOND),
    "token_ms": ("token_ms", 0, MAX_GAP_MS),
    "token_jitter_ms": ("token_jitter_ms", 0, MAX_GAP_MS),
    "prefill_ms_per_1k": ("prefill_ms_per_1k", 0, MAX_PREFILL_MS_PER_1K),
}
_ALIASES = {
    "ttft": "first_token_ms",
    "ttft_sd": "first_token_sd_ms",
    "sd": "first_token_sd_ms",
    "tps": "tokens_per_second",
    "gap": "token_ms",
    "jitter": "token_jitter_ms",
    "prefill": "prefill_ms_per_1k",
    "dist": "distribution",
}
KNOWN = "ttft, ttft_sd, dist (normal or lognormal), tps or gap, jitter, prefill, seed, or none"


def _number(name: str, value: str | None, minimum: float, maximum: float) -> float:
    if value is None:
        raise PacingSpecError(f"'{name}' needs a value, e.g. {name}=30")
    try:
        number = float(value)
    except ValueError:
        raise PacingSpecError(f"'{name}' must be a number, got {value[:40]!r}") from None
    if not minimum <= number <= maximum:  # NaN fails this too
        raise PacingSpecError(f"'{name}' must be between {minimum:g} and {maximum:g}, got {value[:40]!r}")
    return number


def parse(spec: str) -> Pacing:
    """The ``Pacing`` a spec such as ``ttft=300; ttft_sd=80; dist=lognormal; tps=30; jitter=6`` describes,
    or ``PacingSpecError`` saying what is wrong with it. ``none`` alone: as fast as possible."""
    if len(spec) > MAX_SPEC_CHARS:
        raise PacingSpecError(f"the pacing spec is {len(spec)} characters long; the most accepted is {MAX_SPEC_CHARS}")
    return _parse(spec)


@lru_cache(maxsize=256)
def _parse(spec: str) -> Pacing:
    items = [item.strip() for item in spec.replace(",", ";").split(";") if item.strip()]
    if not items:
        raise PacingSpecError("the pacing spec is empty")
    fields: dict[str, Any] = {}
    for item in items:
        typed, has_value, raw = item.partition("=")
        typed = typed.strip().lower()
        name = _ALIASES.get(typed, typed)
        value = raw.strip() if has_value else None
        if name in fields:
            raise PacingSpecError(f"'{typed}' is given twice")
        if {name, *fields} >= {"token_ms", "tokens_per_second"}:
            raise PacingSpecError("give the rate once: tps or gap, not both")
        if name == "none":
            if value is not None or len(items) > 1:
                raise PacingSpecError("'none' stands alone and takes no value")
            fields[name] = True
        elif name in _NUMBERS:
            field, minimum, maximum = _NUMBERS[name]
            fields[field] = _number(typed, value, minimum, maximum)
        elif name == "distribution":
            if value not in DISTRIBUTIONS:
                raise PacingSpecError(f"'distribution' is normal or lognormal, got {(value or '')[:40]!r}")
            fields[name] = value
        elif name == "seed":
            if value is None or not value.isdigit() or int(value) > MAX_SEED:
                raise PacingSpecError(f"'seed' must be an integer from 0 to 2**63-1, got {(value or '')[:40]!r}")
            fields[name] = int(value)
        else:
            raise PacingSpecError(f"unknown pacing item {typed[:40]!r}; known: {KNOWN}")
    fields.pop("none", None)
    gap = fields.pop("token_ms", None)
    if gap:
        fields["tokens_per_second"] = 1000 / gap
    if not fields.get("tokens_per_second"):
        fields.pop("tokens_per_second", None)
        if fields.get("token_jitter_ms"):
            raise PacingSpecError("'jitter' spreads the gaps between tokens: give a rate too (tps or gap)")
    return Pacing(**fields)


def invalid_pacing(detail: str) -> APIError:
    return APIError(400, f"Invalid X-Mock-Pacing header: {detail}.", param=None, code="invalid_pacing")


def from_header(scope: Scope) -> Pacing | None:
    """The request's ``X-Mock-Pacing``, if it sent one; a 400 ``invalid_pacing`` if it cannot be read."""
    raw = header(scope, PACING_HEADER)
    if raw is None:
        return None
    try:
        return parse(raw.decode("latin-1"))
    except PacingSpecError as exc:
        raise invalid_pacing(str(exc)) from None
