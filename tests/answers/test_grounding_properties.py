"""Every grounded answer parses with the perceptron SDK's own strict parser, over many prompts, hints
and images; its geometry is what the grammar promises; counts in the reasoning agree with the tags."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perceptron.pointing.parser import collect_annotations, parse_text

from app.answers.grounding import Annotation, is_simple
from tests.answers.helpers import answer_for, request_body
from tests.conftest import data_url, image_bytes

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


def _check_geometry(parsed, n_images: int) -> None:
    for box in parsed.boxes:
        assert 0 <= box.top_left.x < box.bottom_right.x <= 1000
        assert 0 <= box.top_left.y < box.bottom_right.y <= 1000
    for point in parsed.points:
        assert 0 <= point.x <= 1000 and 0 <= point.y <= 1000
    for polygon in parsed.polygons:
        hull = [(p.x, p.y) for p in polygon.hull]
        assert len(hull) >= 3 and is_simple(hull)
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
    answer = answer_for(request_body(text, system=system, images=urls, **fields))
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
    answer = answer_for(request_body(template.format(thing), system=hint, images=urls, **fields))
    parsed = collect_annotations(answer.content, strict=True)
    tags = parsed.boxes if spatial == "BOX" else parsed.points
    stated = int(re.findall(r"\d+", answer.reasoning)[-1])  # the reasoning ends on its count
    assert stated == len(tags) >= 1
    assert int(re.match(r"There (?:is|are) (\d+) ", answer.content).group(1)) == len(tags)


def test_the_mention_names_what_the_prompt_asks_for():
    answer = answer_for(request_body("Find every worker wearing PPE.", system="<hint>BOX</hint>", images=IMAGES[:1]))
    boxes = collect_annotations(answer.content, strict=True).boxes
    assert {box.mention for box in boxes} == {"worker wearing PPE"}


def test_the_sdk_detect_prompt_names_its_categories():
    system = "<hint>BOX</hint>Your goal is to segment out the following categories: cat, traffic light"
    answer = answer_for(request_body("", system=system, images=IMAGES[:1]))
    assert {b.mention for b in collect_annotations(answer.content, strict=True).boxes} == {"cat", "traffic light"}


def test_a_named_image_gets_the_annotations():
    body = request_body("Point to the dogs in the second image.", system="<hint>POINT</hint>", images=IMAGES[:3])
    points = collect_annotations(answer_for(body).content, strict=True).points
    assert points and {p.asset_idx for p in points} == {1}


def test_mentions_with_markup_characters_round_trip():
    # The prompt reader drops < > " ' from mentions; "&" is the one markup character a prompt carries through.
    answer = answer_for(request_body("Find every R&D badge.", system="<hint>BOX</hint>", images=IMAGES[:1]))
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
