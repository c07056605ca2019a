"""``reasoning_content``: the chain of thought a reasoning answer carries before its content.

Its length follows ``reasoning_effort``; a count walks the objects and states only the total, so a
client can check it against the boxes in the content.
"""

from __future__ import annotations

import random

from perceptron_mock.answers import grounding
from perceptron_mock.answers.draws import pick, sample
from perceptron_mock.answers.grounding import Annotation, Region

_SENTENCES = {"minimal": 1, "low": 2, "medium": 3, "high": 5}
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")

_OPENERS = {
    "detect": "The user wants every {m} located in the image.",
    "count": "The user wants me to count every {m} in the image.",
    "ocr": "The user wants the text in the image transcribed line by line.",
    "caption": "The user wants a description of the image.",
    "question": "The user is asking a question about the image.",
    "chat": "The user sent a message that needs a direct reply.",
    "json": "The answer must be JSON that fits the requested schema.",
    "regex": "The answer must match the requested pattern exactly.",
}
_STEPS = (
    "I scan the image from left to right, then top to bottom.",
    "I check the edges of the frame so nothing partly visible is missed.",
    "Lighting is even, so the outlines are easy to follow.",
    "I compare each candidate against what was asked and drop the doubtful ones.",
    "Small details matter here, so I look at the busy areas twice.",
    "Nothing is hidden behind other objects in a way that would change the answer.",
    "I keep the answer short and tied to what is visible.",
)


def _focus_sentence(region: Region | None) -> list[str]:
    if region is None:
        return []
    return [
        f"I zoom into the region from ({region.x1},{region.y1}) to ({region.x2},{region.y2}), where the "
        "relevant detail is, and look again at full resolution."
    ]


def reasoning_for(
    kind: str,
    effort: str,
    rng: random.Random,
    *,
    mention: str = "object",
    annotations: list[Annotation] | None = None,
    focus: Region | None = None,
) -> str:
    if kind == "tools":  # ``mention``: the tools called, named
        return f"To answer, I need results from {mention}: I call the tools first and answer from what they return."
    sentences = [_OPENERS.get(kind, _OPENERS["chat"]).format(m=mention)]
    budget = _SENTENCES.get(effort, 3)
    if kind == "count" and annotations is not None:
        # Counting: no coordinates, no digits but the total, so the total is unambiguous.
        if focus is not None:
            sentences.append(f"I zoom into {grounding.where(_region_annotation(focus))} of the image first.")
        for i, annotation in enumerate(annotations):
            ordinal = _ORDINALS[i] if i < len(_ORDINALS) else "next"
            sentences.append(f"The {ordinal} {annotation.mention} is at {grounding.where(annotation)}.")
        if budget >= 3:
            sentences.append(pick(rng, _STEPS[:2]))
        sentences.append(f"In total I count {len(annotations)}.")
        return " ".join(sentences)
    sentences += _focus_sentence(focus)
    steps = sample(rng, _STEPS, min(len(_STEPS), max(0, budget - 1)))
    sentences += steps
    if annotations:
        places = ", ".join(grounding.where(a) for a in annotations[:4])
        sentences.append(f"The matches sit at {places}.")
    return " ".join(sentences)


def _region_annotation(region: Region) -> Annotation:
    return Annotation("box", "", ((region.x1, region.y1), (region.x2, region.y2)))
