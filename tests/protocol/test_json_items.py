"""The JSON-item count that bounds what the server parses: exact on valid JSON, on the raw bytes."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.protocol.json_items import items_over
from tests.helpers import json_items

# Strings full of what the count must not be fooled by: commas, brackets, quotes and backslashes.
tricky_text = st.text(alphabet=st.sampled_from(list(',[{}]:"\\ab\n\t') + ["é", "\u2028"]), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | tricky_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(tricky_text, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, window=st.sampled_from([2, 3, 7, 1 << 20]), spaced=st.booleans())
def test_the_count_is_exact_on_any_json_whatever_its_strings_hold(value, window, spaced):
    body = json.dumps(value, indent=1 if spaced else None, ensure_ascii=spaced).encode()
    count = json_items(value)
    assert not items_over(body, count, window=window)
    assert count == 0 or items_over(body, count - 1, window=window)


def test_a_body_of_twenty_megabytes_of_tiny_items_is_over_any_sane_bound():
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": [1] * 10_000_000}]})
    assert items_over(body, 25_000)
    assert items_over(bytearray(body), 25_000)  # as a chunked upload is read


def test_a_twenty_megabyte_string_full_of_commas_and_escapes_is_two_items():
    text = 'a, "b", [c], {d}, \\e\n' * 1_000_000
    body = orjson.dumps({"messages": [text]})
    assert json_items(json.loads(body)) == 2
    assert not items_over(body, 2) and items_over(body, 1)


@pytest.mark.parametrize(
    "body",
    [
        b'"a""b""c"' * 1000 + b",,,,",  # strings with nothing between them
        b'[1, "unterminated' + b"," * 100,
        b'[1, "ends in a backslash' + b"," * 100 + b"\\",
    ],
    ids=["strings-back-to-back", "unterminated-string", "trailing-backslash"],
)
def test_bodies_that_are_not_json_are_left_to_the_parser(body):
    # Their commas are never reached as items: counting stops where the JSON breaks, and the parser
    # refuses the body there (400 invalid_json), having built no more than what came before.
    assert not items_over(body, 3)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
