"""The schema and pattern caches hold no more than their byte bounds, whatever they are fed, and a
clear empties them: measured with tracemalloc (Python's own allocations), so the figures do not
depend on the allocator or the machine."""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest

from perceptron_mock.answers import caches, json_schema, regex
from perceptron_mock.protocol.errors import APIError

MiB = 1024 * 1024


@pytest.fixture
def small_caches():
    """Caches bounded at 2 MiB each, empty, restored afterwards."""
    caches.configure(2 * MiB, 2 * MiB)
    caches.clear()
    yield 2 * MiB
    caches.clear()
    caches.configure(caches.SCHEMA_CACHE_BYTES, caches.PATTERN_CACHE_BYTES)


class _Traced:
    """Bytes Python holds now beyond what it held when the block began (tracemalloc runs throughout, so
    what is freed inside the block counts too)."""

    def __enter__(self) -> "_Traced":
        gc.collect()
        tracemalloc.start()
        self.base = tracemalloc.get_traced_memory()[0]
        return self

    def held(self) -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - self.base

    def __exit__(self, *exc) -> None:
        tracemalloc.stop()


def _retained(work) -> int:
    with _Traced() as traced:
        work()
        return traced.held()


def _large_schema(i: int) -> dict:
    """About 15 KB of JSON with 250 subschemas, counted at ~330 KB: several fit the 2 MiB bound."""
    return {"type": "object", "properties": {f"s{i}_field_{j}": {"type": "string", "maxLength": 8} for j in range(250)}}


def test_twenty_distinct_large_schemas_retain_no_more_than_the_schema_cache_bound(small_caches):
    def check_twenty():
        for i in range(20):
            json_schema.check(_large_schema(i))

    with _Traced() as traced:
        check_twenty()
        retained = traced.held()
        kept = len(caches.SCHEMAS)
        caches.clear()
        after_clear = traced.held()
    assert 0 < kept < 20  # the bound, not the count, decided what stayed
    assert retained <= small_caches, f"{retained:,} bytes retained"
    assert after_clear < 256 * 1024, f"{after_clear:,} bytes still held after a clear"


def test_twenty_schemas_over_the_size_bounds_are_refused_and_retain_nothing(small_caches):
    def refuse_twenty():
        for i in range(20):
            if i % 2:
                oversized = {"type": "string", "description": f"{i}" + "d" * (8 * MiB)}  # 8 MB in one string
            else:
                oversized = {"$comment": str(i), "anyOf": [{"type": "string"}] * 60_000}  # 1.1 MB, 60,000 subschemas
            with pytest.raises(APIError) as caught:
                json_schema.check(oversized)
            assert caught.value.code == "json_schema_too_large"

    assert _retained(refuse_twenty) < 256 * 1024
    assert caches.SCHEMAS.bytes == 0


def test_an_entry_counted_over_a_quarter_of_the_bound_is_not_kept(small_caches):
    wide = {"type": "object", "properties": {f"field_{j}": {"type": "string"} for j in range(1_000)}}  # counted at ~1.1 MB
    json_schema.check(wide)
    assert len(caches.SCHEMAS) == 0


def test_distinct_long_patterns_retain_no_more_than_the_pattern_cache_bound(small_caches):
    def walk_many():
        rng = random.Random(0)
        for i in range(60):
            regex.generate(f"x{i}" + "[a-z][^,]" * 160, rng)  # 1,440 characters of pattern each, counted at ~370 KB

    with _Traced() as traced:
        walk_many()
        retained = traced.held()
        counted, kept = caches.PATTERNS.bytes, len(caches.PATTERNS)
        caches.clear()
        after_clear = traced.held()
    assert 0 < counted <= small_caches and 0 < kept < 60
    assert retained <= small_caches, f"{retained:,} bytes retained"
    assert after_clear < 256 * 1024, f"{after_clear:,} bytes still held after a clear"


def test_a_cached_schema_answers_exactly_as_a_fresh_one(small_caches):
    schema = _large_schema(0)
    first = json_schema.generate(schema, random.Random(5))
    assert len(caches.SCHEMAS) == 1
    caches.clear()
    assert json_schema.generate(schema, random.Random(5)) == first
