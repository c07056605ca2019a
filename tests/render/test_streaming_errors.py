"""A failure after the stream has started: sent as an SSE error event in the OpenAI style, after
which the body ends cleanly; both SDKs raise their own error for it, with what arrived before.

The stream is served by the real renderer behind a real socket; the failure is scripted with
``Delivery(error_after=...)``, the hook fault injection uses (a request that fails validation
never starts a stream at all: see tests/test_streaming.py).
"""

from __future__ import annotations

import httpx
import openai
import perceptron
import pytest

from perceptron_mock.answers.answer import Completion
from perceptron_mock.asgi import read_body
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.sse import CompletionStream, stream_events
from tests.helpers import MODEL, ThreadedServer

ANSWER = Completion(
    content="One two three four five six seven.", reasoning=None, finish_reason="stop", prompt_tokens=5, completion_tokens=8
)
OVERLOADED = APIError(503, "The engine is currently overloaded, please try again later", type="server_error", code="overloaded")


async def failing_app(scope, receive, send):
    """Streams ANSWER and fails after the role chunk and two tokens; ``/overloaded`` with its own error."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    events = stream_events(ANSWER, id="chatcmpl-" + "e" * 29, created=1_790_000_000, model=MODEL, include_usage=True)
    error = OVERLOADED if scope["path"].startswith("/overloaded") else None
    await CompletionStream(events, delivery=Delivery(error_after=3, error=error))(scope, receive, send)


@pytest.fixture(scope="module")
def failing_server():
    server = ThreadedServer(failing_app)
    with server.running():
        yield f"http://127.0.0.1:{server.port}"


MESSAGES = [{"role": "user", "content": "Count to seven."}]


def test_the_error_event_on_the_wire(failing_server):
    with httpx.Client() as client:
        response = client.post(failing_server + "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True})
        assert response.status_code == 200  # the status was sent before anything failed
        events = response.content.split(b"\n\n")
        assert events[-1] == b""  # the body ends right after the error event: the read above completed
        assert len(events) == 5 and b"[DONE]" not in response.content
        assert events[3] == (
            b'data: {"error": {"message": "The server had an error while processing your request. Sorry about that!", '
            b'"type": "server_error", "param": null, "code": null}}'
        )


def test_openai_sdk_raises_api_error_after_the_chunks_before_it(failing_server):
    client = openai.OpenAI(base_url=failing_server + "/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "One two"
    assert caught.value.message == "The server had an error while processing your request. Sorry about that!"
    assert caught.value.body["type"] == "server_error"


def test_perceptron_sdk_maps_the_error_event_by_type(failing_server):
    with perceptron.Client(base_url=failing_server + "/v1", api_key="k") as client:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(perceptron.errors.ServerError) as caught:
            stream.get_final_completion()
    error = caught.value
    assert error.error_type == "server_error"
    assert error.partial.choices[0].message.content == "One two" and not error.partial.done

    with perceptron.Client(base_url=failing_server + "/overloaded/v1", api_key="k") as client:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(perceptron.errors.ServerError) as caught:
            stream.get_final_completion()
    assert caught.value.code == "overloaded" and "overloaded" in str(caught.value)
