"""Building an instance: a walk of the checked schema with the request's seeded RNG, within the budget."""

from __future__ import annotations

import json
import random
from typing import Any

from perceptron_mock.answers import regex as regex_gen
from perceptron_mock.answers.json_schema.check import ANNOTATIONS, CheckedSchema
from perceptron_mock.answers.json_schema.numbers import number
from perceptron_mock.answers.json_schema.refusals import (
    MAX_CHARS,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NODES,
    MAX_STRING,
    MAX_WORK,
    SHALLOW_DEPTH,
    Unsatisfiable,
)
from perceptron_mock.answers.json_schema.values import format_value, json_size, regex_why, text_for
from perceptron_mock.answers.validators import WorkCounter
from perceptron_mock.protocol.errors import APIError


class Budget:
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


class Builder:
    def __init__(self, checked: CheckedSchema, rng: random.Random, budget: Budget) -> None:
        self.checked = checked
        self.rng = rng
        self.budget = budget
        self.nodes = 0

    def spend(self, chars: int, keyword: str, where: str) -> None:
        self.budget.chars += chars
        if self.budget.chars > MAX_CHARS:
            raise Unsatisfiable(keyword, where, f"the answer would take more than {MAX_CHARS:,} characters")

    def build(self, schema: Any, where: str, depth: int, name: str | None = None) -> Any:
        self.nodes += 1
        self.budget.work.spend()
        if self.nodes > MAX_NODES:
            raise Unsatisfiable("minItems", where, f"an instance would need more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise Unsatisfiable("$ref", where, f"the schema has no instance less than {MAX_DEPTH} levels deep")
        if schema is True or schema == {}:
            return self._string(None, {}, where) if depth else {}
        if schema is False:
            raise Unsatisfiable("false", where, "the schema 'false' admits no value")
        if "$ref" in schema:
            target = self.checked.resolve(schema["$ref"], where)
            rest = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
            if not rest:
                return self.build(target, where, depth + 1, name)
            return self.build({"allOf": [target, rest]}, where, depth + 1, name)
        if "const" in schema:
            self.spend(json_size(schema["const"]), "const", where)
            return schema["const"]
        if "enum" in schema:
            value = self.rng.choice(schema["enum"])
            self.spend(json_size(value), "enum", where)
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
            return number(kind, schema, where, self.rng)
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
                raise Unsatisfiable("allOf", where, "a branch is 'false'")
            if "$ref" in part:
                # An allOf that refers back to itself ({"a": {"allOf": [{"$ref": "#/a"}]}}) never bottoms out.
                expanded += 1
                if expanded > MAX_DEPTH:
                    raise Unsatisfiable("$ref", where, f"allOf follows more than {MAX_DEPTH} references (a reference loop?)")
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
                        raise Unsatisfiable("allOf", where, "its branches allow no common type")
                    merged[key] = sorted(both)
                elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
                    merged[key] = max(merged[key], value)
                elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
                    merged[key] = min(merged[key], value)
                elif key == "enum":
                    merged[key] = [v for v in merged[key] if v in value]
                    if not merged[key]:
                        raise Unsatisfiable("allOf", where, "its enums have no value in common")
                elif key in ("anyOf", "oneOf"):
                    # Both A and B hold: pick a branch of A, each carrying B (exactly one of A's branches
                    # still matches when B is a oneOf, as B holds for all of them).
                    merged[key] = [{"allOf": [branch, {key: value}]} for branch in merged[key]]
                elif merged[key] != value and key not in ANNOTATIONS:
                    merged[key] = value  # the later one wins; validation catches a real conflict
        if closed:  # every closed part must accept every property the instance has
            allowed = set.intersection(*closed)
            missing = [name for name in merged.get("required", []) if name not in allowed]
            if missing:
                raise Unsatisfiable("additionalProperties", where, f"'{missing[0]}' is required but a closed branch forbids it")
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
        last: Unsatisfiable | None = None
        for i in order:
            branch = source[i]
            sub = {"allOf": [rest, branch]} if rest else branch
            try:
                value = self.build(sub, f"{where}/{key}/{i}", depth + 1, name)
            except Unsatisfiable as exc:
                last = exc
                continue
            if key == "oneOf" and sum(self.checked.validator.evolve(schema=each).is_valid(value) for each in source) != 1:
                continue
            return value
        if last is not None:
            raise last
        raise Unsatisfiable(key, where, "no branch gives a value that matches exactly one branch")

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
                raise Unsatisfiable("minProperties", where, "not enough properties can be added")
            spare = [p for p in props if p not in out]
            if spare:
                out[spare[0]] = self.build(props[spare[0]], f"{where}/properties/{spare[0]}", depth + 1, spare[0])
            elif pattern_props:
                key_pattern, sub = next(iter(pattern_props.items()))
                try:
                    key = regex_gen.generate(key_pattern, self.rng, steps=self.budget.steps, ascii_words=True)
                except APIError as exc:
                    raise Unsatisfiable("patternProperties", where, regex_why(exc)) from None
                out.setdefault(key, self.build(sub, f"{where}/patternProperties", depth + 1, key))
            elif extra is not False:
                sub = extra if isinstance(extra, dict) else {"type": "string"}
                out[f"extra_{i}"] = self.build(sub, f"{where}/additionalProperties", depth + 1, None)
            else:
                raise Unsatisfiable("minProperties", where, "more properties are required than the schema allows")
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
            raise Unsatisfiable("minItems", where, f"more than {MAX_ITEMS} items are required")
        if depth >= SHALLOW_DEPTH:
            count = least
        else:
            count = least + self.rng.randint(0 if least else 1, 3)
        if most is not None:
            count = min(count, most)
        if items is False:
            count = min(count, len(prefix))
            if least > len(prefix):
                raise Unsatisfiable("items", where, "minItems asks for more items than prefixItems allows")
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
                raise Unsatisfiable("uniqueItems", where, "not enough distinct items can be made")
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
            raise Unsatisfiable("minLength", where, f"strings longer than {MAX_STRING} characters are not produced")
        if most is not None and most < least:
            raise Unsatisfiable("maxLength", where, "maxLength is below minLength")
        fits = lambda text: len(text) >= least and (most is None or len(text) <= most)  # noqa: E731
        if "format" in schema:
            text = format_value(schema["format"], self.rng)
            if fits(text):
                return text
            raise Unsatisfiable("format", where, f"a {schema['format']} value cannot fit the length bounds")
        if "pattern" in schema:
            try:
                return regex_gen.generate(
                    schema["pattern"], self.rng, max_chars=min(most or MAX_STRING, MAX_STRING), accept=fits, steps=self.budget.steps, ascii_words=True
                )
            except APIError as exc:
                raise Unsatisfiable("pattern", where, regex_why(exc)) from None
        text = text_for(name, self.rng)
        while len(text) < least:
            text += " " + text_for(name, self.rng)
        if most is not None and len(text) > most:
            text = text[:most].rstrip() if len(text[:most].rstrip()) >= least else text[:most]
        if len(text) < least:
            text += "x" * (least - len(text))
        return text
