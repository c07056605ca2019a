"""The recorder's budgets: a session writes at most ``MAX_RECORDINGS`` files and no answer past
``MAX_RECORDED_RESPONSE_BYTES``, whatever the upstream sends (the rest pass through, unrecorded)."""

from __future__ import annotations

import orjson

from perceptron_mock.contract import recording
from perceptron_mock.contract.recording import Exchange, RecordingDirectory, fixture_of

UPSTREAM = "http://upstream.test/v1"


def exchange(text: str, answer: str = "Hi there.") -> Exchange:
    request = {"model": "perceptron-mk1.5", "messages": [{"role": "user", "content": text}]}
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "perceptron-mk1.5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    return Exchange(
        path="/v1/chat/completions",
        request_headers={"content-type": "application/json"},
        request_body=orjson.dumps(request),
        status=200,
        response_headers={"content-type": "application/json"},
        response_body=bytearray(orjson.dumps(body)),
    )


def test_a_session_stops_writing_at_its_cap_but_still_rewrites_what_it_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(recording, "MAX_RECORDINGS", 3)
    directory = RecordingDirectory(tmp_path)
    written = [directory.write(fixture_of(exchange(f"question {i}"), upstream=UPSTREAM)) for i in range(5)]
    assert [path is not None for path in written] == [True, True, True, False, False]
    assert len(list(tmp_path.glob("*.yaml"))) == 3
    again = directory.write(fixture_of(exchange("question 0", answer="Changed."), upstream=UPSTREAM))
    assert again == written[0] and "Changed." in again.read_text()


def test_an_answer_past_the_recording_cap_is_not_recorded():
    huge = "x" * (recording.MAX_RECORDED_RESPONSE_BYTES + 1)
    assert fixture_of(exchange("big", answer=huge), upstream=UPSTREAM) is None
    assert fixture_of(exchange("small"), upstream=UPSTREAM) is not None
