"""``stream: true`` against the real server: the bytes on the wire, both SDKs' stream parsers, and the
stream as the JSON answer in pieces."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import openai
import perceptron
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from perceptron_mock.accounting import tokens
from tests.helpers import MODEL, chat, post, sse_data, sse_events

AUTH = {"authorization": "Bearer test-key"}
THINK = {"role": "system", "content": "<hint>THINK</hint>"}


# --- the wire -------------------------------------------------------------------------------------


def test_bytes_on_the_wire(client):
    # The openai SDK sends accept: application/json for streams too; the body's `stream` decides.
    response = post(client, chat("Describe this scene.", stream=True), accept="application/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    for header in ("cache-control", "connection", "x-accel-buffering", "content-length", "server"):
        assert header not in response.headers  # sse-starlette's and uvicorn's own would be fingerprints
    assert response.headers["x-request-id"].startswith("req_")
    body = response.content
    assert b"\r" not in body  # LF framing, not sse-starlette's default CRLF
    events = sse_events(body)
    assert all(event.startswith(b"data: ") and b"\n" not in event for event in events)  # one data: line each
    assert events[-1] == b"data: [DONE]" and body.endswith(b"data: [DONE]\n\n")  # and nothing after it
    chunks = sse_data(events)
    assert len({(c["id"], c["created"], c["model"], c["object"]) for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-") and chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert all("usage" not in c for c in chunks)  # not asked for: not sent, not even as null
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert len(pieces) > 5 and pieces == tokens.split("".join(pieces))  # token-sized: not a blob, not characters


def test_the_openai_streaming_demo_prints_the_answer_and_no_none_first(openai_client):
    # The openai SDK's own demo prints delta.content of every chunk that has choices.
    stream = openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True)
    printed = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert printed[0] == "" and all(isinstance(piece, str) for piece in printed[:-1])
    assert "".join(printed[:-1]).strip() and printed[-1] is None  # the finish chunk's delta is {}, as OpenAI's


def test_usage_rides_on_the_finish_chunk_right_before_done(client):
    body = chat("Describe this scene.", stream=True, stream_options={"include_usage": True})
    chunks = sse_data(sse_events(post(client, body).content))
    assert all(c["choices"] for c in chunks)  # no OpenAI-style extra chunk with empty choices
    assert [("usage" in c) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    plain = post(client, {**body, "stream": False, "stream_options": None}).json()
    assert chunks[-1]["usage"] == plain["usage"]


@pytest.mark.parametrize("obfuscation", [True, False])
def test_include_obfuscation_is_accepted_and_no_obfuscation_field_is_sent(client, obfuscation):
    options = {"include_usage": True, "include_obfuscation": obfuscation}
    response = post(client, chat("Hello", stream=True, stream_options=options))
    assert response.status_code == 200
    assert all("obfuscation" not in c for c in sse_data(sse_events(response.content)))


def test_body_ends_right_after_done_and_the_connection_is_reused(perceptron_mock):
    # The async openai client waits at most 0.1 s for the body to end after [DONE], then drops the
    # connection. Read the raw chunked body: the chunk after the one holding [DONE] must be the
    # terminating one, with nothing (not even a keep-alive) in between; then the same connection
    # must serve the next request.
    port = int(perceptron_mock.url.rsplit(":", 1)[1])
    payload = json.dumps(chat("Hi", stream=True)).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for _ in range(2):
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\r\n0\r\n\r\n"):
                received = sock.recv(65536)
                assert received, "connection closed by the server"
                data += received
            assert data.startswith(b"HTTP/1.1 200 ")
            assert data.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": MODEL, "messages": [], "stream": True}, 400),
        (chat("x", stream=True, top_p=3), 400),
        (chat("x", stream=True, stream_options={"include_usage": "yes"}), 400),
        ({**chat("x", stream=True), "model": "isaac-9"}, 404),
    ],
)
def test_a_refused_request_never_starts_a_stream(client, body, status):
    response = post(client, body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_refused_key_never_starts_a_stream(perceptron_mock):
    response = httpx.post(perceptron_mock.base_url + "/chat/completions", json=chat("x", stream=True))
    assert response.status_code == 401 and response.headers["content-type"].startswith("application/json")


# --- the openai SDK -------------------------------------------------------------------------------


def test_openai_stream_without_usage(openai_client, client):
    messages = [{"role": "user", "content": "What stands out in this scene?"}]
    chunks = list(openai_client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    plain = openai_client.chat.completions.create(model=MODEL, messages=messages)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.usage is None for c in chunks)
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id != plain.id


def test_openai_stream_with_usage(openai_client):
    messages = [{"role": "user", "content": "What stands out in this scene?"}]
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    plain = openai_client.chat.completions.create(model=MODEL, messages=messages)
    assert [c.usage is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].usage.model_dump() == plain.usage.model_dump()
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_stream_helper_and_reasoning(openai_client):
    messages = [THINK, {"role": "user", "content": "How many chairs are in the room?"}]
    plain = openai_client.chat.completions.create(model=MODEL, messages=messages)
    reasoning = plain.choices[0].message.model_extra["reasoning_content"]
    assert reasoning  # THINK turns reasoning on
    with openai_client.chat.completions.stream(
        model=MODEL, messages=messages, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == plain.choices[0].message.content
    assert message.model_extra["reasoning_content"] == reasoning  # the helper joins unknown string deltas
    assert final.usage.total_tokens == plain.usage.total_tokens
    assert final.choices[0].finish_reason == "stop"


def test_async_openai_streams_back_to_back(perceptron_mock):
    async def run(base_url: str) -> list[str]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="test-key", max_retries=0)
        texts = []
        async with client:
            for i in range(3):
                stream = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Say {i}"}], stream=True
                )
                texts.append("".join([c.choices[0].delta.content or "" async for c in stream]))
        return texts

    texts = asyncio.run(run(perceptron_mock.base_url))
    assert all(texts) and len(set(texts)) == 3


# --- the perceptron SDK ---------------------------------------------------------------------------


def test_perceptron_message_api_stream(perceptron_sdk):
    messages = [THINK, {"role": "user", "content": "What stands out in this scene?"}]
    stream = perceptron_sdk.chat.completions.create(model=MODEL, messages=messages, stream=True)  # include_usage by default
    chunks = list(stream)
    final = stream.get_final_completion()
    plain = perceptron_sdk.chat.completions.create(model=MODEL, messages=messages)
    assert final.done and final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert final.choices[0].message.reasoning_content == plain.choices[0].message.reasoning_content
    assert final.usage.to_dict() == plain.usage.to_dict()
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])


def test_perceptron_async_message_api_stream(perceptron_mock):
    async def run():
        async with perceptron.AsyncClient(base_url=perceptron_mock.base_url, api_key="test-key") as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hello"}], stream=True
            )
            return await stream.get_final_completion()

    final = asyncio.run(run())
    assert final.done and final.choices[0].message.content and final.usage.total_tokens > 0


def test_perceptron_high_level_stream_events(perceptron_sdk):
    image = perceptron.image(Image.new("RGB", (96, 64), "blue"))
    events = list(perceptron.question(image, "What is shown?", model=MODEL, reasoning=True, stream=True))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "final" and "error" not in kinds
    assert kinds.index("reasoning.delta") < kinds.index("text.delta")  # reasoning streams first
    result = events[-1]["result"]
    assert result["text"] == "".join(e["chunk"] for e in events if e["type"] == "text.delta")
    assert result["reasoning"] == "".join(e["chunk"] for e in events if e["type"] == "reasoning.delta")
    assert result["usage"]["total_tokens"] > 0 and not result["errors"]


# --- the stream is the JSON answer in pieces --------------------------------------------------------


words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=words,
    think=st.booleans(),
    limit=st.none() | st.integers(min_value=0, max_value=40),
    include_usage=st.booleans(),
)
def test_stream_joined_equals_the_json_answer(client, text, think, limit, include_usage):
    body = {"model": MODEL, "messages": [THINK, {"role": "user", "content": text}] if think else [{"role": "user", "content": text}]}
    if limit is not None:
        body["max_completion_tokens"] = limit
    plain = post(client, body).json()
    streamed = sse_data(sse_events(post(client, {**body, "stream": True, "stream_options": {"include_usage": include_usage}}).content))
    message = plain["choices"][0]["message"]
    deltas = [c["choices"][0]["delta"] for c in streamed]
    assert "".join(d.get("content", "") for d in deltas) == message["content"]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == (message["reasoning_content"] or "")
    assert streamed[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    assert streamed[-1].get("usage") == (plain["usage"] if include_usage else None)


# --- pacing and keep-alives -----------------------------------------------------------------------


# A mock whose streams wait 0.6 s for the first token and then send 5 tokens a second, with a
# keep-alive every 0.05 s: every stream carries pings before and between its data events.
SLOW = pytest.mark.perceptron_mock(stream_first_token_ms=600, stream_tokens_per_second=5, stream_keepalive_seconds=0.05)


SHORT = {"max_completion_tokens": 3}  # 3 tokens: a stream of about 1.2 s


@SLOW
def test_keepalives_are_comment_lines_only(perceptron_mock):
    response = httpx.post(
        perceptron_mock.base_url + "/chat/completions", json=chat("Hello", stream=True, **SHORT), headers=AUTH, timeout=30
    )
    events = sse_events(response.content)
    pings = [i for i, event in enumerate(events) if not event.startswith(b"data: ")]
    assert pings and all(events[i] == b": ping" for i in pings)  # never `event: ping` with data
    data_at = [i for i, event in enumerate(events) if event.startswith(b"data: ")]
    assert pings[0] < data_at[0]  # the first token waited, and the connection was kept alive meanwhile
    assert any(data_at[1] < i < data_at[-2] for i in pings)  # tokens were paced, pings in between
    assert events[-1] == b"data: [DONE]"


@pytest.mark.perceptron_mock(stream_first_token_ms=30, stream_tokens_per_second=100, stream_keepalive_seconds=0.001)
def test_a_keepalive_comes_only_after_a_pause_and_never_after_done(perceptron_mock):
    # A keep-alive every millisecond of silence, on the shared 1 ms tick: many between the events of
    # each stream, but none once [DONE] is out (a client or proxy reading the bytes would see one).
    with httpx.Client(base_url=perceptron_mock.base_url, headers=AUTH, timeout=30) as client:
        streams = [sse_events(client.post("/chat/completions", json=chat("Hello", stream=True, **SHORT)).content) for _ in range(50)]
    assert all(events[-1] == b"data: [DONE]" for events in streams)
    assert sum(events.count(b": ping") for events in streams) >= 50  # ~30 a stream on a quiet machine


@SLOW
def test_openai_sdk_ignores_keepalives(perceptron_mock):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="test-key", max_retries=0)
    messages = [{"role": "user", "content": "Hello"}]
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True, **SHORT))
    plain = client.chat.completions.create(model=MODEL, messages=messages, **SHORT)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == plain.choices[0].finish_reason == "length"


@SLOW
def test_perceptron_sdk_ignores_keepalives(perceptron_mock):
    with perceptron.Client(base_url=perceptron_mock.base_url, api_key="test-key") as client:
        messages = [{"role": "user", "content": "Hello"}]
        final = client.chat.completions.create(model=MODEL, messages=messages, stream=True, **SHORT).get_final_completion()
        plain = client.chat.completions.create(model=MODEL, messages=messages, **SHORT)
    assert final.done and final.choices[0].message.content == plain.choices[0].message.content
    assert final.usage.completion_tokens == 3
