"""regex answers fully match generated patterns; hostile patterns end in an answer or a 400, never a hang."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.answers import regex
from perceptron_mock.protocol.errors import APIError
from tests.answers.helpers import answer_for, completion_for
from tests.helpers import anchored_patterns, chat

@settings(max_examples=500, deadline=None)
@given(pattern=anchored_patterns, seed=st.integers(0, 2**32))
def test_answers_fully_match_generated_patterns(pattern, seed):
    if "(?x)" in pattern:
        pattern = pattern.replace(" ", "\\ ")  # verbose mode would drop literal spaces, which is another pattern
    re.compile(pattern)
    text = regex.generate(pattern, random.Random(seed))
    assert re.fullmatch(pattern, text), (pattern, text)


@pytest.mark.parametrize(
    "pattern",
    [r"\bword\b", r"\w+\b \b\w+", r"x\By", r"(?m)^ab$\n^cd$", r"[A-Z][a-z]+, [A-Z]{2} \d{5}", r"(yes|no|maybe)"],
)
def test_anchors_and_boundaries_are_honoured(pattern):
    for seed in range(20):
        assert re.fullmatch(pattern, regex.generate(pattern, random.Random(seed)))


# Catastrophic for a backtracking matcher, but regular: a walk answers them at once, with a full match.
BACKTRACKING_TRAPS = [
    r"(a+)+$",
    r"(a*)*b",
    r"(x+x+)+y",
    r"((((a*)*)*)*)*b",
    r"(\w+\s?)*$",
    r"(a|aa)+c",
    r"(.*a){20}",
    r"\w*\w*\w*\w*\w*\w*\w*abc",
    r"((a{0,1000}){0,1000}){0,1000}",
    "(?:" * 400 + "a" + ")" * 400,
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", BACKTRACKING_TRAPS)
def test_backtracking_traps_are_answered_with_a_full_match(pattern):
    for seed in range(5):
        text = regex.generate(pattern, random.Random(seed))
        assert len(text) <= regex.MAX_OUTPUT_CHARS
        assert re.fullmatch(pattern, text), (pattern, text)


# What a walk cannot or must not answer: each is refused with a 400 naming why, never a hang.
REFUSED = [
    (r"(?:(?:(?:a?){900}){900}){900}", "regex_too_complex"),
    (r"(?:){999999999}", "pathological_regex"),
    (r"a{100000}", "regex_too_long"),
    ("(" * 5000 + ")" * 5000, "regex_too_long"),
    (r"(a)\1", "unsupported_regex"),
    (r"(?=a)a", "unsupported_regex"),
    (r"(?<!b)a", "unsupported_regex"),
    (r"(?>a+)b", "unsupported_regex"),
    (r"a++b", "unsupported_regex"),
    (r"(a)?(?(1)b|c)", "unsupported_regex"),
    (r"a\bb", "unsatisfiable_regex"),
    (r"[^\x00-\U0010FFFF]", "unsupported_regex"),
    (r"x\ud800?", "unsupported_regex"),
    (r"[a\udfff]", "unsupported_regex"),
    (r"[", "invalid_regex"),
    (r"a{2,1}", "invalid_regex"),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("pattern", "code"), REFUSED)
def test_patterns_a_walk_cannot_honour_are_refused(pattern, code):
    with pytest.raises(APIError) as caught:
        regex.generate(pattern, random.Random(7))
    error = caught.value
    assert (error.status, error.param, error.code) == (400, "regex", code), error.message


# Zero-width assertions where a walk can go wrong: what re.fullmatch accepts decides. None: refused as
# unsatisfiable; a string: that answer (the only one).
NON_BOUNDARY_IN_EMPTY = "" if re.fullmatch(r"\B", "") else None  # Python 3.11: \B never matches in ""
ZERO_WIDTH = [
    pytest.param(r"\B", NON_BOUNDARY_IN_EMPTY, id="non-boundary alone (3.11: not in an empty string)"),
    pytest.param(r"\B\B", NON_BOUNDARY_IN_EMPTY, id="two non-boundaries alone"),
    pytest.param(r"(?:\B)?\B", NON_BOUNDARY_IN_EMPTY, id="an optional non-boundary"),
    pytest.param(r"\b", None, id="boundary alone: nothing to border"),
    pytest.param(r"^\b$", None, id="anchored boundary alone"),
    pytest.param(r"a\b\Bb", None, id="boundary then non-boundary at one position"),
    pytest.param(r"a\B\bb", None, id="non-boundary then boundary at one position"),
    pytest.param(r"\Ba", None, id="non-boundary before a word at the start"),
    pytest.param(r"\B-", "-", id="non-boundary before a non-word at the start"),
    pytest.param(r"-\B", "-", id="non-boundary after a non-word at the end"),
    pytest.param(r"x$\b", "x", id="boundary after the end anchor"),
    pytest.param(r"$^", "", id="end then start in an empty string"),
    pytest.param(r"(?a)\bé", None, id="ASCII boundary before a non-ASCII letter"),
    pytest.param(r"\bé", "é", id="Unicode boundary before a non-ASCII letter"),
    pytest.param(r"(?a)é\B", "é", id="ASCII non-boundary after a non-ASCII letter"),
    pytest.param(r"a\Z\b", "a", id="boundary after end of string"),
]


@pytest.mark.parametrize(("pattern", "answer"), ZERO_WIDTH)
def test_zero_width_assertions_are_answered_only_where_re_fullmatch_agrees(pattern, answer):
    if answer is None:
        with pytest.raises(APIError) as caught:
            regex.generate(pattern, random.Random(3))
        assert caught.value.code == "unsatisfiable_regex", caught.value.message
        return
    for seed in range(5):
        text = regex.generate(pattern, random.Random(seed))
        assert text == answer and re.fullmatch(pattern, text)


pieces = st.sampled_from(["a", "é", "-", " ", "\\b", "\\B", "^", "$", "\\A", "\\Z", "\\w", "\\W", "[a-]", "(?:\\b|-)", "x?"])
zero_width_patterns = st.builds(
    lambda flag, parts, quantified: flag + "".join(parts) + quantified,
    st.sampled_from(["", "(?a)", "(?m)"]),
    st.lists(pieces, min_size=1, max_size=6),
    st.sampled_from(["", "(?:\\B\\w)*", "(?:\\b-)?"]),
)


def test_answers_with_zero_width_assertions_fully_match_or_are_refused():
    answered = []

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(pattern=zero_width_patterns, seed=st.integers(0, 2**32))
    def fully_matches_or_refuses(pattern, seed):
        try:
            text = regex.generate(pattern, random.Random(seed))
        except APIError as exc:
            assert exc.code == "unsatisfiable_regex", (pattern, exc.message)
            answered.append(False)
            return
        assert re.fullmatch(pattern, text), (pattern, text)
        answered.append(True)

    fully_matches_or_refuses()
    assert sum(answered) >= len(answered) // 4  # not a walker that refuses everything with an anchor in it


@pytest.mark.timeout(20)
def test_a_shared_step_budget_holds_across_calls():
    # Each call takes ~8,000 steps: alone, every one is answered; sharing one budget (as a JSON schema's
    # strings do), the calls past MAX_STEPS are refused.
    pattern = "[a-z]{4000}"
    rng = random.Random(0)
    calls = regex.MAX_STEPS // 8000 + 2
    for _ in range(calls):
        assert len(regex.generate(pattern, rng)) == 4000
    steps = regex.Steps()
    with pytest.raises(APIError) as caught:
        for _ in range(calls):
            regex.generate(pattern, rng, steps=steps)
    assert caught.value.code == "regex_too_complex"
    assert steps.used > regex.MAX_STEPS


def test_unsupported_constructs_are_named():
    with pytest.raises(APIError) as caught:
        regex.generate(r"(\d+)-\1", random.Random(0))
    assert caught.value.code == "unsupported_regex" and "backreference" in caught.value.message


def test_regex_answer_and_its_cut(client):
    body = chat("Give me a code", regex=r"[A-Z]{3}-\d{4}")
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert re.fullmatch(r"[A-Z]{3}-\d{4}", response.json()["choices"][0]["message"]["content"])
    cut = completion_for({**body, "max_completion_tokens": 1})
    assert cut.finish_reason == "length" and cut.completion_tokens == 1


def test_a_pathological_regex_gets_400_over_http(client):
    response = client.post("/v1/chat/completions", json=chat("x", regex=r"(a)\1"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "regex"


def test_regex_with_think_reasons_and_matches():
    answer = answer_for(chat("Pick one", system="<hint>THINK</hint>", regex=r"(red|green|blue)"))
    assert answer.reasoning and re.fullmatch(r"(red|green|blue)", answer.content)
