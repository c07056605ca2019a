"""The default rule: a deterministic reply built from the request.

Later rules (hints, structured outputs, task-shaped text) take precedence over this one; it answers
whatever nothing else claims.
"""

from __future__ import annotations

import random

from perceptron_mock.accounting.prompt import Prompt
from perceptron_mock.answers.draws import between, pick

_OPENERS = ("Here is what I see.", "Looking at this carefully.", "Short answer first.", "From the input given,")
_SUBJECTS = ("the scene", "the main subject", "the foreground", "the background", "the layout", "the lighting")
_VERBS = ("shows", "suggests", "includes", "features", "centres on", "contains")
_OBJECTS = (
    "a clear focal point",
    "several distinct objects",
    "soft, even light",
    "a tidy arrangement",
    "strong contrast",
    "a few small details worth noting",
    "an uncluttered composition",
)


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def reply(prompt: Prompt, rng: random.Random) -> list[str]:
    """The reply in pieces (``answers.said`` joins them), drawn in the order they are said."""
    pieces = [pick(rng, _OPENERS)]
    if prompt.user_text.strip():
        pieces += (" You asked:", f' "{_quote(prompt.user_text)}".')
    for _ in range(between(rng, 2, 4)):
        pieces += (f" {pick(rng, _SUBJECTS).capitalize()}", f" {pick(rng, _VERBS)}", f" {pick(rng, _OBJECTS)}.")
    if prompt.images:
        count = len(prompt.images)
        pieces += (" I looked at", f" {count} image{'s' if count > 1 else ''}.")
    return pieces
