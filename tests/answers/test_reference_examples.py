"""The reference's four examples — the studio-scene question, PPE detection, counting safety violations
and produce-label OCR — sent through the openai SDK and the perceptron SDK, answered by the rules and
by the shipped example fixtures."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import perceptron
import pytest
from PIL import Image

from tests.helpers import MODEL, STUDIO_URL, data_url, image_bytes, point_perceptron_at, threaded_mock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = data_url(image_bytes("PNG", (320, 240), "orange"))

EXAMPLES = {
    "studio": ("<hint>THINK</hint>", STUDIO_URL, "What stands out in this scene?"),
    "ppe": ("<hint>BOX</hint>", SITE, "Find every worker wearing PPE."),
    "count": ("<hint>BOX THINK</hint>", SITE, "Count the safety violations and box each one. Explain your reasoning."),
    "ocr": (None, SITE, "Extract each produce label along with its listed price."),
}


def _messages(name: str) -> list[dict]:
    system, url, text = EXAMPLES[name]
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]})
    return messages


@pytest.fixture(scope="module", params=["rules", "fixtures"])
def mock(request):
    settings = {"fixtures_dir": FIXTURES} if request.param == "fixtures" else {}
    with threaded_mock(**settings) as server:
        yield request.param, server


def _ask(server, sdk: str, name: str):
    """One example through one SDK: (content, reasoning_content, the SDK's completion object)."""
    if sdk == "openai":
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            completion = client.chat.completions.create(model=MODEL, messages=_messages(name))
        message = completion.choices[0].message
        return message.content, (message.model_extra or {}).get("reasoning_content"), completion
    with perceptron.Client(base_url=server.base_url, api_key="k") as client:
        completion = client.chat.completions.create(model=MODEL, messages=_messages(name))
    message = completion.choices[0].message
    return message.content, message.reasoning_content, completion


@pytest.mark.parametrize("sdk", ["openai", "perceptron"])
def test_studio_scene_question(mock, sdk):
    mode, server = mock
    content, reasoning, _ = _ask(server, sdk, "studio")
    assert content and reasoning and "<point" not in content
    if mode == "fixtures":
        assert "stool" in content


@pytest.mark.parametrize("sdk", ["openai", "perceptron"])
def test_ppe_detection(mock, sdk):
    mode, server = mock
    content, reasoning, completion = _ask(server, sdk, "ppe")
    if sdk == "openai":
        boxes = perceptron.collect_annotations(content, strict=True).boxes
    else:
        boxes = completion.annotations(expects="box", strict=True).boxes
    assert reasoning is None and boxes
    assert {box.mention for box in boxes} == {"worker wearing PPE"}
    if mode == "fixtures":
        assert len(boxes) == 3


@pytest.mark.parametrize("sdk", ["openai", "perceptron"])
def test_counting_safety_violations(mock, sdk):
    mode, server = mock
    content, reasoning, _ = _ask(server, sdk, "count")
    boxes = perceptron.collect_annotations(content, strict=True).boxes
    assert int(re.findall(r"\d+", reasoning)[-1]) == len(boxes) >= 1
    if mode == "fixtures":  # the shipped fixture answers, not the rules
        assert len(boxes) == 3 and "pallet blocking the walkway" in {box.mention for box in boxes}


@pytest.mark.parametrize("sdk", ["openai", "perceptron"])
def test_produce_label_ocr(mock, sdk):
    mode, server = mock
    lines = _ask(server, sdk, "ocr")[0].splitlines()
    assert len(lines) >= 3 and all(re.search(r"\$\d+\.\d\d", line) for line in lines)
    if mode == "fixtures":
        assert lines[0] == "Organic Bananas - $0.69/lb"


def test_the_perceptron_helpers_inject_hints_the_mock_reads(mock, monkeypatch):
    """``perceptron.detect`` sends <hint>BOX</hint> merged with its own system prompt; ``question`` with
    ``reasoning=True`` and ``expects='point'`` sends <hint>POINT THINK</hint>."""
    _, server = mock
    point_perceptron_at(server, monkeypatch, api_key="k")
    image = perceptron.image(Image.new("RGB", (200, 150), "gray"))
    detected = perceptron.detect(image, classes=["hard hat", "safety vest"], model=MODEL, strict=True)
    assert detected.boxes and {b.mention for b in detected.boxes} <= {"hard hat", "safety vest"}
    asked = perceptron.question(image, "Where are the ladders?", expects="point", reasoning=True, model=MODEL, strict=True)
    assert asked.points and asked.reasoning


def test_streamed_reasoning_arrives_as_reasoning_deltas(mock):
    _, server = mock
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    stream = client.chat.completions.create(model=MODEL, messages=_messages("count"), stream=True)
    reasoning, content = "", ""
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            content += delta.content or ""
    boxes = perceptron.collect_annotations(content, strict=True).boxes
    assert int(re.findall(r"\d+", reasoning)[-1]) == len(boxes)
