"""Checking a schema before any answer is built: measured, validated against its draft's meta-schema,
then keyword by keyword against what the builder supports; the result, ``CheckedSchema``, is cached."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import unquote

import jsonschema
import orjson
from jsonschema.validators import validator_for

from perceptron_mock.answers import patterns
from perceptron_mock.answers import regex as regex_gen
from perceptron_mock.answers.caches import SCHEMAS
from perceptron_mock.answers.json_schema.refusals import (
    JSON_KIND,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH,
    MAX_SCHEMA_NODES,
    MAX_SCHEMA_VALUES,
    invalid,
    pointer,
    refuse,
    too_large,
    unsatisfiable,
)
from perceptron_mock.answers.patterns import PatternError
from perceptron_mock.answers.validators import Enum, meta_errors, validator_class
from perceptron_mock.protocol.errors import APIError

ANNOTATIONS = frozenset(
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
        "writeOnly", "discriminator", "nullable", "$anchor",
    }
)
_SCHEMA_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions"})  # name → schema
_SCHEMA_ONE = frozenset({"additionalProperties", "items"})  # a schema (or a bool)
_SCHEMA_LIST = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_VALUES = frozenset(
    {
        "type", "required", "enum", "const", "$ref", "minLength", "maxLength", "pattern", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
        "minProperties", "maxProperties",
    }
)
_UNSUPPORTED_HINT = {
    "not": "negation cannot be generated",
    "if": "conditional schemas are not supported",
    "then": "conditional schemas are not supported",
    "else": "conditional schemas are not supported",
    "dependentRequired": "dependencies are not supported",
    "dependentSchemas": "dependencies are not supported",
    "dependencies": "dependencies are not supported",
    "contains": "contains is not supported",
    "minContains": "contains is not supported",
    "maxContains": "contains is not supported",
    "propertyNames": "propertyNames is not supported",
    "unevaluatedProperties": "use additionalProperties instead",
    "unevaluatedItems": "use items instead",
    "$dynamicRef": "dynamic references are not supported",
    "$dynamicAnchor": "dynamic references are not supported",
    "$recursiveRef": "dynamic references are not supported",
    "contentEncoding": "content keywords are not supported",
    "contentMediaType": "content keywords are not supported",
    "contentSchema": "content keywords are not supported",
    "additionalItems": "use prefixItems and items instead",
}
FORMATS = ("date", "date-time", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uri", "uuid")
_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")


class _Size:
    """What a schema holds, counted before any other work: JSON values, the objects and booleans among
    them (each may be a subschema, and checking one against a 2020-12 meta-schema costs ~0.2 ms), and
    how deep they nest. Counting stops at the first bound passed, so a 17 MB schema costs little."""

    __slots__ = ("values", "nodes")

    def __init__(self, schema: Any) -> None:
        self.values = self.nodes = 0
        stack: list[tuple[Any, int]] = [(schema, 1)]
        while stack:
            value, depth = stack.pop()
            self.values += 1
            if isinstance(value, (dict, bool)):
                self.nodes += 1
            if depth > MAX_SCHEMA_DEPTH:
                raise too_large(f"it nests more than {MAX_SCHEMA_DEPTH} levels deep")
            if self.values > MAX_SCHEMA_VALUES:
                raise too_large(f"it holds more than {MAX_SCHEMA_VALUES:,} JSON values")
            if self.nodes > MAX_SCHEMA_NODES:
                raise too_large(f"it holds more than {MAX_SCHEMA_NODES:,} objects and booleans (subschemas)")
            if isinstance(value, dict):
                stack.extend((item, depth + 1) for item in value.values())
            elif isinstance(value, list):
                stack.extend((item, depth + 1) for item in value)

    def cost(self, text_bytes: int) -> int:
        """An estimate of the bytes a checked schema of this size holds, for the schema cache: its parsed
        JSON, its enums' key sets and its node, reference and branch tables. Measured with tracemalloc on
        hostile shapes (an anyOf of 5,000 {}: 360 bytes a node; an enum of 60,000 [[n]]: 200 a value; a
        string with one emoji: 4 bytes a character, and a copy) and rounded up."""
        return 16384 + 300 * self.nodes + 200 * self.values + 6 * text_bytes


class _Collected:
    """What ``_check_keywords`` gathers in one walk: every schema node and where it is, every ``$ref``,
    every anyOf/oneOf list and every pattern compiled for RE2, so that ``CheckedSchema`` holds them."""

    __slots__ = ("nodes", "refs", "branches", "matchers")

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[dict, str]] = {}  # id → (the node, where it is); the node is held
        self.refs: list[tuple[str, str]] = []
        self.branches: list[tuple[str, list]] = []
        self.matchers: dict[str, patterns.Matcher] = {}


def _check_keywords(node: Any, where: str, found: _Collected) -> None:
    """Refuse what the builder cannot honour; gather what ``_Collected`` holds. The schema is the
    checked schema's own copy, and two keywords are changed in place: an ``enum`` list becomes an
    ``Enum`` (its members' keys hashed once) and ``$id`` is dropped (references resolve against the
    document, as the builder resolves them, never against a base URI)."""
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise invalid(where, "a schema must be an object or a boolean.", None)
    found.nodes[id(node)] = (node, where)
    for key, value in node.items():
        here = f"{where}/{key}" if where else key
        if key in ANNOTATIONS or key.startswith("x-"):
            continue
        if key in _UNSUPPORTED_HINT:
            raise refuse(key, where, _UNSUPPORTED_HINT[key])
        if key in _SCHEMA_MAP:
            for name, sub in value.items():
                if key == "patternProperties":
                    _check_pattern("patternProperties", name, here, found)
                _check_keywords(sub, f"{here}/{name}", found)
        elif key in _SCHEMA_ONE:
            if isinstance(value, list):
                raise refuse(key, where, "an array of item schemas is draft-04 syntax; use prefixItems")
            _check_keywords(value, here, found)
        elif key in _SCHEMA_LIST:
            if key in ("anyOf", "oneOf"):
                found.branches.append((key, value))
            for i, sub in enumerate(value):
                _check_keywords(sub, f"{here}/{i}", found)
        elif key == "format":
            if value not in FORMATS:
                raise refuse("format", where, f"'{value}' is not one of {', '.join(FORMATS)}")
        elif key == "$ref":
            if not isinstance(value, str) or not (value == "#" or value.startswith("#/")):
                raise refuse("$ref", where, "only JSON-pointer references into the same schema ('#/...') are supported")
            found.refs.append((value, where))
        elif key == "pattern":
            _check_pattern("pattern", value, where, found)
        elif key == "enum":
            if not value:
                raise unsatisfiable("enum", where, "an empty enum admits no value")
            node[key] = Enum(value)
        elif key not in _VALUES:
            raise refuse(key, where, "it is not a keyword the mock supports")
    node.pop("$id", None)


def _check_pattern(keyword: str, pattern: str, where: str, found: _Collected) -> None:
    """The builder must be able to walk the pattern, and RE2 to search it (validation does, reading
    ``\\d \\w \\s \\b`` as ASCII, as ECMA-262, JSON Schema's regex dialect, does)."""
    try:
        regex_gen.compile_pattern(pattern)
    except APIError as exc:  # the regex module names its own param ("regex"); here it is part of the schema
        raise refuse(keyword, where, exc.message.rstrip(".")) from None
    if pattern not in found.matchers:
        try:
            found.matchers[pattern] = patterns.Matcher(pattern, ascii_only=True)
        except PatternError as exc:
            raise refuse(keyword, where, exc.message.rstrip(".")) from None


def _refs_below(schema: Any) -> dict[int, bool]:
    """For every object and array in ``schema``, whether a ``$ref`` is in it or below it: one pass, so
    that ordering nested anyOf lists does not walk the same subtree once per level."""
    below: dict[int, bool] = {}
    stack: list[tuple[Any, bool]] = [(schema, False)]
    while stack:
        value, children_done = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        children = value.values() if isinstance(value, dict) else value
        if children_done:
            below[id(value)] = (isinstance(value, dict) and "$ref" in value) or any(below.get(id(child), False) for child in children)
        else:
            stack.append((value, True))
            stack.extend((child, False) for child in children)
    return below


class Branches:
    """One anyOf/oneOf list, prepared once: the order to try when heading for the exit (branches
    without references first)."""

    __slots__ = ("source", "exit_order")

    def __init__(self, source: list, has_ref) -> None:
        self.source = source  # held so that the id this is filed under stays this list's
        self.exit_order = sorted(range(len(source)), key=lambda i: (has_ref(source[i]), i))


class CheckedSchema:
    """A schema that passed every check, with its validator, its references resolved and its
    anyOf/oneOf lists prepared; built once per distinct schema, so a request only walks it."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        base = validator_for(schema, default=jsonschema.Draft202012Validator) if isinstance(schema, dict) else jsonschema.Draft202012Validator
        error = next(meta_errors(base, schema), None)
        if error is not None:
            named = [part for part in error.path if isinstance(part, str)]
            keyword = named[-1] if named else (error.validator if isinstance(error.validator, str) else None)
            raise invalid(pointer(error.path), error.message, keyword)
        found = _Collected()
        _check_keywords(schema, "", found)
        cls = validator_class(base)
        self.validator = cls(schema, format_checker=base.FORMAT_CHECKER)
        self.matchers = found.matchers
        self._nodes = found.nodes
        self._resolved: dict[str, Any] = {}
        for ref, where in found.refs:
            self.resolve(ref, where)
        self._check_loops(found.refs)
        self._below = _refs_below(schema)
        self._branches = {id(value): Branches(value, self.has_ref) for _key, value in found.branches}

    def has_ref(self, node: Any) -> bool:
        known = self._below.get(id(node))  # the schema's own nodes; a merged one is made of them
        if known is not None:
            return known
        if isinstance(node, dict):
            return "$ref" in node or any(self.has_ref(value) for value in node.values())
        if isinstance(node, list):
            return any(self.has_ref(value) for value in node)
        return False

    def resolve(self, ref: str, where: str) -> Any:
        if ref not in self._resolved:
            node: Any = self.schema
            for raw in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
                part = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    raise refuse("$ref", where, f"'{ref}' does not point into the schema")
            if not isinstance(node, (dict, bool)):
                raise refuse("$ref", where, f"'{ref}' points at {JSON_KIND.get(type(node), 'a value')}, not at a schema")
            if isinstance(node, dict) and id(node) not in self._nodes:  # an enum member, a properties map…
                raise refuse("$ref", where, f"'{ref}' points into a value, not at a schema")
            self._resolved[ref] = node
        return self._resolved[ref]

    def _check_loops(self, refs: list[tuple[str, str]]) -> None:
        """Refuse a reference that leads back to where it started without entering the value (through
        $ref, allOf, anyOf or oneOf only): validation would never end (JSON Schema leaves such schemas'
        behaviour undefined, core 2020-12 section 9.4.1)."""
        if not refs:
            return
        done: set[int] = set()
        for start in list(self._nodes):
            if start in done:
                continue
            path: list[int] = [start]
            on_path = {start}
            stack = [iter(self._in_place(self._nodes[start][0]))]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    finished = path.pop()
                    on_path.discard(finished)
                    done.add(finished)
                    continue
                key = id(child)
                if key in on_path:
                    where = self._nodes[path[-1]][1]
                    raise invalid(
                        where, "the reference leads back to where it started without entering the value, so validation would never end.", "$ref"
                    )
                if key in done:
                    continue
                path.append(key)
                on_path.add(key)
                stack.append(iter(self._in_place(child)))

    def _in_place(self, node: dict) -> list[dict]:
        """The subschemas that apply to the same value as ``node``."""
        out = [sub for key in ("allOf", "anyOf", "oneOf") for sub in node.get(key, ()) if isinstance(sub, dict)]
        ref = node.get("$ref")
        if isinstance(ref, str) and isinstance(self._resolved.get(ref), dict):
            out.append(self._resolved[ref])
        return out

    def branches(self, key: str, source: list) -> Branches:
        """The prepared anyOf/oneOf list; one made while merging an allOf is prepared on the spot."""
        found = self._branches.get(id(source))
        if found is not None and found.source is source:
            return found
        return Branches(source, self.has_ref)


def _text_of(schema: Any) -> bytes:
    try:
        return orjson.dumps(schema)
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: only json writes those
        try:
            return json.dumps(schema, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise invalid("", f"the schema cannot be serialised ({exc}).", None) from None


def check(schema: Any) -> CheckedSchema:
    """The checked schema, or a 400 naming the problem; cached (bounded by bytes) by the schema's JSON
    text. Keys are not sorted: their order is the order of the answer's keys (a client sends the same
    bytes every time)."""
    size = _Size(schema)
    text = _text_of(schema)
    if len(text) > MAX_SCHEMA_BYTES:
        raise too_large(f"it is {len(text):,} bytes of JSON; at most {MAX_SCHEMA_BYTES:,} are accepted")
    try:
        return SCHEMAS.get_or_make(
            hashlib.blake2b(text, digest_size=32).digest(),
            lambda: CheckedSchema(json.loads(text)),
            lambda checked: size.cost(len(text)) + sum(matcher.cost for matcher in checked.matchers.values()),
        )
    except RecursionError:
        raise invalid("", "the schema is nested too deeply.", None) from None
