"""What the request asks of the model through ``<hint>…</hint>`` tags and the fields that stand in for them.

Hints count in system messages only, as the real gateway reads them; ``vision_config`` and
``reasoning_effort`` say the same for perceptron-mk1 (docs: "Answers").
"""

from __future__ import annotations

import re

from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.values import value

# A body stops at the next tag, open or close: ``(.*?)</hint>`` scanned to the end of the text from every
# unclosed ``<hint>``, quadratic in a prompt of them.
_HINT_TAG = re.compile(r"<hint>((?:[^<]|<(?!/?hint>))*)</hint>", re.IGNORECASE)
_TOKEN_SPLIT = re.compile(r"[\s,]+")

SPATIAL = ("BOX", "POINT", "POLYGON", "CLIP")

_FORMAT_HINT = {"box": "BOX", "point": "POINT", "polygon": "POLYGON", "clip": "CLIP"}


@value
class Hints:
    tokens: frozenset[str]  # every token sent, upper-cased, known or not
    reasoning: bool  # reasoning_content is filled
    effort: str  # none, minimal, low, medium, high: how long the reasoning is

    @property
    def spatial(self) -> str | None:
        """The grounding kind asked for: box, point, polygon or clip (the first in that order), or None."""
        for token in SPATIAL:
            if token in self.tokens:
                return token.lower()
        return None

    @property
    def focus(self) -> bool:
        return "FOCUS" in self.tokens


def hint_tokens(text: str) -> set[str]:
    tokens: set[str] = set()
    if "<" not in text:  # most texts have no tag: skip the regex
        return tokens
    for body in _HINT_TAG.findall(text):
        tokens.update(token.upper() for token in _TOKEN_SPLIT.split(body) if token)
    return tokens


def strip_hints(text: str) -> str:
    """``text`` without its hint tags: what is left is an instruction to read like any prompt."""
    if "<" not in text:
        return text.strip()
    return _HINT_TAG.sub(" ", text).strip()


def read_hints(request: ChatCompletionRequest, system_texts: tuple[str, ...], model_reasoning: str = "on_request") -> Hints:
    """``model_reasoning``: "never" ignores THINK and enable_thinking (the SDK's helpers send them to every
    model); "always" reasons unasked; a reasoning_effort on a model without reasoning was refused before."""
    tokens: set[str] = set()
    for text in system_texts:
        tokens |= hint_tokens(text)
    vision = request.vision_config
    if not tokens and vision is None and request.reasoning_effort is None:
        return _NO_HINTS[model_reasoning == "always"]  # most requests: nothing asked
    if vision is not None:
        if vision.annotation_format is not None:
            tokens.add(_FORMAT_HINT[vision.annotation_format])
        if vision.enable_thinking:
            tokens.add("THINK")
    effort = request.reasoning_effort
    if model_reasoning == "never":
        tokens.discard("THINK")
    reasoning = model_reasoning == "always" or "THINK" in tokens or (effort is not None and effort != "none")
    if effort is None or effort == "none":
        effort = "medium" if reasoning else "none"
    return Hints(tokens=frozenset(tokens), reasoning=reasoning, effort=effort)


# What a request that asks nothing gets (reasoning only from a model that always reasons): built once.
_NO_HINTS = {
    False: Hints(tokens=frozenset(), reasoning=False, effort="none"),
    True: Hints(tokens=frozenset(), reasoning=True, effort="medium"),
}
