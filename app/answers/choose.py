"""The one function that decides what the mock answers: a matching fixture, else the first rule that applies.

Rules: json_schema, regex, a spatial hint, else text shaped by the task (docs: "Answers"). Everything
is drawn from the request's seeded RNG; a bad schema or pattern is refused here, before anything is sent.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from perceptron_mock.accounting.prompt import Prompt
from perceptron_mock.answers import grounding, json_schema, reasoning, regex, reply, tasks, tools
from perceptron_mock.answers.answer import Answer
from perceptron_mock.answers.draws import between, pick
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.answers.hints import Hints, read_hints, strip_hints
from perceptron_mock.answers.said import Said, said
from perceptron_mock.answers.seed import rng_for
from perceptron_mock.protocol.requests import ChatCompletionRequest

_ORDINAL_IMAGE = re.compile(r"\b(first|second|third|fourth|fifth|last)\s+(?:image|picture|photo)\b", re.I)
_NUMBERED_IMAGE = re.compile(r"\b(?:image|picture|photo)\s*#?\s*(\d{1,2})\b", re.I)
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4}


def choose(request: ChatCompletionRequest, prompt: Prompt, fixtures: FixtureStore | None = None) -> Answer:
    hints = read_hints(request, prompt.system_texts, prompt.reasoning)
    if fixtures is not None:
        fixture = fixtures.find(request, prompt, hints)
        if fixture is not None:
            scripted, writes = fixture.answer_for(request)
            if scripted.tool_calls:
                return tools.scripted_calls(scripted, request, prompt.user_text, rng_for(request, prompt))
            if writes or scripted.error is not None:
                return scripted
            return _overlay(_rules(request, prompt, hints), scripted)
    return _rules(request, prompt, hints)


def choose_samples(request: ChatCompletionRequest, prompt: Prompt, fixtures: FixtureStore | None, count: int) -> list[Answer]:
    """``count`` answers to one request, as its ``n`` samples: the fixture is looked up once, and the rules
    draw sample ``j`` from the request's seed and ``j`` (sample 0 is the answer ``choose`` gives)."""
    hints = read_hints(request, prompt.system_texts, prompt.reasoning)
    fixture = fixtures.find(request, prompt, hints) if fixtures is not None else None
    if fixture is None:
        return [_rules(request, prompt, hints, sample) for sample in range(count)]
    scripted, writes = fixture.answer_for(request)  # a script's step for this conversation's turn, as in choose
    if writes or scripted.error is not None:
        return [scripted] * count
    return [_overlay(_rules(request, prompt, hints, sample), scripted) for sample in range(count)]


def _overlay(rules: Answer, scripted: Answer) -> Answer:
    """The fixture's answer with the rules' text (or calls), and their reasoning where the fixture scripts
    none (the rules write only those fields)."""
    reasoning = scripted.reasoning if scripted.reasoning is not None else rules.reasoning
    if rules.tool_calls:
        finish = "tool_calls" if scripted.finish_reason == "stop" else scripted.finish_reason
        return replace(scripted, content="", tool_calls=rules.tool_calls, finish_reason=finish, reasoning=reasoning)
    return replace(scripted, content=rules.content, reasoning=reasoning)


def _rules(request: ChatCompletionRequest, prompt: Prompt, hints: Hints, sample: int = 0) -> Answer:
    rng = rng_for(request, prompt, sample)
    if request.tools or request.messages[-1].role == "tool":
        called = tools.tool_answer(request, prompt.user_text, rng)
        if called is not None:
            names = " and ".join(dict.fromkeys(call.name for call in called.tool_calls))
            thought = _think(hints, "tools", rng, mention=names) if names else _think(hints, "chat", rng)
            return replace(called, reasoning=thought)
    focus = grounding.focus_region(rng) if hints.focus else None
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        content = json_schema.generate(fmt.json_schema.schema_, rng)
        return Answer(content=content, reasoning=_think(hints, "json", rng, focus=focus))
    if request.regex is not None:
        content = regex.generate(request.regex, rng)
        return Answer(content=content, reasoning=_think(hints, "regex", rng, focus=focus))
    # Only the grounded and text answers read the prompt; json_schema and regex answers skip the cost.
    reading = _read(prompt)
    if hints.spatial is not None:
        return _grounded(hints.spatial, reading, prompt, hints, rng, focus)
    return _text(reading, prompt, hints, rng, focus)


def _read(prompt: Prompt) -> tasks.Reading:
    instructions = " ".join(strip_hints(t) for t in prompt.system_texts if t).strip()
    return tasks.read(strip_hints(prompt.user_text), instructions)


def _think(hints: Hints, kind: str, rng: random.Random, **context) -> str | None:
    if not hints.reasoning:
        return None
    return reasoning.reasoning_for(kind, hints.effort, rng, **context)


def _target_image(text_: str, prompt: Prompt) -> int | None:
    """The image an answer's annotations go to: the one the prompt names ("the second image"), else
    the query image (never an in-context exemplar before it)."""
    named = _named_image(text_, len(prompt.images))
    return named if named is not None else prompt.query_image


def _duration(prompt: Prompt, target: int | None) -> float | None:
    """The length of the target asset when it is a video (its grounding then carries times)."""
    if target is None or target >= len(prompt.durations):
        return None
    return prompt.durations[target]


def _named_image(text_: str, count: int) -> int | None:
    if count < 2:
        return None
    match = _ORDINAL_IMAGE.search(text_)
    if match:
        word = match.group(1).lower()
        index = count - 1 if word == "last" else _ORDINALS[word]
        return index if index < count else None
    match = _NUMBERED_IMAGE.search(text_)
    if match and 1 <= int(match.group(1)) <= count:
        return int(match.group(1)) - 1
    return None


def _subject(reading: tasks.Reading, rng: random.Random) -> tuple[str, ...]:
    return reading.mentions or (pick(rng, tasks.FALLBACK_NOUNS),)


def _count_phrase(mentions: tuple[str, ...], count: int) -> str:
    return " and ".join(tasks.plural(mention, count) for mention in mentions)


def _locate(kind: str, reading: tasks.Reading, prompt: Prompt, rng: random.Random, focus) -> list[grounding.Annotation]:
    mentions = _subject(reading, rng)
    if reading.kind == "count":
        count = between(rng, 1, 7)
    elif tasks.asks_for_one_each(reading.text):
        count = len(mentions)
    else:
        count = max(len(mentions), between(rng, 1, 4))
    return _annotate(kind, mentions, count, reading, prompt, rng, focus)


def _annotate(
    kind: str, mentions: tuple[str, ...], count: int, reading: tasks.Reading, prompt: Prompt, rng: random.Random, focus
) -> list[grounding.Annotation]:
    """``count`` annotations on the image the prompt asks about (with its times when it is a video)."""
    target = _target_image(reading.user_text, prompt)
    return grounding.annotate(
        kind,
        mentions,
        count,
        rng,
        n_images=len(prompt.images),
        image_idx=target,
        region=focus or grounding.WHOLE,
        duration=_duration(prompt, target),
    )


def _grounded(kind: str, reading: tasks.Reading, prompt: Prompt, hints: Hints, rng: random.Random, focus) -> Answer:
    pieces: list[str] = []  # the lead, then one annotation a line (answers.said joins them)
    if reading.kind == "ocr":
        # OCR with a spatial hint: every text line is an annotation whose mention is the text.
        lines = "".join(tasks.ocr_text(reading.text, rng)).splitlines()
        annotations = _annotate(kind, tuple(lines), len(lines), reading, prompt, rng, focus)
    else:
        annotations = _locate(kind, reading, prompt, rng, focus)
        mentions = tuple(dict.fromkeys(a.mention for a in annotations))
        if reading.kind == "count":
            n = len(annotations)
            pieces = ["There is" if n == 1 else "There are", f" {n}", f" {_count_phrase(mentions, n)}."]
        elif reading.kind == "question":
            pieces = tasks.answer_question(reading.user_text, rng)
        elif reading.kind == "caption":
            pieces = tasks.caption(reading.text, rng)
    if pieces and not annotations:
        pieces.append("\n")  # a lead over no lines still ends its line
    for a in annotations:
        if pieces:
            pieces.append("\n")
        pieces += a.pieces()
    content = said(*pieces)
    task = reading.kind if reading.kind in ("count", "detect", "ocr", "caption", "question") else "detect"
    mention = annotations[0].mention if annotations else "object"
    return Answer(
        content=content.text,
        said=content,
        reasoning=_think(hints, task, rng, mention=mention, annotations=annotations, focus=focus),
    )


def _text(reading: tasks.Reading, prompt: Prompt, hints: Hints, rng: random.Random, focus) -> Answer:
    kind = reading.kind
    annotations: list[grounding.Annotation] | None = None
    mention = "object"
    content: Said | str
    if kind in ("count", "detect"):
        # Located but not drawn: the text says how many and where, in words.
        annotations = _locate("box", reading, prompt, rng, focus)
        mentions = tuple(dict.fromkeys(a.mention for a in annotations))
        mention = mentions[0]
        n = len(annotations)
        if kind == "count":
            content = said("There is" if n == 1 else "There are", f" {n}", f" {_count_phrase(mentions, n)}.")
        else:
            pieces = ["I found", f" {n} match:" if n == 1 else f" {n} matches:"]
            last = len(annotations) - 1
            for i, a in enumerate(annotations):
                pieces += (f" {a.mention}", f" at {grounding.where(a)}{'.' if i == last else ','}")
            content = said(*pieces)
    elif kind == "ocr":
        content = said(*tasks.ocr_text(reading.text, rng))
    elif kind == "caption":
        content = said(*tasks.caption(reading.text, rng))
    elif kind == "question":
        content = said(*tasks.answer_question(reading.user_text, rng))
    else:
        content = said(*reply.reply(prompt, rng))
    thought = _think(hints, kind, rng, mention=mention, annotations=annotations, focus=focus)
    if isinstance(content, Said):
        return Answer(content=content.text, said=content, reasoning=thought)
    return Answer(content=content, reasoning=thought)
