"""Generated hostile inputs — JSON schemas, regexes and fixtures, from small to large — never get a 5xx
or a stall: each is answered with a 200 that honours it or a 4xx in the OpenAI envelope.

One real server for the module; every request has a watchdog (``WATCHDOG`` seconds), and a request
it catches fails as a stall (the server, wedged, is then replaced so the search can go on). No
timing is asserted beyond that. Answers are checked with Python's own ``re`` and ``jsonschema`` in a
child process under the same watchdog: a wrong answer to a catastrophic pattern could hold this one.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import re
from contextlib import ExitStack
from typing import Any, Callable
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.helpers import MODEL
from tests.server import RunningServer, run_server

WATCHDOG = 10.0  # seconds; a generous bound on any one answer, not a speed target
# Shrinking a stall costs a watchdog and a restart per step: room for Hypothesis's own five-minute
# shrinking limit, so that a stall is reported with its smallest example rather than cut short.
SHRINK_ROOM = pytest.mark.timeout(900)
FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
ENVELOPE = {"message", "type", "param", "code"}
# Hypothesis warns when it prints a large generated value; large values are the point here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


# --- the server and the checks ---------------------------------------------------------------------


class Mock:
    """The module's server, replaced when a stall has wedged it."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.running: RunningServer | None = None
        self.client: httpx.Client | None = None
        self._start()

    def _start(self) -> None:
        self._stack = ExitStack()
        self.running = self._stack.enter_context(run_server("--rate-limit-per-minute", "0"))
        self.client = self._stack.enter_context(
            httpx.Client(base_url=self.running.url, headers={"authorization": "Bearer fuzz"}, timeout=WATCHDOG)
        )

    def close(self) -> None:
        self._stack.close()

    def request(self, method: str, path: str, what: str, **options) -> httpx.Response:
        """The answer, or a test failure naming ``what`` got none: a stall (no answer within the
        watchdog) or a connection closed without an answer."""
        try:
            return self.client.request(method, path, **options)
        except httpx.TimeoutException:
            self.running.process.kill()  # wedged: its event loop would not even see a SIGTERM
            self.close()
            self._start()
            pytest.fail(f"stall: no answer within {WATCHDOG:g}s to {what}")
        except httpx.TransportError as exc:
            pytest.fail(f"no response to {what}: {type(exc).__name__}: {exc}")

    def assert_healthy(self) -> None:
        assert self.request("GET", "/health", "GET /health after the fuzz").status_code == 200


@pytest.fixture(scope="module")
def mock():
    server = Mock()
    yield server
    server.close()


def _fullmatches(pattern: str, content: str) -> bool:
    return re.fullmatch(pattern, content) is not None


def _linear(node: Any) -> Any:
    """``node`` with each catastrophic pattern (a ``pattern``, a ``patternProperties`` key) replaced by
    its linear equivalent."""
    if isinstance(node, list):
        return [_linear(item) for item in node]
    if not isinstance(node, dict):
        return node
    linear = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            linear[key] = LINEAR_EQUIVALENT.get(value, value)
        elif key == "patternProperties" and isinstance(value, dict):
            linear[key] = {LINEAR_EQUIVALENT.get(k, k): _linear(v) for k, v in value.items()}
        elif key in ("enum", "const", "default", "examples"):  # values, not schemas
            linear[key] = value
        else:
            linear[key] = _linear(value)
    return linear


def _schema_problem(schema: Any, instance: Any) -> str | None:
    schema = _linear(schema)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(instance))
    return None if error is None else f"{error.message} at {list(error.absolute_path)}"


@pytest.fixture(scope="module")
def check():
    """``check(function, *args)``: the function's result, computed in a child process under the watchdog."""
    context = multiprocessing.get_context("spawn")
    pools = [context.Pool(1)]

    def run(function: Callable, *args: Any) -> Any:
        try:
            return pools[-1].apply_async(function, args).get(timeout=WATCHDOG)
        except multiprocessing.TimeoutError:
            pools[-1].terminate()
            pools.append(context.Pool(1))
            pytest.fail(f"checking the answer took over {WATCHDOG:g}s: {function.__name__}{args!r:.300}")

    yield run
    pools[-1].terminate()


def assert_answered(response: httpx.Response, what: str) -> dict:
    """A 200, or a 4xx whose body is the OpenAI envelope; the body as JSON."""
    status = response.status_code
    assert status == 200 or 400 <= status < 500, f"{status} to {what}: {response.text[:600]}"
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"} and set(body["error"]) == ENVELOPE, f"not the envelope: {body}"
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def chat_body(text: str = "Fill in the form.", **fields) -> bytes:
    # json, not orjson: generated schemas hold integers wider than 64 bits.
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}).encode()


# --- hostile values ------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**53 + 1, 2**63, 2**64 + 1, 10**309, -(10**309), 10**1000])
TINY_FLOATS = st.sampled_from([5e-324, 1e-320, 1e-310, 2.2250738585072014e-308, 1e-300])
NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    HUGE_INTS,
    TINY_FLOATS,
)
SIZES = st.one_of(st.integers(0, 12), st.sampled_from([100, 5000, 10**6, 2**31, 2**64, 10**309]))  # lengths, counts
BENIGN_PATTERNS = ["^[a-z]{3}$", "^\\d+$", "^(yes|no)$", "[A-Z]", "^.{0,5}$", "^[0-9a-f]{8}-[0-9a-f]{4}$", "a|b", ""]
# Patterns that backtrack exponentially in Python's re, each with the letter of the texts that make it
# (a long run of it that does not quite match) and a pattern that matches the same texts without
# backtracking, which checks the answers in their place: Python's jsonschema applies pattern and
# patternProperties with re.search, and would take hours over a value the mock rightly judged.
CATASTROPHIC = [
    ("^(a+)+$", "a", "^a+$"),
    ("^(a|a)+$", "a", "^a+$"),
    ("^(a|aa)+$", "a", "^a+$"),
    ("(x+x+)+y", "x", "xx+y"),
    ("^(\\w+\\s?)*$", "a", "^(?:\\w\\s?)*$"),
    ("^(.*a){12}$", "a", "^(?:[^a\\n]*a){11}[^\\n]*a$"),
    ("(a*)*b", "a", "b"),
]
CATASTROPHIC_PATTERNS = [pattern for pattern, _, _ in CATASTROPHIC]
LINEAR_EQUIVALENT = {pattern: linear for pattern, _, linear in CATASTROPHIC}
PATTERNS = st.sampled_from(BENIGN_PATTERNS + CATASTROPHIC_PATTERNS)
# Run lengths are short or far too long for backtracking, none near the watchdog, so that a stall
# always reproduces (and shrinks to the pattern that causes it).
RUNS = st.sampled_from([0, 3, 12, 40])
TRIGGERS = st.builds(lambda ch, n, tail: ch * n + tail, st.sampled_from(["a", "x"]), RUNS, st.sampled_from(["!", "", "b", "y"]))
# A catastrophic pattern with texts made to backtrack in it.
CATASTROPHIC_CASES = st.sampled_from([(pattern, letter) for pattern, letter, _ in CATASTROPHIC]).flatmap(
    lambda case: st.tuples(st.just(case[0]), st.lists(st.builds(lambda n, tail: case[1] * n + tail, RUNS, st.sampled_from(["!", "", "b", "y"])), min_size=1, max_size=3, unique=True))
)
NAMES = st.one_of(st.text("abcdefgh_", min_size=1, max_size=8), TRIGGERS)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20), TRIGGERS),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)),
    max_leaves=10,
)
DRAFTS = [
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2020-12/schema",
]


def _big_enum(count: int, kind: str) -> list:
    """An enum of ``count`` distinct values: objects make uniqueness checks quadratic if done naively."""
    if kind == "objects":
        return [{"id": i} for i in range(count)]
    if kind == "arrays":
        return [[i, str(i)] for i in range(count)]
    return [f"value-{i}" for i in range(count)]


def _drop_none(**fields: Any) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def _optional(strategy):
    return st.none() | strategy


# Schemas are well-formed (small, consistent bounds, supported keywords) but for the hostile leaves
# put into them (see json_schemas).
benign_strings = st.builds(
    lambda low, extra, pattern, fmt: _drop_none(
        type="string", minLength=low, maxLength=None if extra is None else (low or 0) + extra, pattern=pattern, format=fmt
    ),
    _optional(st.integers(0, 12)),
    _optional(st.integers(0, 12)),
    _optional(st.sampled_from(BENIGN_PATTERNS)),
    _optional(st.sampled_from(["date", "date-time", "email", "uuid", "ipv4", "uri", "hostname"])),
)
benign_numbers = st.builds(
    lambda kind, low, span, multiple: _drop_none(
        type=kind, minimum=low, maximum=None if span is None else (low or 0) + span, multipleOf=multiple
    ),
    st.sampled_from(["integer", "number"]),
    _optional(st.integers(-1000, 1000)),
    _optional(st.integers(10, 1000)),
    _optional(st.sampled_from([1, 2, 5, 0.5, 0.25])),
)
benign_leaves = st.one_of(
    benign_strings,
    benign_numbers,
    st.builds(lambda values: {"enum": values}, st.lists(JSON_VALUES, min_size=1, max_size=6, unique_by=json.dumps)),
    st.builds(lambda value: {"const": value}, JSON_VALUES),
    st.sampled_from([{}, {"type": "boolean"}, {"type": "null"}, {"$ref": "#/$defs/d"}]),
)
_SIZE_KEYWORDS = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems"), "object": ("minProperties", "maxProperties")}
hostile_leaves = st.one_of(
    # a number keyword beyond the float range, or below its resolution
    st.builds(
        lambda kind, keyword, value: {"type": kind, keyword: value},
        st.sampled_from(["integer", "number"]),
        st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]),
        st.one_of(HUGE_INTS, TINY_FLOATS, st.floats(allow_nan=False, allow_infinity=False)),
    ),
    # a catastrophic pattern, checked against the values (or required names) the schema gives
    CATASTROPHIC_CASES.map(lambda case: {"type": "string", "pattern": case[0], "enum": case[1]}),
    CATASTROPHIC_CASES.map(lambda case: {"type": "string", "pattern": case[0], "const": case[1][0]}),
    CATASTROPHIC_CASES.map(
        lambda case: {"type": "object", "required": case[1], "patternProperties": {case[0]: {"type": "string"}}, "additionalProperties": False}
    ),
    # sizes: many enum values (uniqueness checks), many properties, huge or contradictory counts
    st.builds(lambda n, kind: {"enum": _big_enum(n, kind)}, st.sampled_from([10, 300, 4000]), st.sampled_from(["objects", "arrays", "strings"])),
    st.builds(lambda items, n: {"type": "array", "items": items, "minItems": n, "uniqueItems": True}, benign_leaves, st.sampled_from([2, 50, 600])),
    st.builds(lambda n: {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(n)}}, st.sampled_from([50, 500, 2000])),
    st.builds(
        lambda kind, low, high: _drop_none(type=kind, **{_SIZE_KEYWORDS[kind][0]: low, _SIZE_KEYWORDS[kind][1]: high}),
        st.sampled_from(list(_SIZE_KEYWORDS)),
        _optional(SIZES),
        _optional(SIZES),
    ),
    st.builds(lambda fmt: {"type": "string", "format": fmt}, st.sampled_from(["bogus", "regex", "iri", "json-pointer"])),
    # references to the root (recursion, with a way out or not), to nothing, to a non-schema; a
    # keyword the mock refuses
    st.builds(lambda leaf: {"anyOf": [{"$ref": "#"}, leaf]}, benign_leaves),
    st.sampled_from([{"$ref": "#"}, {"$ref": "#/$defs/missing"}, {"$ref": "#/properties"}, {"not": {}}]),
)


def _containers(children):
    objects = st.builds(
        lambda props, extra, patterns, additional: _drop_none(
            type="object",
            properties=props,
            required=[name for name in props][: len(props) // 2] + extra,
            patternProperties=patterns,
            additionalProperties=additional,
        ),
        st.dictionaries(NAMES, children, max_size=4),
        st.lists(NAMES, max_size=1),
        _optional(st.dictionaries(PATTERNS, children, max_size=2)),
        _optional(st.booleans() | children),
    )
    arrays = st.builds(
        lambda items, prefix, low, extra, unique: _drop_none(
            type="array", items=items, prefixItems=prefix, minItems=low, maxItems=None if extra is None else low + extra, uniqueItems=unique
        ),
        _optional(children),
        _optional(st.lists(children, min_size=1, max_size=3)),
        st.integers(0, 4),
        _optional(st.integers(0, 4)),
        _optional(st.booleans()),
    )
    combined = st.builds(lambda key, branches: {key: branches}, st.sampled_from(["anyOf", "oneOf", "allOf"]), st.lists(children, min_size=1, max_size=3))
    return st.one_of(objects, arrays, combined)


def _leaves(node: dict, found: list[dict]) -> list[dict]:
    """The schemas at the leaves of ``node``'s tree (those with no subschema), in order."""
    children = [child for key in ("properties", "patternProperties") for child in node.get(key, {}).values()]
    children += [node[key] for key in ("items", "additionalProperties") if isinstance(node.get(key), dict)]
    children += [child for key in ("prefixItems", "anyOf", "oneOf", "allOf") for child in node.get(key, [])]
    for child in children:
        _leaves(child, found)
    if not children:
        found.append(node)
    return found


@st.composite
def json_schemas(draw) -> dict:
    """A well-formed schema of 1 to 30 leaves in which (usually) one leaf is replaced by a hostile one,
    so that the hostile part is what the mock meets, not a refusal elsewhere; or now and then a
    draft-04 document whose enum is long (draft-04's meta-schema asks for its items to be unique).
    The root may name a draft and holds ``$defs/d`` when something points there."""
    if draw(st.integers(0, 7)) == 0:
        return {"$schema": DRAFTS[0], "enum": _big_enum(draw(st.sampled_from([300, 4000])), draw(st.sampled_from(["objects", "arrays"])))}
    body = st.recursive(benign_leaves, _containers, max_leaves=draw(st.sampled_from([1, 3, 10, 30])))
    schema = copy.deepcopy(draw(body))  # sampled_from hands out shared dicts: never change those
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        slots = _leaves(schema, [])
        slot = slots[draw(st.integers(0, len(slots) - 1))]
        slot.clear()
        slot.update(copy.deepcopy(draw(hostile_leaves)))
    if "#/$defs/d" in json.dumps(schema):
        schema["$defs"] = {"d": copy.deepcopy(draw(body))}
    if draw(st.booleans()):
        schema["$schema"] = draw(st.sampled_from(DRAFTS))
    return schema


# --- regexes -------------------------------------------------------------------------------------

REGEX_ATOMS = st.sampled_from(
    ["a", "b", "x", "é", "\\.", "\\d", "\\w", "\\s", "\\W", ".", "[a-z]", "[^a]", "[0-9A-F]", "\\n",
     "^", "$", "\\A", "\\Z", "\\b", "\\B", "(?i:a)", "\\u00e9", "[\\s\\S]", "(?:)"]
)
QUANTIFIERS = st.sampled_from(
    ["*", "+", "?", "*?", "+?", "{2}", "{0,3}", "{3,}", "{2,5}?", "{1000}", "{0,1001}", "{999999999}", "*+", "++"]
)


def _regex_nodes(children):
    return st.one_of(
        st.builds(lambda a, b: a + b, children, children),
        st.builds(lambda a, b: f"(?:{a}|{b})", children, children),
        st.builds(lambda a: f"({a})", children),
        st.builds(lambda a, q: f"(?:{a}){q}", children, QUANTIFIERS),
        st.builds(lambda a, q: f"({a}){q}\\1", children, QUANTIFIERS),  # a backreference
        st.builds(lambda a, kind: f"(?{kind}{a})", children, st.sampled_from(["=", "!", "<=", "<!", ">"])),  # lookaround, atomic
    )


regexes = st.one_of(
    st.recursive(REGEX_ATOMS, _regex_nodes, max_leaves=20),
    st.sampled_from(CATASTROPHIC_PATTERNS + ["\\B", "a\\bb", "^$", "$^", "\\b", "(?:){999999999}", "(?x) a # comment"]),
    st.text(max_size=30),  # anything at all: often not a regex
)


# --- fixtures ------------------------------------------------------------------------------------

HEADER_NAMES = st.one_of(
    st.sampled_from(["x-ok", "retry-after", "content-length", "Content-Type", "transfer-encoding", "connection",
                     "x-request-id", "x bad", "x:colon", "", "x\r\ny", "é"]),
    st.text(max_size=12),
)
HEADER_VALUES = st.one_of(
    st.sampled_from(["1", "", " padded ", "a\r\nInjected: 1", "a\nb", "a\rb", "\x00", "é", "5", "chunked"]),
    st.text(max_size=20),
)
FIXTURE_NAMES = st.one_of(
    st.none(),
    st.sampled_from(["a/b", "..", ".", "a b", "a%2Fb", "?x", "#frag", "é", "a/../b", "/", "x" * 200]),
    st.text(min_size=1, max_size=20),
)
responds = st.one_of(
    st.builds(
        lambda content, reasoning, finish: _drop_none(content=content, reasoning_content=reasoning, finish_reason=finish),
        st.text(max_size=200) | st.builds(lambda n: "word " * n, st.sampled_from([10, 1000, 20000])),
        _optional(st.text(max_size=50)),
        _optional(st.sampled_from(["stop", "length", "content_filter", "tool_calls"])),
    ),
    st.builds(
        lambda status, headers: {"error": {"status": status, "message": "scripted", "headers": headers}},
        st.integers(400, 599),
        st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
    ),
)
fixtures = st.builds(
    lambda name, user_text, respond: _drop_none(name=name, match={"user_text": user_text} if user_text is not None else {}, respond=respond),
    FIXTURE_NAMES,
    _optional(regexes),
    responds,
)


@st.composite
def fixture_requests(draw) -> tuple[dict, str]:
    """A fixture and the user text of a request sent after it: any text, or (one time in four) one
    made to backtrack in the fixture's user_text, then a catastrophic pattern."""
    fixture = draw(fixtures)
    if draw(st.integers(0, 3)) == 0:
        pattern, texts = draw(CATASTROPHIC_CASES)
        return {**fixture, "match": {"user_text": pattern}}, draw(st.sampled_from(texts))
    return fixture, draw(st.one_of(st.text(max_size=60), TRIGGERS))


def _name_path(name: str) -> str:
    # Every character but letters and digits escaped (dots too: '..' must reach the server as a name).
    return quote(name, safe="").replace(".", "%2E")


# --- the properties ------------------------------------------------------------------------------


@SHRINK_ROOM
def test_generated_json_schemas_get_valid_json_or_a_4xx_never_a_5xx_or_stall(mock: Mock, check) -> None:
    @settings(FUZZ, max_examples=400)
    @given(schema=json_schemas())
    def fuzz(schema: dict) -> None:
        note(f"schema: {json.dumps(schema)[:3000]}")
        body = chat_body(response_format={"type": "json_schema", "json_schema": {"name": "fuzz", "schema": schema}})
        response = mock.request("POST", "/v1/chat/completions", "a json_schema request", content=body)
        answer = assert_answered(response, "a json_schema request")
        if response.status_code == 200 and answer["choices"][0]["finish_reason"] == "stop":
            content = answer["choices"][0]["message"]["content"]
            try:
                instance = json.loads(content)
            except ValueError:
                pytest.fail(f"the answer is not JSON: {content[:300]!r}")
            problem = check(_schema_problem, schema, instance)
            assert problem is None, f"the answer does not validate: {problem}"

    fuzz()
    mock.assert_healthy()


@SHRINK_ROOM
def test_generated_regexes_get_a_fully_matching_answer_or_a_4xx_never_a_5xx_or_stall(mock: Mock, check) -> None:
    @settings(FUZZ, max_examples=1000)
    @given(pattern=regexes)
    def fuzz(pattern: str) -> None:
        note(f"regex: {pattern!r}")
        response = mock.request("POST", "/v1/chat/completions", "a regex request", content=chat_body("Answer.", regex=pattern))
        answer = assert_answered(response, "a regex request")
        if response.status_code == 200:
            content = answer["choices"][0]["message"]["content"]
            assert check(_fullmatches, pattern, content), f"{content!r} does not fully match {pattern!r}"

    fuzz()
    mock.assert_healthy()


@SHRINK_ROOM
def test_generated_fixtures_are_refused_at_load_or_served_and_deletable_by_name(mock: Mock) -> None:
    @settings(FUZZ, max_examples=500)
    @given(case=fixture_requests())
    def fuzz(case: tuple[dict, str]) -> None:
        fixture, text = case
        note(f"fixture: {json.dumps(fixture)[:3000]}; user text: {text!r}")
        try:
            added = mock.request("POST", "/_admin/fixtures", "POST /_admin/fixtures", json=fixture)
            if added.status_code != 201:
                body = assert_answered(added, "POST /_admin/fixtures")
                assert (added.status_code, body["error"]["code"]) == (400, "invalid_fixture"), body
                return
            response = mock.request("POST", "/v1/chat/completions", "a request after the fixture", content=chat_body(text))
            error = fixture["respond"].get("error")
            if error is not None and response.status_code == error["status"]:
                assert response.json()["error"]["message"] == "scripted", response.text[:600]  # the fixture's, not a crash
            else:
                assert_answered(response, "a request after the fixture")
            name = added.json()["name"]
            deleted = mock.request("DELETE", f"/_admin/fixtures/{_name_path(name)}", f"DELETE fixture {name!r}")
            assert deleted.status_code == 200, f"fixture {name!r} not deletable by name: {deleted.status_code} {deleted.text[:300]}"
        finally:
            mock.request("DELETE", "/_admin/fixtures", "DELETE /_admin/fixtures")

    fuzz()
    mock.assert_healthy()
