"""A tool call's arguments: JSON valid against the tool's ``parameters``, filled from the prompt where it fits.

Built by the json_schema answer generator, then each top-level property may take a value the prompt
offers (an enum member it mentions, a quoted string, a number, a proper name) if that value validates.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

import orjson

from perceptron_mock.answers import json_schema
from perceptron_mock.answers.json_schema.refusals import MAX_SCHEMA_DEPTH
from perceptron_mock.answers.validators import OverBudget, WorkCounter, checking
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.requests import FunctionSpec

MAX_FILLED = 32  # top-level properties tried against the prompt's values; the rest keep generated ones
MAX_OFFERED = 64  # values of each kind read from the prompt
MAX_TEXT = 20_000  # characters of the last user message read for values
FILL_WORK = 20_000  # validation steps the filling may take (the generator has its own budget)
_QUOTED = re.compile(r'"([^"\n]{1,200})"|“([^”\n]{1,200})”|(?<!\w)\'([^\'\n]{1,200})\'(?!\w)')
_NUMBER = re.compile(r"(?<![\w.\-])-?\d+(?:\.\d+)?(?!\w)")
_PROPER = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*\b")
_NOT_NAMES = frozenset({"I", "What", "When", "Where", "Which", "Who", "How", "Why", "Please", "Can", "Could", "Is", "Are", "Do", "Does", "The"})


def strict_schema(schema: Any, depth: int = 0) -> Any:
    """``schema`` as OpenAI's strict mode reads it: every object lists all its properties as required and
    allows no others (applied down through properties, items, anyOf and $defs)."""
    if not isinstance(schema, dict) or depth > MAX_SCHEMA_DEPTH:
        return schema
    out = dict(schema)
    for key in ("properties", "$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: strict_schema(sub, depth + 1) for name, sub in out[key].items()}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [strict_schema(sub, depth + 1) for sub in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = strict_schema(out["items"], depth + 1)
    if isinstance(out.get("properties"), dict) and out.get("type", "object") == "object":
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def _starts_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 8) : start].rstrip(" \t")
    return start == 0 or not before or before[-1] in ".!?:;\n"


@lru_cache(maxsize=16)  # one request's calls (up to 128 tools) read the same prompt: scanned once; never mutated
def offered_values(text: str) -> dict[str, list[Any]]:
    """What the prompt offers, in the order it says it: enum candidates are matched separately."""
    quoted = [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)][:MAX_OFFERED]
    numbers: list[Any] = []
    for match in _NUMBER.finditer(text):
        raw = match.group()
        numbers.append(float(raw) if "." in raw else int(raw))
        if len(numbers) == MAX_OFFERED:
            break
    names = []
    for match in _PROPER.finditer(text):
        word = match.group()
        if word.split()[0] in _NOT_NAMES or (_starts_sentence(text, match.start()) and " " not in word):
            continue
        if any(word in q for q in quoted):
            continue
        names.append(word)
        if len(names) == MAX_OFFERED:
            break
    return {"quoted": quoted, "number": numbers, "name": names}


_WORD = re.compile(r"\w+")


@lru_cache(maxsize=16)  # as offered_values: one request's calls read the same prompt
def _words(lowered: str) -> frozenset[str]:
    return frozenset(_WORD.findall(lowered))


def _search_cost(lowered: str) -> int:
    """Work steps one search of the prompt for a member is charged (a step is about a µs of work)."""
    return 1 + len(lowered) // 64


def _boundary_search(needle: str, lowered: str) -> bool:
    return needle in lowered and re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", lowered) is not None


def _mentioned(enum: list, lowered: str, work: WorkCounter) -> Any:
    """The first member of ``enum`` the prompt names as a whole word or phrase. A one-word member is
    looked up in the prompt's words; any other is a search of the prompt, counted in ``work``."""
    words = _words(lowered)
    for member in enum:
        if not isinstance(member, str) or not member.strip():
            continue
        needle = member.lower()
        if _WORD.fullmatch(needle):  # all word characters: a whole-word match is one of the prompt's words
            if needle in words:
                return member
            continue
        work.spend(_search_cost(lowered))
        if _boundary_search(needle, lowered):
            return member
    return None


def _kinds(sub: Any) -> set[str]:
    declared = sub.get("type") if isinstance(sub, dict) else None
    if isinstance(declared, str):
        return {declared}
    return set(declared) if isinstance(declared, list) else {"string"} if isinstance(sub, dict) and not sub else set()


def _resolved(sub: dict, checked) -> Any:
    """A property's schema, through one ``$ref`` (resolved and cached when the schema was checked)."""
    if "$ref" not in sub:
        return sub
    try:
        return checked.resolve(sub["$ref"], "")
    except APIError:
        return sub


def _fill(value: dict, schema: dict, checked, text: str, work: WorkCounter) -> dict:
    """``value`` with its top-level properties replaced by the prompt's values that validate there."""
    offered = offered_values(text)
    lowered = text.lower()
    used: set[tuple[str, int]] = set()
    out = dict(value)
    for name, sub in list(schema.get("properties", {}).items())[:MAX_FILLED]:
        if not isinstance(sub, dict):
            continue
        candidates: list[tuple[str, int, Any]] = []
        if isinstance(sub.get("enum"), list):
            member = _mentioned(sub["enum"][:MAX_OFFERED], lowered, work)
            candidates = [("enum", 0, member)] if member is not None else []
        else:
            kinds = _kinds(_resolved(sub, checked))
            if kinds & {"integer", "number"}:
                candidates += [("number", i, v) for i, v in enumerate(offered["number"])]
            if "string" in kinds:
                candidates += [("quoted", i, v) for i, v in enumerate(offered["quoted"])]
                candidates += [("name", i, v) for i, v in enumerate(offered["name"])]
        validator = checked.validator.evolve(schema=sub)
        for kind, i, candidate in candidates:
            if (kind, i) in used or not validator.is_valid(candidate):
                continue
            out[name] = candidate
            if kind != "enum":
                used.add((kind, i))
            break
    return out


def arguments_for(function: FunctionSpec, text: str, rng: random.Random, where: str) -> str:
    """The arguments of a call to ``function`` (``where``: its place, ``tools[i]``, for a refusal)."""
    schema = function.parameters if function.parameters is not None else {"type": "object", "properties": {}}
    if function.strict:
        schema = strict_schema(schema)
    try:
        generated = json_schema.generate(schema, rng)
        checked = json_schema.check(schema)
    except APIError as exc:
        raise APIError(exc.status, exc.message, param=f"{where}.function.parameters", code=exc.code) from None
    value = orjson.loads(generated)
    if not isinstance(value, dict) or not isinstance(schema.get("properties"), dict) or not text:
        return generated
    try:
        with checking(WorkCounter(FILL_WORK), checked.matchers) as work:
            filled = _fill(value, schema, checked, text[:MAX_TEXT], work)
            if filled != value and checked.validator.is_valid(filled):
                return orjson.dumps(filled).decode()
    except (OverBudget, RecursionError, orjson.JSONEncodeError):
        pass
    return generated
