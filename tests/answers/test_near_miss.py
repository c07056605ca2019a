"""Replaying recordings: the ``messages`` matcher holds a request to its exact conversation (images by
digest, in small and large bodies alike), and ``--unmatched error`` answers a request no fixture
matches with a 404 that names the nearest fixture and the first field that differs."""

from __future__ import annotations

import pytest

from tests.helpers import MODEL, chat, data_url, image_bytes, post

PNG = image_bytes(color="teal")


def _noise_png(side: int = 700) -> bytes:
    """A PNG that does not compress: its data URL makes a body over 1 MB, whose images are lifted out."""
    import io
    import random

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(7).randbytes(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


NOISE = _noise_png()
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is on the shelf?"}]
RECORDING = {
    "name": "shelf",
    "match": {"model": MODEL, "messages": CONVERSATION, "body": {"stream": None, "temperature": None}},
    "respond": {"content": "Three boxes."},
}


def _error(answer) -> dict:
    assert answer.status_code == 404, answer.text
    return answer.json()["error"]


@pytest.mark.perceptron_mock(unmatched="error")
def test_the_exact_conversation_gets_its_recording(perceptron_mock, client):
    perceptron_mock.add_fixture(RECORDING)
    answer = post(client, {"model": MODEL, "messages": CONVERSATION})
    assert answer.json()["choices"][0]["message"]["content"] == "Three boxes."


@pytest.mark.perceptron_mock(unmatched="error")
def test_a_changed_message_gets_404_naming_the_nearest_recording_and_the_first_difference(perceptron_mock, client):
    perceptron_mock.add_fixture(RECORDING)
    perceptron_mock.add_fixture({**RECORDING, "name": "elsewhere", "match": {**RECORDING["match"], "model": "perceptron-mk1"}})
    changed = [CONVERSATION[0], {"role": "user", "content": "What is on the top shelf?"}]
    error = _error(post(client, {"model": MODEL, "messages": changed}))
    assert error["code"] == "no_matching_fixture" and error["type"] == "invalid_request_error"
    assert "The nearest is 'shelf' (api)" in error["message"]
    assert "messages[1].content differs: recorded 'What is on the shelf?', sent 'What is on the top shelf?'" in error["message"]


@pytest.mark.perceptron_mock(unmatched="error")
def test_a_field_the_recording_did_not_have_is_named(perceptron_mock, client):
    perceptron_mock.add_fixture(RECORDING)
    error = _error(post(client, {"model": MODEL, "messages": CONVERSATION, "temperature": 0.5}))
    assert "temperature is 0.5, the fixture wants None" in error["message"]
    error = _error(post(client, {"model": MODEL, "messages": CONVERSATION, "stream": True}))
    assert "stream is True, the fixture wants None" in error["message"]


@pytest.mark.perceptron_mock(unmatched="error")
def test_with_no_fixtures_at_all_every_completion_is_refused(client):
    error = _error(post(client, chat("Hello")))
    assert "no fixtures are loaded" in error["message"]


def test_by_default_an_unmatched_request_is_answered_by_the_rules(perceptron_mock, client):
    perceptron_mock.add_fixture(RECORDING)
    answer = post(client, chat("Something else"))
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] != "Three boxes."


@pytest.mark.parametrize("image", [PNG, NOISE], ids=["small body", "lifted body"])
@pytest.mark.perceptron_mock(unmatched="error")
def test_an_image_in_the_conversation_matches_by_its_digest(perceptron_mock, client, image):
    import hashlib

    digest = hashlib.sha256(image).hexdigest()
    recorded = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;sha256,{digest}"}}, {"type": "text", "text": "What is it?"}]}]
    perceptron_mock.add_fixture(name="pic", match={"messages": recorded}, respond={"content": "A square."})
    sent = chat("What is it?", images=[data_url(image)])
    assert post(client, sent).json()["choices"][0]["message"]["content"] == "A square."
    other = chat("What is it?", images=[data_url(image_bytes(color="red"))])
    assert "messages[0].content[0].image_url.url differs" in _error(post(client, other))["message"]


def _loop(first: str, second: str, answered: str) -> list:
    """A conversation whose assistant called two tools, ids ``first`` and ``second``, and one result, for ``answered``."""
    call = lambda id, name: {"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}}  # noqa: E731
    return [
        {"role": "user", "content": "Weather and calendar?"},
        {"role": "assistant", "content": None, "tool_calls": [call(first, "get_weather"), call(second, "get_calendar")]},
        {"role": "tool", "tool_call_id": answered, "content": "sunny"},
        {"role": "tool", "tool_call_id": second if answered == first else first, "content": "free"},
    ]


@pytest.mark.perceptron_mock(unmatched="error")
def test_a_recorded_tool_loop_matches_whatever_ids_the_calls_got_but_not_results_swapped(perceptron_mock, client):
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "get_calendar")]
    perceptron_mock.add_fixture(name="loop", match={"messages": _loop("call_rec1", "call_rec2", "call_rec1")}, respond={"content": "Done."})
    fresh = post(client, {"model": "perceptron-mk1.5", "messages": _loop("call_new1", "call_new2", "call_new1"), "tools": tools})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["choices"][0]["message"]["content"] == "Done."
    swapped = _error(post(client, {"model": "perceptron-mk1.5", "messages": _loop("call_new1", "call_new2", "call_new2"), "tools": tools}))
    assert "messages[2].tool_call_id differs: recorded 'call_1', sent 'call_2'" in swapped["message"]
