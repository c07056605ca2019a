"""RE2 matchers (``perceptron_mock.answers.patterns``) answer as ``re.search`` does, in time linear in the text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.answers.patterns import PatternError, Matcher
from tests.helpers import anchored_patterns

texts = st.text(alphabet="abcXYZ019 -_@.\né中\tß", max_size=12)


def _python_pattern(pattern: str) -> str:
    return pattern.replace(" ", "\\ ") if "(?x)" in pattern else pattern


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(pattern=anchored_patterns.map(_python_pattern), text=texts)
def test_a_matcher_finds_what_re_search_finds(pattern, text):
    assert Matcher(pattern).search(text) == bool(re.search(pattern, text)), (pattern, text)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(pattern=anchored_patterns.map(_python_pattern), text=texts)
def test_an_ascii_matcher_finds_what_re_search_finds_with_the_ascii_flag(pattern, text):
    assert Matcher(pattern, ascii_only=True).search(text) == bool(re.search(pattern, text, re.ASCII)), (pattern, text)


# Python syntax RE2 spells differently or not at all; each means here what it means to re.
PYTHON_SYNTAX = [
    (r"end\Z", ["the end", "end"], ["end\n", "ending"]),
    (r"(?x) a b  c # a comment", ["xabc"], ["a b c"]),
    (r"^a{,3}$", ["", "aaa"], ["aaaa", "a{,3}"]),
    ("\\u00e9t\\u00e9", ["été"], ["ete"]),
    (r"(?#a comment)x", ["x"], ["(?#a comment)"]),
    (r"(?i:ab)C", ["ABC", "abC"], ["abc"]),
    (r"^[\W\d]+$", ["1-2 3", "%"], ["a", "é"]),
    (r"^\w+$", ["été", "中文_1"], ["a-b"]),
    (r"^\d$", ["٣", "7"], ["x"]),
    (r"(?s)a.b", ["a\nb"], ["ab"]),
    (r"a.b", ["a-b"], ["a\nb"]),
    (r"^x{1500}$", ["x" * 1500], ["x" * 1499, "x" * 1501]),
    (r"^(?:ab){0,1200}$", ["ab" * 1200, ""], ["ab" * 1201]),
    (r"(?P<word>hi)", ["oh hi"], ["h i"]),
    (r"abc$", ["abc", "xabc\n"], ["abc\n\n", "abcd"]),
    (r"(?m)^b$", ["a\nb\nc"], ["ab"]),
    (r"\bcat\b", ["a cat."], ["concat"]),
    (r"^\B$", [""] if re.search(r"\B", "") else [], [] if re.search(r"\B", "") else [""]),  # 3.11: never in ""
]


@pytest.mark.parametrize(("pattern", "found", "not_found"), PYTHON_SYNTAX, ids=[case[0] for case in PYTHON_SYNTAX])
def test_python_syntax_means_what_it_means_to_re(pattern, found, not_found):
    matcher = Matcher(pattern)
    for text in found:
        assert re.search(pattern, text) and matcher.search(text), text
    for text in not_found:
        assert not re.search(pattern, text) and not matcher.search(text), text


@pytest.mark.parametrize(
    ("pattern", "code", "words"),
    [
        (r"(a)\1", "unsupported_regex", "backreferences"),
        (r"(?=a)a", "unsupported_regex", "lookaround"),
        (r"(?<!b)a", "unsupported_regex", "lookaround"),
        (r"(?>a+)b", "unsupported_regex", "atomic"),
        (r"a++", "unsupported_regex", "possessive"),
        (r"(a)?(?(1)b|c)", "unsupported_regex", "conditional"),
        (r"(?:a{40}){40}", "unsupported_regex", "1,000"),
        (r"(unclosed", "invalid_regex", "missing )"),
        ("a" * 4097, "regex_too_long", "4096"),
    ],
)
def test_what_re2_cannot_search_is_refused_by_name(pattern, code, words):
    with pytest.raises(PatternError) as caught:
        Matcher(pattern)
    assert caught.value.code == code and words in caught.value.message, caught.value.message


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"^(a+)+$", "a" * 200_000 + "!", False),
        (r"(a|aa)+c", "a" * 200_000, False),
        (r"^(\w+\s?)*$", "word " * 40_000 + "!", False),
        (r"(.*a){20}", "b" * 200_000, False),
        (r"((a*)*)*b", "a" * 200_000, False),
        (r"(x+x+)+y", "x" * 200_000 + "y", True),
    ],
)
def test_catastrophic_patterns_are_searched_in_linear_time(pattern, text, found):
    # re would take longer than anyone waits on each of these (the watchdog is 10 s); RE2 takes milliseconds.
    assert Matcher(pattern).search(text) is found


def test_a_lone_surrogate_in_the_text_is_searched_not_an_error():
    assert Matcher("x.y").search("x\ud800y") and not Matcher("^ab$").search("a\ud800b")
