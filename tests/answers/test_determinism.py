"""Same request, same answer, in any process whatever its hash seed; another image, prompt or temperature, another one; a cut answer is the
start of the full one; answers are shaped by the task."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.answers.helpers import answer_for, completion_for
from tests.helpers import chat, data_url, image_bytes

RED = data_url(image_bytes(color="red"))
BLUE = data_url(image_bytes(color="blue"))
HINTS = [None, "<hint>BOX</hint>", "<hint>POINT THINK</hint>", "<hint>POLYGON FOCUS</hint>", "<hint>THINK</hint>"]


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=60),
    hint=st.sampled_from(HINTS),
    temperature=st.one_of(st.none(), st.floats(0, 2)),
    image=st.sampled_from([RED, BLUE, "https://example.com/x.png"]),
)
def test_the_same_request_gets_the_same_answer(text, hint, temperature, image):
    fields = {} if temperature is None else {"temperature": temperature}
    body = chat(text, system=hint, images=[image], **fields)
    assert answer_for(body) == answer_for(body)


def test_temperature_zero_is_the_default():
    body = chat("Describe the image.", images=[RED])
    assert answer_for(body) == answer_for({**body, "temperature": 0})


def test_temperature_varies_the_answer_reproducibly():
    body = chat("Find every cup.", system="<hint>BOX</hint>", images=[RED])
    answers = {answer_for({**body, "temperature": t}).content for t in (0.2, 0.7, 1.0, 1.5)}
    assert len(answers) > 1
    assert answer_for({**body, "temperature": 0.7}) == answer_for({**body, "temperature": 0.7})


def test_image_bytes_and_urls_change_the_answer():
    contents = {
        answer_for(chat("Find every cup.", system="<hint>BOX</hint>", images=[image])).content
        for image in (RED, BLUE, "https://example.com/a.png", "https://example.com/b.png")
    }
    assert len(contents) == 4


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
    "required": ["name", "tags"],
}
# Every task kind the prompt reader tells apart, and the answer formats that bypass it: (prompt, extra fields).
KINDS = {
    "count": ("Count the workers and box each one.", {}),
    "detect": ("Find every forklift.", {}),
    "ocr": ("Extract each produce label along with its listed price.", {}),
    "ocr sign": ("What does the sign say?", {}),
    "caption": ("Provide a concise, human-friendly caption for the upcoming image.", {}),
    "question": ("Is there a ladder?", {}),
    "chat": ("Hello there", {"response_format": {"type": "text"}}),
    "json_schema": ("Describe the item.", {"response_format": {"type": "json_schema", "json_schema": {"name": "item", "schema": SCHEMA}}}),
    "regex": ("Read the code.", {"regex": r"[A-Z]{3}-\d{4}( [a-z]{2,8}){3,6}"}),
}


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(hint=st.sampled_from(HINTS), data=st.data())
def test_max_completion_tokens_cuts_every_kind_of_answer(kind, hint, data):
    text, fields = KINDS[kind]
    body = chat(text, system=hint, images=[RED], **fields)
    full = completion_for(body)
    limit = data.draw(st.integers(0, full.completion_tokens + 2), label="limit")
    cut = completion_for({**body, "max_completion_tokens": limit})
    assert (full.reasoning or "").startswith(cut.reasoning or "")
    assert full.content.startswith(cut.content)
    if full.completion_tokens > limit:
        assert cut.finish_reason == "length"
        assert cut.completion_tokens == limit  # cut at that many tokens, not somewhere below
        if cut.reasoning != full.reasoning:
            assert cut.content == ""  # reasoning comes first, so it is what is kept
    else:
        assert cut == full


# Computes the answers to the bodies on stdin; run under several PYTHONHASHSEEDs, it must print the same.
_ANSWER_SCRIPT = """
import sys, orjson
from tests.answers.helpers import answer_for
answers = [answer_for(body) for body in orjson.loads(sys.stdin.buffer.read())]
sys.stdout.buffer.write(orjson.dumps([[a.content, a.reasoning, a.finish_reason] for a in answers]))
"""
ROOT = Path(__file__).resolve().parents[2]


def _answers_in_a_process(bodies: list[dict], hash_seed: str) -> list:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _ANSWER_SCRIPT], input=orjson.dumps(bodies), env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def _varied_bodies() -> list[dict]:
    """Bodies whose answers go through sets and dicts: several hints, several mentions, several images."""
    bodies = [chat(text, system=hint, images=[RED], **fields) for text, fields in KINDS.values() for hint in HINTS]
    several = "<hint>BOX THINK FOCUS</hint>Your goal is to segment out the following categories: cat, dog, traffic light, red cup"
    bodies += [
        chat("Find the cats, the dogs and the forklifts.", system="<hint>POINT</hint>", images=[RED, BLUE, "https://example.com/x.png"]),
        chat("", system=several, images=[BLUE]),
        chat("Count the ladders and cones", system="<hint>think, polygon,focus box</hint>", images=[RED], temperature=1.3),
        chat("Is there a fire exit?", images=[RED, BLUE], reasoning_effort="high", temperature=0.4),
        chat("Find every cone.", images=[BLUE], vision_config={"annotation_format": "polygon", "enable_thinking": True}),
    ]
    return bodies


@pytest.mark.timeout(300)
def test_answers_do_not_depend_on_the_process_hash_seed():
    bodies = _varied_bodies()
    here = [[a.content, a.reasoning, a.finish_reason] for a in map(answer_for, bodies)]
    assert _answers_in_a_process(bodies, "0") == here
    assert _answers_in_a_process(bodies, "12345") == here


def test_task_shapes():
    ocr = answer_for(chat("Extract each produce label along with its listed price.", images=[RED])).content
    assert len(ocr.splitlines()) >= 3 and all(re.search(r"\$\d+\.\d\d", line) for line in ocr.splitlines())
    caption = answer_for(chat("Provide a concise, human-friendly caption for the upcoming image.", images=[RED]))
    assert caption.content.endswith(".") and "<" not in caption.content
    yes_no = answer_for(chat("Is there a ladder?", images=[RED])).content
    assert yes_no.startswith(("Yes", "No"))
    count = answer_for(chat("How many forklifts are there?", images=[RED])).content
    assert re.fullmatch(r"There (is|are) \d+ forklifts?\.", count)


@settings(max_examples=200, deadline=None)
@given(
    model=st.one_of(
        st.sampled_from(["isaac-0.2-2b-preview", "m\u00f6del", 'a"b', "a\\b", "tab\there"]),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    ),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.one_of(st.none(), st.sampled_from([0, 0.0, 0.5, 2])),
            "stream": st.booleans(),
            "max_tokens": st.integers(0, 100),
            "top_p": st.one_of(st.none(), st.just(0.5)),
            "unknown_field": st.integers(-1000, 1000),
        },
    ),
)
def test_the_seed_reads_the_request_s_fields_exactly_as_pydantic_dumps_them(model, fields):
    from perceptron_mock.answers.seed import _EXCLUDED, _EXCLUDED_T0, _fields_json
    from perceptron_mock.protocol.requests import ChatCompletionRequest

    request = ChatCompletionRequest.model_validate_json(
        orjson.dumps({"model": model, "messages": [{"role": "user", "content": "x"}], **fields})
    )
    excluded = _EXCLUDED if request.temperature else _EXCLUDED_T0
    dumped = request.model_dump_json(exclude=excluded, exclude_none=True, by_alias=True).encode()
    assert _fields_json(request, excluded) == dumped
