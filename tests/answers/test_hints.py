"""Hints are read from system messages in every form the perceptron SDK sends them, and they decide the
answer's shape: grounding tags for BOX/POINT/POLYGON, reasoning_content for THINK."""

from __future__ import annotations

import re

import pytest
from perceptron.pointing.parser import collect_annotations

from perceptron_mock.answers.hints import hint_tokens, strip_hints
from tests.answers.helpers import answer_for
from tests.helpers import chat

IMAGE = "https://example.com/site.jpg"


@pytest.mark.parametrize(
    "system",
    [
        "<hint>BOX</hint>",
        "<hint>box</hint>",
        [{"type": "text", "text": "<hint>BOX</hint>"}],
        [{"type": "text", "text": "You are careful."}, {"type": "text", "text": "<hint>BOX</hint>"}],
        "<hint>BOX THINK</hint><hint>BOX</hint>Your goal is to segment out the objects in the scene",  # SDK merge
        "<hint>BOX,FOCUS</hint>",
    ],
)
def test_box_hint_in_any_system_form_gives_boxes(system):
    answer = answer_for(chat("Find every forklift.", system=system, images=[IMAGE]))
    boxes = collect_annotations(answer.content, strict=True).boxes
    assert boxes and all(box.mention == "forklift" for box in boxes)


def test_a_hint_in_the_user_message_is_not_read():
    # The gateway honours hints in system messages only (the SDK's own comment says so).
    answer = answer_for(chat("<hint>BOX</hint> Find every forklift.", images=[IMAGE]))
    assert "<point_box" not in answer.content


@pytest.mark.parametrize(
    ("hint", "bucket"), [("POINT", "points"), ("POLYGON", "polygons"), ("BOX", "boxes"), ("CLIP", "clips")]
)
def test_each_spatial_hint_gives_its_own_tag(hint, bucket):
    answer = answer_for(chat("Locate the ladders.", system=f"<hint>{hint}</hint>", images=[IMAGE]))
    parsed = collect_annotations(answer.content, strict=True)
    assert getattr(parsed, bucket)
    others = {"points", "boxes", "polygons", "clips"} - {bucket}
    assert not any(getattr(parsed, other) for other in others)


@pytest.mark.parametrize(
    ("system", "effort", "reasons"),
    [
        (None, None, False),
        ("<hint>THINK</hint>", None, True),
        ("<hint>THINK</hint>", "none", True),  # THINK wins over "none", as the SDK documents
        (None, "none", False),
        (None, "minimal", True),
        (None, "high", True),
        ("<hint>BOX</hint>", None, False),
    ],
)
def test_reasoning_follows_think_and_reasoning_effort(system, effort, reasons):
    fields = {"reasoning_effort": effort} if effort else {}
    answer = answer_for(chat("What is on the shelf?", system=system, images=[IMAGE], **fields))
    assert (answer.reasoning is not None) is reasons
    if reasons:
        assert answer.reasoning.strip()


def test_reasoning_effort_sets_how_long_the_reasoning_is():
    lengths = {
        effort: len(answer_for(chat("Describe the room.", images=[IMAGE], reasoning_effort=effort)).reasoning)
        for effort in ("minimal", "high")
    }
    assert lengths["minimal"] < lengths["high"]


def test_vision_config_stands_in_for_hints():
    body = chat(
        "Find every cone.", images=[IMAGE], vision_config={"annotation_format": "point", "enable_thinking": True}
    )
    answer = answer_for(body)
    assert collect_annotations(answer.content, strict=True).points
    assert answer.reasoning


def test_focus_keeps_annotations_inside_the_region_it_reports():
    answer = answer_for(chat("Find every cone.", system="<hint>BOX THINK FOCUS</hint>", images=[IMAGE]))
    x1, y1, x2, y2 = map(int, re.search(r"from \((\d+),(\d+)\) to \((\d+),(\d+)\)", answer.reasoning).groups())
    boxes = collect_annotations(answer.content, strict=True).boxes
    assert boxes
    for box in boxes:
        assert x1 <= box.top_left.x < box.bottom_right.x <= x2
        assert y1 <= box.top_left.y < box.bottom_right.y <= y2


# (text, its hint tokens, the text without its hint tags): an unclosed tag is no hint and stays as text.
UNCLOSED = [
    ("<hint>" * 50_000, set(), "<hint>" * 50_000),
    ("<hint>BOX " * 40_000, set(), ("<hint>BOX " * 40_000).strip()),
    ("<hint>" * 30_000 + "</hint>", set(), "<hint>" * 29_999),
    ("<hint>" * 30_000 + "<hint>BOX</hint>", {"BOX"}, "<hint>" * 30_000),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("text", "tokens", "stripped"), UNCLOSED, ids=["open", "open BOX", "one closed", "BOX closed"])
def test_unclosed_hint_tags_are_read_in_bounded_time(text, tokens, stripped):
    assert hint_tokens(text) == tokens
    assert strip_hints(text) == stripped


def test_a_hint_body_ends_at_the_next_tag():
    assert hint_tokens("<hint>POINT <hint>BOX</hint>") == {"BOX"}
    assert hint_tokens("<HINT>box\nthink</Hint> text") == {"BOX", "THINK"}
    assert strip_hints("Find it <hint>BOX</hint> now") == "Find it   now"
