"""Every grounded answer parses with the perceptron SDK's own strict parser, over many prompts, hints
and images; its geometry is what the grammar promises; counts in the reasoning agree with the tags."""

from __future__ import annotations

import html
import re
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perceptron.pointing.parser import collect_annotations, parse_text

from perceptron_mock.answers.grounding import Annotation, is_simple
from tests.answers.helpers import answer_for
from tests.helpers import chat, data_url, image_bytes

IMAGES = [
    data_url(image_bytes("PNG", (64, 48), "red")),
    data_url(image_bytes("JPEG", (300, 200), "blue"), "image/jpeg"),
    data_url(image_bytes("WEBP", (33, 97), "green"), "image/webp"),
    "https://example.com/warehouse.jpg",
    "http://cdn.example.org/a/b/c.png?x=1",
]
NOUNS = ["worker wearing PPE", "safety violations", "red cups", "people", "forklifts", "boxes", "ladders", "dogs"]
TEMPLATES = [
    "Find every {}.",
    "Detect all {} in the image",
    "Point to the {}",
    "Locate each {} and box it.",
    "Segment out the {}",
    "Where are the {}?",
    "What stands out here? Mark the {}.",
    "Describe the {}.",
    "Extract each {} label with its price.",
    "{}",
]
SPATIAL = ["BOX", "POINT", "POLYGON"]

noun = st.one_of(st.sampled_from(NOUNS), st.text(min_size=0, max_size=40))
prompt_text = st.builds(lambda template, n: template.format(n), st.sampled_from(TEMPLATES), noun)
extra_hints = st.lists(st.sampled_from(["THINK", "FOCUS", "think", "focus", "UNKNOWN"]), max_size=3)
images = st.lists(st.sampled_from(IMAGES), min_size=1, max_size=4)
temperature = st.one_of(st.none(), st.floats(min_value=0, max_value=2, allow_nan=False))


def _meet(p, p2, q, q2) -> set | None:
    """Where closed segments pq meet, exactly: a set of points, or None for a shared stretch. Solved
    parametrically in fractions (the app tests orientations), so the two cannot share a mistake."""
    r, s = (p2[0] - p[0], p2[1] - p[1]), (q2[0] - q[0], q2[1] - q[1])
    d = (q[0] - p[0], q[1] - p[1])
    denom = r[0] * s[1] - r[1] * s[0]
    if denom:
        t, u = Fraction(d[0] * s[1] - d[1] * s[0], denom), Fraction(d[0] * r[1] - d[1] * r[0], denom)
        return {(p[0] + t * r[0], p[1] + t * r[1])} if 0 <= t <= 1 and 0 <= u <= 1 else set()
    if d[0] * r[1] - d[1] * r[0]:
        return set()  # parallel, on different lines
    rr = r[0] * r[0] + r[1] * r[1]
    t0 = Fraction(d[0] * r[0] + d[1] * r[1], rr)
    t1 = t0 + Fraction(s[0] * r[0] + s[1] * r[1], rr)
    lo, hi = max(0, min(t0, t1)), min(1, max(t0, t1))
    if lo > hi:
        return set()
    return {(p[0] + lo * r[0], p[1] + lo * r[1])} if lo == hi else None


def _simple(points: list[tuple[int, int]]) -> bool:
    """Independent oracle: edges next to each other meet only at their shared vertex, others never."""
    n = len(points)
    if n < 3 or len(set(points)) != n:
        return False
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            shared = {edges[i][1]} if j == i + 1 else {edges[i][0]} if (i, j) == (0, n - 1) else set()
            if _meet(*edges[i], *edges[j]) != shared:
                return False
    return True


POLYGONS = [
    ("triangle", [(0, 0), (10, 0), (0, 10)], True),
    ("square", [(0, 0), (10, 0), (10, 10), (0, 10)], True),
    ("square clockwise", [(0, 0), (0, 10), (10, 10), (10, 0)], True),
    ("square with a vertex mid-edge", [(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)], True),
    ("concave star", [(5, 0), (6, 4), (10, 5), (6, 6), (5, 10), (4, 6), (0, 5), (4, 4)], True),
    ("concave arrow", [(0, 0), (10, 5), (0, 10), (3, 5)], True),
    ("two points", [(0, 0), (10, 10)], False),
    ("collinear", [(0, 0), (5, 0), (10, 0)], False),
    ("collinear four", [(0, 0), (5, 5), (10, 10), (2, 2)], False),
    ("bow-tie", [(0, 0), (10, 10), (10, 0), (0, 10)], False),
    ("repeated vertex", [(0, 0), (10, 0), (10, 0), (10, 10), (0, 10)], False),
    ("repeated vertex apart", [(0, 0), (10, 0), (5, 5), (10, 10), (0, 10), (5, 5)], False),
    ("spike back along an edge", [(0, 0), (10, 0), (5, 0), (5, 10)], False),
    ("a vertex touching an edge", [(0, 0), (10, 0), (10, 10), (5, 0), (0, 10)], False),
    ("edges overlapping", [(0, 0), (10, 0), (10, 5), (4, 5), (4, 0), (2, 0), (2, 8), (0, 8)], False),
    ("pentagram", [(5, 0), (8, 10), (0, 4), (10, 4), (2, 10)], False),
]


@pytest.mark.parametrize(("points", "expected"), [row[1:] for row in POLYGONS], ids=[row[0] for row in POLYGONS])
def test_is_simple_on_known_polygons(points, expected):
    assert is_simple(points) is expected
    assert _simple(points) is expected  # the oracle the properties below rely on agrees on the same table


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=3, max_size=7))
def test_is_simple_agrees_with_an_independent_check(points):
    assert is_simple(points) is _simple(points)


def _check_geometry(parsed, n_images: int) -> None:
    for box in parsed.boxes:
        assert 0 <= box.top_left.x < box.bottom_right.x <= 1000
        assert 0 <= box.top_left.y < box.bottom_right.y <= 1000
    for point in parsed.points:
        assert 0 <= point.x <= 1000 and 0 <= point.y <= 1000
    for polygon in parsed.polygons:
        hull = [(p.x, p.y) for p in polygon.hull]
        assert len(hull) >= 3 and _simple(hull)
        assert all(0 <= x <= 1000 and 0 <= y <= 1000 for x, y in hull)
    for item in [*parsed.boxes, *parsed.points, *parsed.polygons]:
        assert item.mention
        if n_images > 1:
            assert item.asset_idx is not None and 0 <= item.asset_idx < n_images
        else:
            assert item.asset_idx is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=prompt_text,
    spatial=st.sampled_from(SPATIAL),
    extra=extra_hints,
    urls=images,
    temp=temperature,
    as_parts=st.booleans(),
)
def test_grounded_answers_parse_with_the_sdks_strict_parser(text, spatial, extra, urls, temp, as_parts):
    tokens = [spatial, *extra] if as_parts else [*extra, spatial.lower()]
    hint = f"<hint>{' '.join(tokens)}</hint>"
    system = [{"type": "text", "text": hint}] if as_parts else hint
    fields = {"temperature": temp} if temp is not None else {}
    answer = answer_for(chat(text, system=system, images=urls, **fields))
    parse_text(answer.content)  # raises ParseError on malformed markup
    parsed = collect_annotations(answer.content, strict=True)
    kind = {"BOX": parsed.boxes, "POINT": parsed.points, "POLYGON": parsed.polygons}[spatial]
    assert kind, answer.content
    _check_geometry(parsed, len(urls))


COUNT_TEMPLATES = ["How many {} are there?", "Count the {} and box each one. Explain your reasoning.", "count {}"]


@settings(max_examples=200, deadline=None)
@given(
    template=st.sampled_from(COUNT_TEMPLATES),
    thing=st.sampled_from(NOUNS),
    spatial=st.sampled_from(["BOX", "POINT"]),
    urls=images,
    focus=st.booleans(),
    effort=st.sampled_from([None, "minimal", "low", "medium", "high"]),
)
def test_counting_reasoning_states_the_number_of_tags(template, thing, spatial, urls, focus, effort):
    hint = f"<hint>{spatial} THINK{' FOCUS' if focus else ''}</hint>"
    fields = {"reasoning_effort": effort} if effort else {}
    answer = answer_for(chat(template.format(thing), system=hint, images=urls, **fields))
    parsed = collect_annotations(answer.content, strict=True)
    tags = parsed.boxes if spatial == "BOX" else parsed.points
    stated = int(re.findall(r"\d+", answer.reasoning)[-1])  # the reasoning ends on its count
    assert stated == len(tags) >= 1
    assert int(re.match(r"There (?:is|are) (\d+) ", answer.content).group(1)) == len(tags)


def test_the_mention_names_what_the_prompt_asks_for():
    answer = answer_for(chat("Find every worker wearing PPE.", system="<hint>BOX</hint>", images=IMAGES[:1]))
    boxes = collect_annotations(answer.content, strict=True).boxes
    assert {box.mention for box in boxes} == {"worker wearing PPE"}


def test_the_sdk_detect_prompt_names_its_categories():
    system = "<hint>BOX</hint>Your goal is to segment out the following categories: cat, traffic light"
    answer = answer_for(chat("", system=system, images=IMAGES[:1]))
    assert {b.mention for b in collect_annotations(answer.content, strict=True).boxes} == {"cat", "traffic light"}


def test_a_named_image_gets_the_annotations():
    body = chat("Point to the dogs in the second image.", system="<hint>POINT</hint>", images=IMAGES[:3])
    points = collect_annotations(answer_for(body).content, strict=True).points
    assert points and {p.asset_idx for p in points} == {1}


def test_mentions_with_markup_characters_round_trip():
    # The prompt reader drops < > " ' from mentions; "&" is the one markup character a prompt carries through.
    answer = answer_for(chat("Find every R&D badge.", system="<hint>BOX</hint>", images=IMAGES[:1]))
    assert "&amp;" in answer.content
    boxes = collect_annotations(answer.content, strict=True).boxes
    assert boxes and {b.mention for b in boxes} == {"R&D badge"}


@pytest.mark.parametrize("kind", ["point", "box", "polygon", "clip"])
def test_every_markup_character_in_a_mention_is_escaped_and_parsed_back(kind):
    mention = """a <b> & "c" 'd' </point_box>"""
    points = {"point": ((5, 5),), "box": ((1, 2), (30, 40)), "polygon": ((0, 0), (10, 0), (5, 9))}.get(kind, ())
    markup = Annotation(kind, mention, points, clip=(1.0, 2.5) if kind == "clip" else None).markup()
    attribute = re.search(r' mention="([^"]*)"', markup).group(1)
    assert not set("<>\"'") & set(attribute) and html.unescape(attribute) == mention
    parsed = collect_annotations(markup, strict=True)
    (item,) = {"point": parsed.points, "box": parsed.boxes, "polygon": parsed.polygons, "clip": parsed.clips}[kind]
    assert item.mention == mention
