"""Which image a grounded answer refers to when a request has several: the one the question is about
(the last image of the last user message that has one), or the one the prompt names; never an
in-context exemplar. Read back with the perceptron SDK's own asset resolution."""

from __future__ import annotations

import perceptron
from PIL import Image

from tests.helpers import data_url, image_bytes

DEFAULT_MODEL = "perceptron-mk1.5"


def _image_part(color: str) -> dict:
    return {"type": "image_url", "image_url": {"url": data_url(image_bytes(color=color))}}


def _assets_of(completion) -> set[int]:
    boxes = completion.annotations(expects="box", strict=True).boxes
    assert boxes, completion.text
    return {completion.resolve_asset_idx(box) for box in boxes}


def test_in_context_examples_then_the_query_image_ground_on_the_query(perceptron_sdk):
    messages = [
        {"role": "system", "content": "<hint>BOX</hint>Your goal is to segment out the following categories: classA"},
        {"role": "user", "content": [_image_part("red")]},
        {"role": "assistant", "content": '<point_box mention="classA"> (100,120) (300,340) </point_box>'},
        {"role": "user", "content": [_image_part("green")]},
        {"role": "assistant", "content": '<point_box mention="classA"> (500,520) (700,740) </point_box>'},
        {"role": "user", "content": [_image_part("blue")]},
    ]
    completion = perceptron_sdk.chat.completions.create(model=DEFAULT_MODEL, messages=messages)
    assert completion.asset_count == 3
    assert _assets_of(completion) == {2}


def test_the_sdks_detect_with_examples_boxes_the_query_image(perceptron_sdk):
    exemplar = perceptron.annotate_image(
        Image.new("RGB", (64, 48), "red"), [perceptron.bbox(4, 4, 30, 30, mention="classA")]
    )
    result = perceptron.detect(perceptron.image(Image.new("RGB", (64, 48), "blue")), classes=["classA"], examples=[exemplar])
    assert result.asset_count == 2 and result.boxes
    assert {box.asset_idx for box in result.boxes} == {1}


def test_a_text_follow_up_refers_to_the_last_image_sent(perceptron_sdk):
    messages = [
        {"role": "user", "content": [_image_part("red"), _image_part("blue"), {"type": "text", "text": "Two photos."}]},
        {"role": "assistant", "content": "I see two photos."},
        {"role": "system", "content": "<hint>BOX</hint>"},
        {"role": "user", "content": "Find the cup."},
    ]
    completion = perceptron_sdk.chat.completions.create(model=DEFAULT_MODEL, messages=messages)
    assert _assets_of(completion) == {1}


def test_an_image_the_prompt_names_wins(perceptron_sdk):
    messages = [
        {"role": "system", "content": "<hint>BOX</hint>"},
        {"role": "user", "content": [_image_part("red"), _image_part("blue"), {"type": "text", "text": "Find the cup in the first image."}]},
    ]
    completion = perceptron_sdk.chat.completions.create(model=DEFAULT_MODEL, messages=messages)
    assert _assets_of(completion) == {0}
