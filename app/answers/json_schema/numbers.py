"""Numbers within a schema's bounds, in exact arithmetic, that pass jsonschema's own ``multipleOf`` test."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

from perceptron_mock.answers.json_schema.refusals import Unsatisfiable


def number(kind: str, schema: dict, where: str, rng: random.Random) -> int | float:
    """A number within the bounds (exact arithmetic: bounds may be integers far past the float range,
    or steps as small as 1e-320) that passes jsonschema's own multipleOf test."""
    (lo, lo_open), (hi, hi_open) = bound(schema, "minimum", "exclusiveMinimum", max), bound(schema, "maximum", "exclusiveMaximum", min)
    if lo is None and hi is None:
        lo, hi = Fraction(0), Fraction(100)
    elif lo is None:
        lo = hi - 100
    elif hi is None:
        hi = lo + 100
    step = schema.get("multipleOf")
    if kind == "integer" or beyond_floats(lo) or beyond_floats(hi):
        return integer(lo, lo_open, hi, hi_open, step, where, rng)
    if step:
        exact = Fraction(step)
        first, last = multiples(lo, lo_open, hi, hi_open, exact)
        if first > last:
            raise Unsatisfiable("multipleOf", where, "no multiple lies within the bounds")
        for _ in range(20):
            k = rng.randint(first, min(last, first + 1000))
            value = k * step if isinstance(step, int) else float(k * exact)
            if multiple_ok(value, step):
                return value
        raise Unsatisfiable("multipleOf", where, f"no float multiple of {step} passes the multipleOf check")
    low, high = float(lo), float(hi)
    for _ in range(10):
        value = round(rng.uniform(low, high), 2) if high - low > 0.02 else low
        if within(value, lo, lo_open, hi, hi_open):
            return value
        low, high = (low + high) / 2, high  # an open bound met: look further from it
    raise Unsatisfiable("minimum", where, "the bounds leave no number")

def integer(lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool, step: Any, where: str, rng: random.Random) -> int:
    first, last = math.ceil(lo), math.floor(hi)
    if lo_open and first == lo:
        first += 1
    if hi_open and last == hi:
        last -= 1
    if first > last:
        raise Unsatisfiable("minimum", where, "the bounds leave no integer")
    if not step:
        return rng.randint(first, last)
    # The integers among the multiples of step are those of its numerator: as the decimal written
    # (0.5 → 1/2: every integer; 1.5 → 3/2: multiples of 3), else as the float it is (1e-320).
    wholes = [Fraction(step).numerator] if not isinstance(step, float) else [Fraction(repr(step)).numerator, Fraction(step).numerator]
    room = False
    for whole in dict.fromkeys(wholes):
        low, high = -((-first) // whole), last // whole
        room = room or low <= high
        for _ in range(10 if low <= high else 0):
            value = rng.randint(low, min(high, low + 1000)) * whole
            if multiple_ok(value, step):
                return value
    if not room:
        raise Unsatisfiable("multipleOf", where, "no multiple lies within the bounds")
    raise Unsatisfiable("multipleOf", where, f"no integer multiple of {step} passes the multipleOf check")


def bound(schema: dict, inclusive: str, exclusive: str, tighter) -> tuple[Fraction | None, bool]:
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


def beyond_floats(value: Fraction) -> bool:
    return abs(value) > 2**1000  # far from float's 1.8e308, so arithmetic near it cannot overflow


def multiples(lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool, step: Fraction) -> tuple[int, int]:
    """The first and last k for which k * step lies within the bounds."""
    first, last = math.ceil(lo / step), math.floor(hi / step)
    if lo_open and first * step == lo:
        first += 1
    if hi_open and last * step == hi:
        last -= 1
    return first, last


def within(value: float, lo: Fraction, lo_open: bool, hi: Fraction, hi_open: bool) -> bool:
    exact = Fraction(value)
    return (exact > lo if lo_open else exact >= lo) and (exact < hi if hi_open else exact <= hi)


def multiple_ok(value: int | float, step: int | float) -> bool:
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
