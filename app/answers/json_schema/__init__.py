"""``response_format: json_schema``: content that is JSON valid against the schema.

A schema is checked once (``check``) and cached; an instance is then built by walking it with the
request's seeded RNG (``build``) and validated with ``jsonschema`` before it is sent; a walk whose
instance does not validate is retried, and a few failures are a 400 naming the keyword.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import jsonschema
import orjson

from perceptron_mock.answers.json_schema.build import Budget, Builder
from perceptron_mock.answers.json_schema.check import FORMATS, CheckedSchema, check
from perceptron_mock.answers.json_schema.refusals import ATTEMPTS, MAX_WORK, Unsatisfiable, pointer, too_complex, unsatisfiable
from perceptron_mock.answers.validators import OverBudget, checking

__all__ = ["FORMATS", "CheckedSchema", "check", "generate"]


def generate(schema: Any, rng: random.Random) -> str:
    """JSON text valid against ``schema`` (None: any JSON object), or a 400."""
    if schema is None:
        schema = {"type": "object"}
    checked = check(schema)
    budget = Budget()
    try:
        with checking(budget.work, checked.matchers):
            return _answer(checked, rng, budget)
    except OverBudget:
        raise too_complex(f"building and checking an answer takes more than {MAX_WORK:,} steps") from None
    except RecursionError:
        raise too_complex("checking an answer nests too deeply") from None


def _answer(checked: CheckedSchema, rng: random.Random, budget: Budget) -> str:
    last: Unsatisfiable | None = None
    for _ in range(ATTEMPTS):
        try:
            value = Builder(checked, rng, budget).build(checked.schema, "", 0)
        except Unsatisfiable as exc:
            last = exc
            if budget.spent:  # another attempt would stop at its first string: report where this one did
                break
            continue
        except RecursionError:
            last = Unsatisfiable("$ref", "", "the schema nests too deeply")
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
                    last = Unsatisfiable("minimum", "", "the number would have more than 4,300 digits")
                    break
        last = Unsatisfiable(str(error.validator), pointer(error.absolute_schema_path), error.message)
    assert last is not None
    raise unsatisfiable(last.keyword, last.where if len(last.where) <= 120 else "…" + last.where[-119:], last.why)
