"""Every high-level helper the perceptron SDK exports, as a new user calls it: only PERCEPTRON_BASE_URL
and PERCEPTRON_API_KEY set, no model named (the SDK then sends its default, perceptron-mk1.5)."""

from __future__ import annotations

import io
import json

import perceptron
import pytest
from PIL import Image

from tests.helpers import point_perceptron_at

DEFAULT_MODEL = "perceptron-mk1.5"


@pytest.fixture
def new_user(perceptron_mock, monkeypatch: pytest.MonkeyPatch):
    point_perceptron_at(perceptron_mock, monkeypatch, perceptron_mock.api_key)
    monkeypatch.delenv("PERCEPTRON_MODEL", raising=False)
    return perceptron_mock


def _image(color: str = "teal") -> perceptron.dsl.nodes.Image:
    return perceptron.image(Image.new("RGB", (160, 120), color))


def _on_the_grid(box) -> bool:
    return 0 <= box.top_left.x < box.bottom_right.x <= 1000 and 0 <= box.top_left.y < box.bottom_right.y <= 1000


def test_caption_boxes_what_it_describes(new_user):
    result = perceptron.caption(_image())
    assert result.model == DEFAULT_MODEL and not result.errors
    assert result.text and result.boxes and all(_on_the_grid(box) for box in result.boxes)
    assert new_user.last_request.model == DEFAULT_MODEL


def test_question_answers_in_text(new_user):
    result = perceptron.question(_image(), "What stands out?")
    assert result.model == DEFAULT_MODEL and result.text and not result.errors


@pytest.mark.parametrize(("expects", "bucket"), [("point", "points"), ("box", "boxes"), ("polygon", "polygons")])
def test_question_grounds_in_the_kind_it_expects(new_user, expects, bucket):
    result = perceptron.question(_image(), "Where is the lamp?", expects=expects)
    assert getattr(result, bucket) and not result.errors


def test_question_with_reasoning_fills_the_reasoning(new_user):
    result = perceptron.question(_image(), "How many chairs are there?", expects="box", reasoning=True)
    assert result.reasoning and result.boxes


def test_detect_boxes_the_scene(new_user):
    result = perceptron.detect(_image())
    assert result.model == DEFAULT_MODEL and result.boxes and not result.errors


def test_detect_names_its_boxes_after_the_classes_asked_for(new_user):
    result = perceptron.detect(_image(), classes=["helmet", "vest"])
    assert result.boxes and {box.mention for box in result.boxes} <= {"helmet", "vest"}


@pytest.mark.parametrize(
    ("helper", "looks_like"),
    [
        (perceptron.ocr, lambda text: len(text.splitlines()) >= 3),
        (perceptron.ocr_markdown, lambda text: text.startswith("# ")),
        (perceptron.ocr_html, lambda text: text.startswith("<h1>")),
    ],
)
def test_ocr_helpers_transcribe_lines_in_their_format(new_user, helper, looks_like):
    result = helper(_image("white"))
    assert result.model == DEFAULT_MODEL and looks_like(result.text), result.text


def test_detect_from_coco_runs_over_a_dataset(new_user, tmp_path):
    images = []
    for number, color in enumerate(("red", "blue"), start=1):
        buffer = io.BytesIO()
        Image.new("RGB", (96, 64), color).save(buffer, "PNG")
        (tmp_path / f"{color}.png").write_bytes(buffer.getvalue())
        images.append({"id": number, "file_name": f"{color}.png", "width": 96, "height": 64})
    categories = [{"id": 1, "name": "cup"}, {"id": 2, "name": "plate"}]
    (tmp_path / "annotations.json").write_text(json.dumps({"images": images, "annotations": [], "categories": categories}))

    results = perceptron.detect_from_coco(tmp_path)

    assert [r.image_path.name for r in results] == ["red.png", "blue.png"]
    for coco in results:
        assert coco.result.boxes and {box.mention for box in coco.result.boxes} <= {"cup", "plate"}
