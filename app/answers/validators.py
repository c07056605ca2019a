"""``jsonschema`` validators whose checks take time linear in their input, and whose work is counted.

The stock ones search patterns with backtracking ``re`` and compare ``uniqueItems`` pair by pair;
these use RE2 and canonical keys, and count every subschema entered against the request's budget.
"""

from __future__ import annotations

import reprlib
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

import attrs
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from perceptron_mock.answers import patterns


class OverBudget(Exception):
    """A validation entered more subschemas than its budget allows."""


class WorkCounter:
    """Steps spent by one request, shared by its validations (and, in ``json_schema``, its builder)."""

    __slots__ = ("used", "limit")

    def __init__(self, limit: int) -> None:
        self.used = 0
        self.limit = limit

    def spend(self, steps: int = 1) -> None:
        self.used += steps
        if self.used > self.limit:
            raise OverBudget


class _Checking:
    __slots__ = ("counter", "matchers")

    def __init__(self, counter: WorkCounter, matchers: dict[str, patterns.Matcher]) -> None:
        self.counter, self.matchers = counter, matchers


_CHECKING: ContextVar[_Checking | None] = ContextVar("schema_checking", default=None)


@contextmanager
def checking(counter: WorkCounter, matchers: dict[str, patterns.Matcher]) -> Iterator[WorkCounter]:
    """In this block (this thread or task), validations count every subschema they enter into
    ``counter``, and search with ``matchers`` (a checked schema's patterns, compiled when it was checked)."""
    token = _CHECKING.set(_Checking(counter, matchers))
    try:
        yield counter
    finally:
        _CHECKING.reset(token)


def _matcher(pattern: str) -> patterns.Matcher:
    # Schema patterns read \d \w \s as ASCII, as ECMA-262 (JSON Schema's regex dialect) does.
    context = _CHECKING.get()
    found = context.matchers.get(pattern) if context is not None else None
    return found if found is not None else patterns.compile(pattern, ascii_only=True)


# --- equality as JSON Schema means it, hashed -----------------------------------------------------


def canonical(value: Any) -> Hashable:
    """A key equal for two values exactly when JSON Schema calls them equal (``jsonschema``'s rule:
    1 == 1.0, true != 1, objects whatever their key order), so that a set compares many at once."""
    if value is True or value is False:
        return ("bool", value)
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return ("array", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, canonical(item)) for key, item in value.items()))
    return ("other", id(value))


class Enum(list):
    """An ``enum`` list that carries its members' canonical keys (set on a checked schema's own copy)."""

    __slots__ = ("keys",)

    def __init__(self, values: list) -> None:
        super().__init__(values)
        self.keys = frozenset(canonical(value) for value in values)


# --- the keywords -------------------------------------------------------------------------------------


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _matcher(pattern).search(instance):
        yield ValidationError(f"{reprlib.repr(instance)} does not match {pattern!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        matcher = _matcher(pattern)
        for key, value in instance.items():
            if matcher.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _extras(instance: dict, schema: dict) -> list[str]:
    properties = schema.get("properties", {})
    matchers = [_matcher(pattern) for pattern in schema.get("patternProperties", {})]
    return [key for key in instance if key not in properties and not any(m.search(key) for m in matchers)]


def _additional_properties(validator, additional, instance, schema):
    # jsonschema's, with the patternProperties it reads searched by RE2
    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            listed = ", ".join(repr(each) for each in sorted(extras))
            regexes = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{listed} {'does' if len(extras) == 1 else 'do'} not match any of the regexes: {regexes}")
        else:
            listed = ", ".join(repr(each) for each in sorted(extras, key=str))
            yield ValidationError(f"Additional properties are not allowed ({listed} {'was' if len(extras) == 1 else 'were'} unexpected)")


def _unique_items(validator, unique, instance, schema):
    if unique and validator.is_type(instance, "array"):
        seen: set = set()
        for item in instance:
            key = canonical(item)
            if key in seen:
                yield ValidationError(f"{reprlib.repr(instance)} has non-unique elements")
                return
            seen.add(key)


def _enum(validator, enums, instance, schema):
    keys = enums.keys if isinstance(enums, Enum) else {canonical(each) for each in enums}
    if canonical(instance) not in keys:
        yield ValidationError(f"{reprlib.repr(instance)} is not one of {reprlib.repr(list(enums))}")


_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
    "enum": _enum,
}


def _evolve(self, **changes):
    # jsonschema's evolve counts nothing, and switches to the stock class of any subschema that names a
    # "$schema" (every 2020-12 vocabulary does): this one stays this class, and counts.
    context = _CHECKING.get()
    if context is not None:
        context.counter.spend()
    return attrs.evolve(self, **changes)


@cache
def validator_class(base: type) -> type:
    """``base`` (a stock draft's validator class) with the keywords above and counted descents."""
    cls = extend(base, {key: fn for key, fn in _KEYWORDS.items() if key in base.VALIDATORS})
    cls.evolve = _evolve
    return cls


def _is_regex(instance: object) -> bool:
    # Parsed by re's parser, not compiled (re.compile keeps up to 512 patterns of any size in its cache);
    # a pattern too long to parse here is refused later, by name, with the length limit.
    if isinstance(instance, str) and len(instance) <= patterns.MAX_PATTERN_CHARS:
        patterns.parse(instance)
    return True


@cache
def meta_format_checker(base: type) -> FormatChecker:
    """``base``'s format checker, with ``regex`` checked as above."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(base.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=patterns.PatternError)(_is_regex)
    return checker


def meta_errors(base: type, schema: Any) -> Iterator[ValidationError]:
    """What ``base.check_schema`` would find wrong with ``schema``, found in linear time."""
    cls = validator_class(base)
    return cls(cls.META_SCHEMA, format_checker=meta_format_checker(base)).iter_errors(schema)
