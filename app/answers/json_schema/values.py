"""Plausible values for strings: words by property name, and each supported ``format``."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import orjson

from perceptron_mock.answers import regex as regex_gen
from perceptron_mock.protocol.errors import APIError

_WORDS = (
    "alpha", "harbor", "maple", "quartz", "river", "summit", "cedar", "lumen", "orbit", "pixel", "sierra",
    "tango", "violet", "willow", "zephyr", "amber", "basil", "coral", "delta", "ember",
)
_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov")
_LABELS = ("person", "helmet", "safety vest", "forklift", "ladder", "pallet", "cone", "glove", "banana", "apple")
_COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple")


def format_value(fmt: str, rng: random.Random) -> str:
    year, month, day = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    word = rng.choice(_WORDS)
    date, time = f"{year:04d}-{month:02d}-{day:02d}", f"{hh:02d}:{mm:02d}:{ss:02d}Z"
    if fmt == "date":
        return date
    if fmt == "date-time":
        return f"{date}T{time}"
    if fmt == "time":
        return time
    if fmt == "duration":
        return f"P{rng.randint(1, 30)}DT{rng.randint(0, 23)}H"
    if fmt == "email":
        return f"{word}.{rng.choice(_WORDS)}@example.com"
    if fmt == "hostname":
        return f"{word}.example.com"
    if fmt == "ipv4":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if fmt == "ipv6":
        return ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(8))
    if fmt == "uri":
        return f"https://example.com/{word}/{rng.randint(1, 9999)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def regex_why(exc: APIError) -> str:
    if exc.code == "regex_too_complex":  # the budget is the whole answer's, not this pattern's
        return f"the schema's patterns together take more than {regex_gen.MAX_STEPS:,} steps to generate"
    return exc.message.rstrip(".")


def text_for(name: str | None, rng: random.Random) -> str:
    """A plausible string for a property called ``name``."""
    key = (name or "").lower()
    if "name" in key or key in ("author", "owner", "user"):
        return rng.choice(_NAMES)
    if "colo" in key:
        return rng.choice(_COLOURS)
    if key in ("label", "class", "category", "object", "mention", "kind", "type"):
        return rng.choice(_LABELS)
    if "description" in key or "summary" in key or "caption" in key or key in ("text", "answer", "reason"):
        return f"A {rng.choice(_COLOURS)} {rng.choice(_LABELS)} near the {rng.choice(_WORDS)} sign."
    if "id" == key or key.endswith("_id"):
        return f"{rng.choice(_WORDS)}-{rng.randint(100, 999)}"
    return rng.choice(_WORDS)


def json_size(value: Any) -> int:
    """About how many characters ``value`` takes as JSON (a const or an enum member: one of any size)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1  # digits, without writing them out
    if isinstance(value, (dict, list)):
        try:
            return len(orjson.dumps(value))
        except orjson.JSONEncodeError:  # an integer wider than 64 bits
            return len(json.dumps(value))
    return 1
