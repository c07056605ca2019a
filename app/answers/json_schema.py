"""``response_format: json_schema``: content that is JSON valid against the schema.

A schema is measured first (``MAX_SCHEMA_*``), then checked once (and cached by a digest of its JSON
text, key order kept: the instance's keys follow the schema's order, as a constrained decoder writes
them): against its draft's meta-schema with ``jsonschema`` validators whose checks run in linear time
(``perceptron_mock.answers.validators``), then keyword by keyword against what the mock supports; anything else is
a 400 naming the keyword and where it is. An instance is then built by walking the schema with the request's
seeded RNG, and validated with ``jsonschema`` (formats included) before it is sent; a walk whose
instance does not validate is retried, and after a few tries the request gets a 400 naming the keyword
that could not be satisfied.

Supported: type (one or a list), properties, required, additionalProperties, patternProperties,
min/maxProperties, items (a schema, or false after prefixItems), prefixItems, min/maxItems,
uniqueItems, enum, const, anyOf, oneOf, allOf, $ref into the same document ($defs, definitions or any
JSON pointer; recursive too), min/maxLength, pattern (through ``perceptron_mock.answers.regex``), format (date,
date-time, time, duration, email, hostname, ipv4, ipv6, uri, uuid), minimum, maximum,
exclusiveMinimum, exclusiveMaximum, multipleOf; annotations (title, description, default, examples,
$schema, $id, $comment, deprecated, readOnly, writeOnly, discriminator, nullable) are accepted and
ignored, as are ``x-`` extensions. Recursion goes ``SHALLOW_DEPTH`` levels deep and then takes the
shortest way out (no optional properties, fewest items, the simplest branch); a schema with no way out
within ``MAX_DEPTH`` levels is refused.

The work one request may do is bounded whatever the schema: at most ``MAX_NODES`` values an instance,
and, over the whole request (every attempt), ``MAX_CHARS`` characters of strings, keys and consts,
``regex.MAX_STEPS`` steps for all its patterns together and ``MAX_WORK`` steps of building and
validating. Past a bound the request is refused as unsatisfiable: counts, not time, so the same request
always gets the same answer (and one that size would be cut to the token budget anyway).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import uuid
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

import jsonschema
import orjson
from jsonschema.validators import validator_for

from perceptron_mock.answers import patterns
from perceptron_mock.answers import regex as regex_gen
from perceptron_mock.answers.caches import SCHEMAS
from perceptron_mock.answers.patterns import PatternError
from perceptron_mock.answers.validators import Enum, OverBudget, WorkCounter, checking, meta_errors, validator_class
from perceptron_mock.protocol.errors import APIError

PARAM = "response_format.json_schema.schema"
SHALLOW_DEPTH = 6
MAX_DEPTH = 40
MAX_NODES = 5_000
MAX_STRING = 2_000
MAX_CHARS = 500_000  # far past what fits in a completion budget (8K tokens on the real service)
MAX_ITEMS = 500
ATTEMPTS = 6
# What a schema may be, checked before anything else (see README "Limits"). Checking a subschema against
# the 2020-12 meta-schema costs ~0.2 ms, so 5,000 (OpenAI's Structured Outputs allow 5,000 properties in
# all) are about a second, in a worker thread.
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_SCHEMA_VALUES = 100_000
MAX_SCHEMA_NODES = 5_000
MAX_SCHEMA_DEPTH = 64
# Steps one request's answer may take, all attempts together: a value built, a keyword merged, a
# subschema entered while validating (10-40 µs each). A 4,500-value answer takes about 9,000.
MAX_WORK = 50_000

_ANNOTATIONS = frozenset(
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


class _Unsatisfiable(Exception):
    def __init__(self, keyword: str, where: str, why: str) -> None:
        super().__init__(why)
        self.keyword, self.where, self.why = keyword, where, why


def _clip(text: str, most: int = 500) -> str:
    """A refusal quotes the schema's values and locations: a few hundred characters of them, not megabytes."""
    return text if len(text) <= most else text[: most - 1] + "…"


def _refuse(keyword: str, where: str, why: str) -> APIError:
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(
        400, f"Unsupported JSON schema keyword '{_clip(keyword, 200)}'{location}: {_clip(why)}.", param=PARAM, code="unsupported_json_schema"
    )


def _unsatisfiable(keyword: str, where: str, why: str) -> APIError:
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(
        400,
        f"Could not produce JSON valid against the schema: keyword '{_clip(keyword, 200)}'{location} cannot be satisfied ({_clip(why)}).",
        param=PARAM,
        code="unsatisfiable_json_schema",
    )


def _too_complex(why: str) -> APIError:
    return APIError(400, f"Could not produce JSON valid against the schema: {why}.", param=PARAM, code="unsatisfiable_json_schema")


def _invalid(where: str, why: str, keyword: str | None) -> APIError:
    named = f" (keyword '{_clip(keyword, 200)}')" if keyword else ""
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(400, f"Invalid JSON schema{location}{named}: {_clip(why)}", param=PARAM, code="invalid_json_schema")


_JSON_KIND = {list: "an array", str: "a string", int: "a number", float: "a number", type(None): "null"}


def _pointer(parts) -> str:
    return "/".join(str(part) for part in parts)


# --- checking a schema ---------------------------------------------------------------------------


def _too_large(why: str) -> APIError:
    return APIError(400, f"The JSON schema is too large: {why}.", param=PARAM, code="json_schema_too_large")


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
                raise _too_large(f"it nests more than {MAX_SCHEMA_DEPTH} levels deep")
            if self.values > MAX_SCHEMA_VALUES:
                raise _too_large(f"it holds more than {MAX_SCHEMA_VALUES:,} JSON values")
            if self.nodes > MAX_SCHEMA_NODES:
                raise _too_large(f"it holds more than {MAX_SCHEMA_NODES:,} objects and booleans (subschemas)")
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
        raise _invalid(where, "a schema must be an object or a boolean.", None)
    found.nodes[id(node)] = (node, where)
    for key, value in node.items():
        here = f"{where}/{key}" if where else key
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key in _UNSUPPORTED_HINT:
            raise _refuse(key, where, _UNSUPPORTED_HINT[key])
        if key in _SCHEMA_MAP:
            for name, sub in value.items():
                if key == "patternProperties":
                    _check_pattern("patternProperties", name, here, found)
                _check_keywords(sub, f"{here}/{name}", found)
        elif key in _SCHEMA_ONE:
            if isinstance(value, list):
                raise _refuse(key, where, "an array of item schemas is draft-04 syntax; use prefixItems")
            _check_keywords(value, here, found)
        elif key in _SCHEMA_LIST:
            if key in ("anyOf", "oneOf"):
                found.branches.append((key, value))
            for i, sub in enumerate(value):
                _check_keywords(sub, f"{here}/{i}", found)
        elif key == "format":
            if value not in FORMATS:
                raise _refuse("format", where, f"'{value}' is not one of {', '.join(FORMATS)}")
        elif key == "$ref":
            if not isinstance(value, str) or not (value == "#" or value.startswith("#/")):
                raise _refuse("$ref", where, "only JSON-pointer references into the same schema ('#/...') are supported")
            found.refs.append((value, where))
        elif key == "pattern":
            _check_pattern("pattern", value, where, found)
        elif key == "enum":
            if not value:
                raise _unsatisfiable("enum", where, "an empty enum admits no value")
            node[key] = Enum(value)
        elif key not in _VALUES:
            raise _refuse(key, where, "it is not a keyword the mock supports")
    node.pop("$id", None)


def _check_pattern(keyword: str, pattern: str, where: str, found: _Collected) -> None:
    """The builder must be able to walk the pattern, and RE2 to search it (validation does, reading
    ``\\d \\w \\s \\b`` as ASCII, as ECMA-262, JSON Schema's regex dialect, does)."""
    try:
        regex_gen.compile_pattern(pattern)
    except APIError as exc:  # the regex module names its own param ("regex"); here it is part of the schema
        raise _refuse(keyword, where, exc.message.rstrip(".")) from None
    if pattern not in found.matchers:
        try:
            found.matchers[pattern] = patterns.Matcher(pattern, ascii_only=True)
        except PatternError as exc:
            raise _refuse(keyword, where, exc.message.rstrip(".")) from None


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


class _Branches:
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
            raise _invalid(_pointer(error.path), error.message, keyword)
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
        self._branches = {id(value): _Branches(value, self.has_ref) for _key, value in found.branches}

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
                    raise _refuse("$ref", where, f"'{ref}' does not point into the schema")
            if not isinstance(node, (dict, bool)):
                raise _refuse("$ref", where, f"'{ref}' points at {_JSON_KIND.get(type(node), 'a value')}, not at a schema")
            if isinstance(node, dict) and id(node) not in self._nodes:  # an enum member, a properties map…
                raise _refuse("$ref", where, f"'{ref}' points into a value, not at a schema")
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
                    raise _invalid(
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

    def branches(self, key: str, source: list) -> _Branches:
        """The prepared anyOf/oneOf list; one made while merging an allOf is prepared on the spot."""
        found = self._branches.get(id(source))
        if found is not None and found.source is source:
            return found
        return _Branches(source, self.has_ref)


def _text_of(schema: Any) -> bytes:
    try:
        return orjson.dumps(schema)
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: only json writes those
        try:
            return json.dumps(schema, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise _invalid("", f"the schema cannot be serialised ({exc}).", None) from None


def check(schema: Any) -> CheckedSchema:
    """The checked schema, or a 400 naming the problem; cached (bounded by bytes) by the schema's JSON
    text. Keys are not sorted: their order is the order of the answer's keys (a client sends the same
    bytes every time)."""
    size = _Size(schema)
    text = _text_of(schema)
    if len(text) > MAX_SCHEMA_BYTES:
        raise _too_large(f"it is {len(text):,} bytes of JSON; at most {MAX_SCHEMA_BYTES:,} are accepted")
    try:
        return SCHEMAS.get_or_make(
            hashlib.blake2b(text, digest_size=32).digest(),
            lambda: CheckedSchema(json.loads(text)),
            lambda checked: size.cost(len(text)) + sum(matcher.cost for matcher in checked.matchers.values()),
        )
    except RecursionError:
        raise _invalid("", "the schema is nested too deeply.", None) from None


# --- building an instance ------------------------------------------------------------------------

_WORDS = (
    "alpha", "harbor", "maple", "quartz", "river", "summit", "cedar", "lumen", "orbit", "pixel", "sierra",
    "tango", "violet", "willow", "zephyr", "amber", "basil", "coral", "delta", "ember",
)
_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov")
_LABELS = ("person", "helmet", "safety vest", "forklift", "ladder", "pallet", "cone", "glove", "banana", "apple")
_COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple")


def _format_value(fmt: str, rng: random.Random) -> str:
    year, month, day = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    word = rng.choice(_WORDS)
    if fmt == "date":
        return f"{year:04d}-{month:02d}-{day:02d}"
    if fmt == "date-time":
        return f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z"
    if fmt == "time":
        return f"{hh:02d}:{mm:02d}:{ss:02d}Z"
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


def _regex_why(exc: APIError) -> str:
    if exc.code == "regex_too_complex":  # the budget is the whole answer's, not this pattern's
        return f"the schema's patterns together take more than {regex_gen.MAX_STEPS:,} steps to generate"
    return exc.message.rstrip(".")


def _text_for(name: str | None, rng: random.Random) -> str:
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


def _size(value: Any) -> int:
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


class _Budget:
    """What one request may spend, shared by all its attempts: regex steps, characters, and work (values
    built, keywords merged, subschemas entered by validation: ``validators.counting``)."""

    __slots__ = ("steps", "chars", "work")

    def __init__(self) -> None:
        self.steps = regex_gen.Steps()
        self.chars = 0
        self.work = WorkCounter(MAX_WORK)

    @property
    def spent(self) -> bool:
        return self.chars > MAX_CHARS or self.steps.used > regex_gen.MAX_STEPS


class _Builder:
    def __init__(self, checked: CheckedSchema, rng: random.Random, budget: _Budget) -> None:
        self.checked = checked
        self.rng = rng
        self.budget = budget
        self.nodes = 0

    def spend(self, chars: int, keyword: str, where: str) -> None:
        self.budget.chars += chars
        if self.budget.chars > MAX_CHARS:
            raise _Unsatisfiable(keyword, where, f"the answer would take more than {MAX_CHARS:,} characters")

    def build(self, schema: Any, where: str, depth: int, name: str | None = None) -> Any:
        self.nodes += 1
        self.budget.work.spend()
        if self.nodes > MAX_NODES:
            raise _Unsatisfiable("minItems", where, f"an instance would need more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise _Unsatisfiable("$ref", where, f"the schema has no instance less than {MAX_DEPTH} levels deep")
        if schema is True or schema == {}:
            return self._string(None, {}, where) if depth else {}
        if schema is False:
            raise _Unsatisfiable("false", where, "the schema 'false' admits no value")
        if "$ref" in schema:
            target = self.checked.resolve(schema["$ref"], where)
            rest = {k: v for k, v in schema.items() if k != "$ref" and k not in _ANNOTATIONS}
            if not rest:
                return self.build(target, where, depth + 1, name)
            return self.build({"allOf": [target, rest]}, where, depth + 1, name)
        if "const" in schema:
            self.spend(_size(schema["const"]), "const", where)
            return schema["const"]
        if "enum" in schema:
            value = self.rng.choice(schema["enum"])
            self.spend(_size(value), "enum", where)
            return value
        if "allOf" in schema:
            return self.build(self._merge(schema, where, depth), where, depth + 1, name)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._choice(schema, key, where, depth, name)
        kind = self._type(schema, depth)
        if kind == "object":
            return self._object(schema, where, depth)
        if kind == "array":
            return self._array(schema, where, depth, name)
        if kind == "string":
            return self._string(name, schema, where)
        if kind in ("integer", "number"):
            return self._number(kind, schema, where)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    # -- composition -----------------------------------------------------------------------------
    def _merge(self, schema: dict, where: str, depth: int) -> dict:
        """allOf as one schema: properties and required united, bounds tightened, the rest kept."""
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        parts = [merged, *schema["allOf"]]
        merged = {}
        closed: list[set[str]] = []  # the property names each closed (additionalProperties: false) part allows
        expanded = 0
        while parts:
            part = parts.pop(0)
            self.budget.work.spend(1 + (len(part) if isinstance(part, dict) else 0))
            if part is True:
                continue
            if part is False:
                raise _Unsatisfiable("allOf", where, "a branch is 'false'")
            if "$ref" in part:
                # An allOf that refers back to itself ({"a": {"allOf": [{"$ref": "#/a"}]}}) never bottoms out.
                expanded += 1
                if expanded > MAX_DEPTH:
                    raise _Unsatisfiable("$ref", where, f"allOf follows more than {MAX_DEPTH} references (a reference loop?)")
                part = {**{k: v for k, v in part.items() if k != "$ref"}, "allOf": [self.checked.resolve(part["$ref"], where)]}
            if "allOf" in part:
                parts = list(part["allOf"]) + parts
                part = {k: v for k, v in part.items() if k != "allOf"}
            if part.get("additionalProperties") is False:
                closed.append(set(part.get("properties", {})))
            for key, value in part.items():
                if key not in merged:
                    merged[key] = value
                elif key == "properties":
                    props = dict(merged[key])
                    for prop, sub in value.items():
                        props[prop] = {"allOf": [props[prop], sub]} if prop in props else sub
                    merged[key] = props
                elif key == "required":
                    merged[key] = list(dict.fromkeys([*merged[key], *value]))
                elif key == "type":
                    left = {merged[key]} if isinstance(merged[key], str) else set(merged[key])
                    right = {value} if isinstance(value, str) else set(value)
                    both = left & right or ({"integer"} if {"integer", "number"} <= left | right else set())
                    if not both:
                        raise _Unsatisfiable("allOf", where, "its branches allow no common type")
                    merged[key] = sorted(both)
                elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
                    merged[key] = max(merged[key], value)
                elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
                    merged[key] = min(merged[key], value)
                elif key == "enum":
                    merged[key] = [v for v in merged[key] if v in value]
                    if not merged[key]:
                        raise _Unsatisfiable("allOf", where, "its enums have no value in common")
                elif key in ("anyOf", "oneOf"):
                    # Both A and B hold: pick a branch of A, each carrying B (exactly one of A's branches
                    # still matches when B is a oneOf, as B holds for all of them).
                    merged[key] = [{"allOf": [branch, {key: value}]} for branch in merged[key]]
                elif merged[key] != value and key not in _ANNOTATIONS:
                    merged[key] = value  # the later one wins; validation catches a real conflict
        if closed:  # every closed part must accept every property the instance has
            allowed = set.intersection(*closed)
            missing = [name for name in merged.get("required", []) if name not in allowed]
            if missing:
                raise _Unsatisfiable("additionalProperties", where, f"'{missing[0]}' is required but a closed branch forbids it")
            merged["properties"] = {k: v for k, v in merged.get("properties", {}).items() if k in allowed}
            merged["additionalProperties"] = False
        return merged

    def _choice(self, schema: dict, key: str, where: str, depth: int, name: str | None) -> Any:
        rest = {k: v for k, v in schema.items() if k != key}
        source = schema[key]
        prepared = self.checked.branches(key, source)
        if depth >= SHALLOW_DEPTH:  # head for the exit: branches without references first
            order = prepared.exit_order
        else:
            order = list(range(len(source)))
            self.rng.shuffle(order)
        last: _Unsatisfiable | None = None
        for i in order:
            branch = source[i]
            sub = {"allOf": [rest, branch]} if rest else branch
            try:
                value = self.build(sub, f"{where}/{key}/{i}", depth + 1, name)
            except _Unsatisfiable as exc:
                last = exc
                continue
            if key == "oneOf" and sum(self.checked.validator.evolve(schema=each).is_valid(value) for each in source) != 1:
                continue
            return value
        if last is not None:
            raise last
        raise _Unsatisfiable(key, where, "no branch gives a value that matches exactly one branch")

    def _type(self, schema: dict, depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list) and declared:
            if depth >= SHALLOW_DEPTH and "null" in declared:
                return "null"
            return self.rng.choice(declared)
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if "minimum" in schema or "maximum" in schema or "multipleOf" in schema:
            return "number"
        return "string"

    # -- values ------------------------------------------------------------------------------------
    def _object(self, schema: dict, where: str, depth: int) -> dict:
        props: dict = schema.get("properties", {})
        required = list(schema.get("required", []))
        shallow = depth >= SHALLOW_DEPTH
        out: dict = {}
        for prop, sub in props.items():
            if prop in required or (not shallow and self.rng.random() < 0.7):
                out[prop] = self.build(sub, f"{where}/properties/{prop}", depth + 1, prop)
        extra = schema.get("additionalProperties", True)
        pattern_props: dict = schema.get("patternProperties", {})
        for prop in required:
            if prop not in out:
                # A name that patternProperties match takes their schemas (all of them), not additionalProperties'.
                matched = [sub for pattern, sub in pattern_props.items() if self.checked.matchers[pattern].search(prop)]
                if matched:
                    sub = matched[0] if len(matched) == 1 else {"allOf": matched}
                else:
                    sub = extra if isinstance(extra, dict) else ({} if extra is not False else True)
                out[prop] = self.build(sub if sub != {} else {"type": "string"}, f"{where}/required", depth + 1, prop)
        least = schema.get("minProperties", 0)
        i = 0
        while len(out) < least:
            i += 1
            if i > MAX_ITEMS:
                raise _Unsatisfiable("minProperties", where, "not enough properties can be added")
            spare = [p for p in props if p not in out]
            if spare:
                out[spare[0]] = self.build(props[spare[0]], f"{where}/properties/{spare[0]}", depth + 1, spare[0])
            elif pattern_props:
                key_pattern, sub = next(iter(pattern_props.items()))
                try:
                    key = regex_gen.generate(key_pattern, self.rng, steps=self.budget.steps, ascii_words=True)
                except APIError as exc:
                    raise _Unsatisfiable("patternProperties", where, _regex_why(exc)) from None
                out.setdefault(key, self.build(sub, f"{where}/patternProperties", depth + 1, key))
            elif extra is not False:
                sub = extra if isinstance(extra, dict) else {"type": "string"}
                out[f"extra_{i}"] = self.build(sub, f"{where}/additionalProperties", depth + 1, None)
            else:
                raise _Unsatisfiable("minProperties", where, "more properties are required than the schema allows")
        most = schema.get("maxProperties")
        if most is not None and len(out) > most:
            for prop in [p for p in out if p not in required][: len(out) - most]:
                del out[prop]
        self.spend(sum(map(len, out)), "properties", where)
        return out

    def _array(self, schema: dict, where: str, depth: int, name: str | None) -> list:
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", True)
        least = max(schema.get("minItems", 0), 0)
        most = schema.get("maxItems")
        if least > MAX_ITEMS:
            raise _Unsatisfiable("minItems", where, f"more than {MAX_ITEMS} items are required")
        if depth >= SHALLOW_DEPTH:
            count = least
        else:
            count = least + self.rng.randint(0 if least else 1, 3)
        if most is not None:
            count = min(count, most)
        if items is False:
            count = min(count, len(prefix))
            if least > len(prefix):
                raise _Unsatisfiable("items", where, "minItems asks for more items than prefixItems allows")
        out: list = []
        seen: set[bytes] = set()
        unique = schema.get("uniqueItems", False)
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else (items if items is not True else {"type": "string"})
            if not unique:
                out.append(self.build(sub, f"{where}/items/{i}", depth + 1, name))
                continue
            for _ in range(10):
                value = self.build(sub, f"{where}/items/{i}", depth + 1, name)
                key = json.dumps(value, sort_keys=True).encode()
                if key not in seen:
                    break
            else:
                if i >= least:
                    break
                raise _Unsatisfiable("uniqueItems", where, "not enough distinct items can be made")
            seen.add(key)
            out.append(value)
        return out

    def _string(self, name: str | None, schema: dict, where: str) -> str:
        text = self._text(name, schema, where)
        self.spend(len(text), "pattern" if "pattern" in schema else "minLength", where)
        return text

    def _text(self, name: str | None, schema: dict, where: str) -> str:
        least = schema.get("minLength", 0)
        most = schema.get("maxLength")
        if least > MAX_STRING:
            raise _Unsatisfiable("minLength", where, f"strings longer than {MAX_STRING} characters are not produced")
        if most is not None and most < least:
            raise _Unsatisfiable("maxLength", where, "maxLength is below minLength")
        fits = lambda text: len(text) >= least and (most is None or len(text) <= most)  # noqa: E731
        if "format" in schema:
            text = _format_value(schema["format"], self.rng)
            if fits(text):
                return text
            raise _Unsatisfiable("format", where, f"a {schema['format']} value cannot fit the length bounds")
        if "pattern" in schema:
            try:
                return regex_gen.generate(
                    schema["pattern"], self.rng, max_chars=min(most or MAX_STRING, MAX_STRING), accept=fits, steps=self.budget.steps, ascii_words=True
                )
            except APIError as exc:
                raise _Unsatisfiable("pattern", where, _regex_why(exc)) from None
        text = _text_for(name, self.rng)
        while len(text) < least:
            text += " " + _text_for(name, self.rng)
        if most is not None and len(text) > most:
            text = text[:most].rstrip() if len(text[:most].rstrip()) >= least else text[:most]
        if len(text) < least:
            text += "x" * (least - len(text))
        return text

    def _number(self, kind: str, schema: dict, where: str) -> int | float:
        """A number within the bounds (exact arithmetic: bounds may be integers far past the float range,
        or steps as small as 1e-320) that passes jsonschema's own multipleOf test."""
        (lo, lo_open), (hi, hi_open) = _bound(schema, "minimum", "exclusiveMinimum", max), _bound(schema, "maximum", "exclusiveMaximum", min)
        if lo is None and hi is None:
            lo, hi = Fraction(0), Fraction(100)
        elif lo is None:
            lo = hi - 100
        elif hi is None:
            hi = lo + 100
        step = schema.get("multipleOf")
        if kind == "integer" or _beyond_floats(lo) or _beyond_floats(hi):
            return self._integer(lo, lo_open, hi, hi_open, step, where)
        if step:
            exact = Fraction(step)
            first, last = _multiples(lo, lo_open, hi, hi_open, exact)
            if first > last:
                raise _Unsatisfiable("multipleOf", where, "no multiple lies within the bounds")
            for _ in range(20):
                k = self.rng.randint(first, min(last, first + 1000))
                value = k * step if isinstance(step, int) else float(k * exact)
                if _multiple_ok(value, step):
                    return value
            raise _Unsatisfiable("multipleOf", where, f"no float multiple of {step} passes the multipleOf check")
        low, high = float(lo), float(hi)
        for _ in range(10):
            value = round(self.rng.uniform(low, high), 2) if high - low > 0.02 else low
            if _within(value, lo, lo_open, hi, hi_open):
                return value
            low, high = (low + high) / 2, high  # an open bound met: look further from it
        raise _Unsatisfiable("minimum", where, "the bounds leave no number")

    def _integer(self, lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool, step: Any, where: str) -> int:
        first, last = math.ceil(lo), math.floor(hi)
        if lo_open and first == lo:
            first += 1
        if hi_open and last == hi:
            last -= 1
        if first > last:
            raise _Unsatisfiable("minimum", where, "the bounds leave no integer")
        if not step:
            return self.rng.randint(first, last)
        # The integers among the multiples of step are those of its numerator: as the decimal written
        # (0.5 → 1/2: every integer; 1.5 → 3/2: multiples of 3), else as the float it is (1e-320).
        wholes = [Fraction(step).numerator] if not isinstance(step, float) else [Fraction(repr(step)).numerator, Fraction(step).numerator]
        room = False
        for whole in dict.fromkeys(wholes):
            low, high = -((-first) // whole), last // whole
            room = room or low <= high
            for _ in range(10 if low <= high else 0):
                value = self.rng.randint(low, min(high, low + 1000)) * whole
                if _multiple_ok(value, step):
                    return value
        if not room:
            raise _Unsatisfiable("multipleOf", where, "no multiple lies within the bounds")
        raise _Unsatisfiable("multipleOf", where, f"no integer multiple of {step} passes the multipleOf check")


def _bound(schema: dict, inclusive: str, exclusive: str, tighter) -> tuple[Fraction | None, bool]:
    """The tighter of a schema's two bounds on one side, exactly, and whether it is open (draft-04's
    boolean exclusiveMinimum makes minimum open)."""
    limit, opened = schema.get(inclusive), schema.get(exclusive)
    found: list[tuple[Fraction, bool]] = []
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        found.append((Fraction(limit), opened is True))
    if isinstance(opened, (int, float)) and not isinstance(opened, bool):
        found.append((Fraction(opened), True))
    if not found:
        return None, False
    best = tighter(value for value, _ in found)
    return best, any(is_open for value, is_open in found if value == best)


def _beyond_floats(value: Fraction) -> bool:
    return abs(value) > 2**1000  # far from float's 1.8e308, so arithmetic near it cannot overflow


def _multiples(lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool, step: Fraction) -> tuple[int, int]:
    """The first and last k for which k * step lies within the bounds."""
    first, last = math.ceil(lo / step), math.floor(hi / step)
    if lo_open and first * step == lo:
        first += 1
    if hi_open and last * step == hi:
        last -= 1
    return first, last


def _within(value: float, lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool) -> bool:
    exact = Fraction(value)
    return (exact > lo if lo_open else exact >= lo) and (exact < hi if hi_open else exact <= hi)


def _multiple_ok(value: int | float, step: int | float) -> bool:
    """jsonschema's multipleOf test, without its crash: it divides before it guards, so an integer
    past the float range over a float step raises there; such a value is not offered."""
    if isinstance(step, float):
        try:
            quotient = value / step
        except OverflowError:
            return False
        try:
            return int(quotient) == quotient
        except (OverflowError, ValueError):
            return (Fraction(value) / Fraction(step)).denominator == 1
    return not value % step


def generate(schema: Any, rng: random.Random) -> str:
    """JSON text valid against ``schema`` (None: any JSON object), or a 400."""
    if schema is None:
        schema = {"type": "object"}
    checked = check(schema)
    budget = _Budget()
    try:
        with checking(budget.work, checked.matchers):
            return _answer(checked, rng, budget)
    except OverBudget:
        raise _too_complex(f"building and checking an answer takes more than {MAX_WORK:,} steps") from None
    except RecursionError:
        raise _too_complex("checking an answer nests too deeply") from None


def _answer(checked: CheckedSchema, rng: random.Random, budget: _Budget) -> str:
    last: _Unsatisfiable | None = None
    for _ in range(ATTEMPTS):
        try:
            value = _Builder(checked, rng, budget).build(checked.schema, "", 0)
        except _Unsatisfiable as exc:
            last = exc
            if budget.spent:  # another attempt would stop at its first string: report where this one did
                break
            continue
        except RecursionError:
            last = _Unsatisfiable("$ref", "", "the schema nests too deeply")
            continue
        # The first few errors are enough to name the keyword; all of them could cost as much again.
        error = jsonschema.exceptions.best_match(itertools.islice(checked.validator.iter_errors(value), 10))
        if error is None:
            try:
                return orjson.dumps(value).decode()
            except orjson.JSONEncodeError:  # an integer wider than 64 bits, from const, enum or a bound
                try:
                    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                except ValueError:  # wider than the 4,300 digits Python writes
                    last = _Unsatisfiable("minimum", "", "the number would have more than 4,300 digits")
                    break
        last = _Unsatisfiable(str(error.validator), _pointer(error.absolute_schema_path), error.message)
    assert last is not None
    raise _unsatisfiable(last.keyword, last.where if len(last.where) <= 120 else "…" + last.where[-119:], last.why)
