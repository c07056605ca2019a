"""Hostile response_format schemas and regexes, sent to a real server: each is answered within its
budget, with a valid 200 or a 400 in the error envelope naming the field, never a stall or a 500.

Each request runs under a 10 s watchdog (the client's timeout): before these checks, the first one
held the server for 23 s, and a catastrophic pattern grows 4x for every 2 characters it is fed.
"""

from __future__ import annotations

import json
from fractions import Fraction

import httpx
import jsonschema
import pytest

from tests.helpers import MODEL

PARAM = "response_format.json_schema.schema"
WATCHDOG = 10.0
TRAP = "a" * 5000 + "!"  # ^(a+)+$ against this would backtrack for longer than the universe has existed


def _ask(mock, schema=None, *, regex: str | None = None) -> httpx.Response:
    body: dict = {"model": MODEL, "messages": [{"role": "user", "content": "Fill it in."}]}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "hostile", "schema": schema}}
    if regex is not None:
        body["regex"] = regex
    return httpx.post(mock.url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=WATCHDOG)


def _refused(response: httpx.Response, code: str, param: str = PARAM) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code), error
    return error["message"]


def _content(response: httpx.Response):
    assert response.status_code == 200, response.text
    return json.loads(response.json()["choices"][0]["message"]["content"])


# --- catastrophic patterns, checked by RE2 ---------------------------------------------------------


def test_an_enum_value_checked_against_a_catastrophic_pattern_is_refused_at_once(perceptron_mock):
    message = _refused(_ask(perceptron_mock, {"type": "string", "pattern": "^(a+)+$", "enum": [TRAP]}), "unsatisfiable_json_schema")
    assert "'pattern'" in message


def test_an_enum_value_that_matches_a_catastrophic_pattern_is_answered(perceptron_mock):
    assert _content(_ask(perceptron_mock, {"type": "string", "pattern": "^(a+)+$", "enum": [TRAP, "a" * 5000]})) == "a" * 5000


def test_a_const_checked_against_a_catastrophic_pattern_is_refused_at_once(perceptron_mock):
    _refused(_ask(perceptron_mock, {"type": "string", "pattern": "(x+x+)+y", "const": "x" * 5000}), "unsatisfiable_json_schema")


def test_required_names_checked_against_catastrophic_pattern_properties_are_answered(perceptron_mock):
    schema = {
        "type": "object",
        "patternProperties": {"^(a+)+$": {"type": "integer"}},
        "required": [TRAP, "aaaa"],
    }
    answer = _content(_ask(perceptron_mock, schema))
    assert list(answer) == [TRAP, "aaaa"] and isinstance(answer["aaaa"], int)  # only "aaaa" matches the pattern


def test_a_closed_object_whose_required_name_no_pattern_matches_is_refused(perceptron_mock):
    schema = {"type": "object", "patternProperties": {"^(a+)+$": {}}, "additionalProperties": False, "required": [TRAP]}
    _refused(_ask(perceptron_mock, schema), "unsatisfiable_json_schema")


def test_a_pattern_re2_cannot_check_is_refused_naming_the_keyword(perceptron_mock):
    message = _refused(_ask(perceptron_mock, {"type": "string", "pattern": "^(?:[a-z]{40}){40}$"}), "unsupported_json_schema")
    assert "'pattern'" in message and "1,000" in message


# --- the three 500s ---------------------------------------------------------------------------------


def test_an_integer_bound_beyond_the_float_range_gets_an_integer_within_it(perceptron_mock):
    bound = 10**309
    schema = json.loads('{"type": "integer", "minimum": 1' + "0" * 309 + "}")
    answer = _content(_ask(perceptron_mock, schema))
    assert type(answer) is int and bound <= answer <= bound + 100


def test_a_number_whose_maximum_is_beyond_the_float_range_gets_a_number_below_it(perceptron_mock):
    answer = _content(_ask(perceptron_mock, json.loads('{"type": "number", "maximum": -1' + "0" * 400 + "}")))
    assert answer <= -(10**400)


def test_a_subnormal_multiple_of_gets_a_multiple_of_it(perceptron_mock):
    answer = _content(_ask(perceptron_mock, {"type": "number", "multipleOf": 1e-320}))
    jsonschema.validate(answer, {"type": "number", "multipleOf": 1e-320})
    assert (Fraction(answer) / Fraction(1e-320)).denominator == 1


def test_an_any_of_that_refers_back_to_itself_is_refused_as_a_loop(perceptron_mock):
    message = _refused(_ask(perceptron_mock, {"anyOf": [{"$ref": "#"}, {"type": "string"}]}), "invalid_json_schema")
    assert "'$ref'" in message and "never end" in message


def test_a_reference_loop_through_defs_and_all_of_is_refused(perceptron_mock):
    schema = {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"oneOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}
    _refused(_ask(perceptron_mock, schema), "invalid_json_schema")


def test_a_recursive_schema_that_enters_the_value_is_still_answered(perceptron_mock):
    schema = {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["next"]}
    answer = _content(_ask(perceptron_mock, schema))
    jsonschema.validate(answer, schema)


def test_a_reference_into_an_enum_value_is_refused(perceptron_mock):
    schema = {"enum": [{"pattern": "^(a+)+$", "type": "string"}], "$ref": "#/enum/0"}
    message = _refused(_ask(perceptron_mock, schema), "unsupported_json_schema")
    assert "'$ref'" in message and "not at a schema" in message


# --- quadratic uniqueness ---------------------------------------------------------------------------

ENUM_4000 = [{"id": i, "tags": [i, str(i)]} for i in range(4000)]


def test_a_draft_04_enum_of_4000_objects_is_checked_in_linear_time(perceptron_mock):
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "enum": ENUM_4000}
    assert _content(_ask(perceptron_mock, schema)) in ENUM_4000


def test_a_draft_04_enum_with_a_repeated_object_is_refused_as_invalid(perceptron_mock):
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "enum": [*ENUM_4000, {"tags": [7, "7"], "id": 7}]}
    message = _refused(_ask(perceptron_mock, schema), "invalid_json_schema")
    assert "non-unique" in message and len(message) < 1000  # the 4,001 values are not all quoted back


def test_unique_items_over_many_objects_are_checked_in_linear_time(perceptron_mock):
    schema = {
        "type": "array",
        "uniqueItems": True,
        "minItems": 400,
        "maxItems": 400,
        "items": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10**9}}, "required": ["n"]},
    }
    answer = _content(_ask(perceptron_mock, schema))
    assert len(answer) == 400 and len({item["n"] for item in answer}) == 400


# --- bounds on the schema and on the work --------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        pytest.param({"type": "string", "description": "d" * (1024 * 1024)}, "bytes of JSON", id="over 1 MiB"),
        pytest.param({"anyOf": [{}] * 5001}, "5,000 objects", id="over 5,000 subschemas"),
        pytest.param(json.loads('{"items": ' * 70 + "{}" + "}" * 70), "64 levels", id="over 64 levels deep"),
    ],
)
def test_a_schema_past_a_size_bound_is_refused_before_any_work(perceptron_mock, schema, words):
    assert words in _refused(_ask(perceptron_mock, schema), "json_schema_too_large")


# With the default max_json_items (25,000) the whole body is refused first (request_too_complex).
@pytest.mark.perceptron_mock(max_json_items=200_000)
def test_a_schema_of_over_100_000_values_is_refused_where_the_body_may_hold_that_many(perceptron_mock):
    message = _refused(_ask(perceptron_mock, {"enum": list(range(100_001))}), "json_schema_too_large")
    assert "100,000 JSON values" in message


def _doubling_chain(levels: int) -> dict:
    """Each level a oneOf of "the next level, and a string" and "the next level, and null": a value is
    built in a few steps, but checking it enters every level twice over, 2^levels subschemas."""
    def level(i: int) -> dict:
        follow = {"$ref": f"#/$defs/n{i + 1}"}
        return {"oneOf": [{"allOf": [follow, {"type": "string"}]}, {"allOf": [follow, {"type": "null"}]}]}

    defs = {f"n{i}": level(i) for i in range(levels)}
    defs[f"n{levels}"] = {"type": ["string", "null"]}
    return {"$defs": defs, "$ref": "#/$defs/n0"}


def test_a_schema_whose_check_would_take_exponential_time_is_refused_within_the_work_budget(perceptron_mock):
    assert "50,000 steps" in _refused(_ask(perceptron_mock, _doubling_chain(18)), "unsatisfiable_json_schema")


def test_the_same_shape_a_few_levels_deep_is_answered(perceptron_mock):
    schema = _doubling_chain(4)
    jsonschema.validate(_content(_ask(perceptron_mock, schema)), schema)


# --- regex answers ------------------------------------------------------------------------------------


def test_a_regex_of_only_a_non_boundary_is_refused_rather_than_answered_with_an_empty_string(perceptron_mock):
    message = _refused(_ask(perceptron_mock, regex="\\B"), "unsatisfiable_regex", param="regex")
    assert "cannot be satisfied" in message


@pytest.mark.parametrize("pattern", ["\\ud800", "x\\udfff?"])
def test_a_regex_asking_for_a_lone_surrogate_is_refused_not_a_500(perceptron_mock, pattern):
    _refused(_ask(perceptron_mock, regex=pattern), "unsupported_regex", param="regex")
    _refused(_ask(perceptron_mock, {"type": "string", "pattern": f"^{pattern}$"}), "unsupported_json_schema")


def test_a_schema_pattern_of_only_a_non_boundary_is_refused(perceptron_mock):
    _refused(_ask(perceptron_mock, {"type": "string", "pattern": "^\\B$"}), "unsatisfiable_json_schema")


# --- the caches -----------------------------------------------------------------------------------------


def test_reset_empties_the_schema_and_pattern_caches(perceptron_mock):
    schema = {"type": "object", "properties": {f"field_{i}": {"type": "string", "pattern": f"^v{i}[a-z]+$"} for i in range(50)}}
    _content(_ask(perceptron_mock, schema))
    first = httpx.post(perceptron_mock.url + "/_admin/reset", timeout=WATCHDOG).json()
    assert first["cache_bytes"] > 0
    assert httpx.post(perceptron_mock.url + "/_admin/reset", timeout=WATCHDOG).json()["cache_bytes"] == 0
