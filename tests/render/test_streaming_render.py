"""The SSE renderer as plain functions, no server: what the events say, and how a delivery paces and
interrupts them (app/render/sse.py)."""

from __future__ import annotations

import asyncio
import json
import unicodedata

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.accounting import tokens
from perceptron_mock.answers.answer import Completion, Pacing
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.render import sse
from perceptron_mock.render.json import completion_object
from perceptron_mock.render.delivery import Delivery
from perceptron_mock.render.sse import CompletionStream, stream_events
from tests.helpers import MODEL, sse_frames

ID, CREATED = "chatcmpl-" + "a" * 29, 1_790_000_000

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)


def completion(content: str = "The scene shows a tidy desk.", reasoning: str | None = None, finish: str = "stop") -> Completion:
    return Completion(content=content, reasoning=reasoning, finish_reason=finish, prompt_tokens=17, completion_tokens=9)


def events_of(c: Completion, include_usage: bool = True) -> list[bytes]:
    e = stream_events(c, id=ID, created=CREATED, model=MODEL, include_usage=include_usage)
    return [e.head, *e.tokens, *e.tail]


def payloads(events: list[bytes]) -> list[dict]:
    out = []
    for event in events:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2
        if event != sse.DONE:
            out.append(json.loads(event[6:-2]))
    return out


def join(chunks: list[dict], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field, "") for c in chunks if c["choices"])


@settings(max_examples=300, deadline=None)
@given(
    content=texts,
    reasoning=st.none() | texts,
    finish=st.sampled_from(["stop", "length"]),
    include_usage=st.booleans(),
)
def test_deltas_joined_are_the_json_answer(content, reasoning, finish, include_usage):
    c = completion(content, reasoning, finish)
    events = events_of(c, include_usage)
    chunks = payloads(events)
    message = completion_object(c, id=ID, created=CREATED, model=MODEL)["choices"][0]["message"]

    assert events[-1] == sse.DONE
    assert join(chunks, "content") == message["content"]
    assert join(chunks, "reasoning_content") == (message["reasoning_content"] or "")
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + [finish]
    usage = [c.get("usage") for c in chunks]
    expected_usage = {"prompt_tokens": 17, "completion_tokens": 9, "total_tokens": 26}
    assert usage == [None] * (len(chunks) - 1) + [expected_usage if include_usage else None]
    assert all("usage" not in c for c in chunks[:-1])  # no usage key at all before the last chunk
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in chunks} == {(ID, "chat.completion.chunk", CREATED, MODEL)}


@settings(max_examples=200, deadline=None)
@given(content=texts, reasoning=st.none() | texts)
def test_each_delta_is_one_token_and_reasoning_comes_first(content, reasoning):
    chunks = payloads(events_of(completion(content, reasoning)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks[1:-1]]
    assert all(len(d) == 1 for d in deltas)
    kinds = [next(iter(d)) for d in deltas]
    assert kinds == sorted(kinds, key=["reasoning_content", "content"].index)  # all reasoning, then all content
    pieces = [next(iter(d.values())) for d in deltas]
    assert pieces == tokens.split(reasoning or "") + tokens.split(content)
    # One delta per token, as the tokenizer counts them (not merely as the renderer's own splitter
    # cuts). count() reads text as the model reads a prompt, NFC-normalised; an answer streams the
    # tokens of its own text, so the two agree on NFC text.
    if unicodedata.is_normalized("NFC", (reasoning or "") + content):
        assert len(pieces) == tokens.count(reasoning or "") + tokens.count(content)
    assert chunks[-1]["choices"][0]["delta"] == {}


@settings(max_examples=200, deadline=None)
@given(content=texts, reasoning=st.none() | texts)
def test_spliced_token_events_equal_encoding_the_whole_chunk(content, reasoning):
    # The renderer encodes the chunk around a delta once and splices tokens in: that must give the
    # very bytes orjson gives for the whole chunk.
    events = events_of(completion(content, reasoning))
    for event in events[1:-2]:
        whole = json.loads(event[6:-2])
        assert event == b"data: " + orjson.dumps(whole) + b"\n\n"
        assert whole == sse.chunk(id=ID, created=CREATED, model=MODEL, delta=whole["choices"][0]["delta"])


def test_unicode_line_separators_stay_inside_one_data_line():
    # U+2028/U+2029/U+0085 are legal raw in JSON; the perceptron SDK splits lines only at CR/LF, and
    # orjson escapes CR and LF themselves, so every event stays one data: line.
    events = events_of(completion("a\u2028b\u2029c\x85d\r\ne\nf"))
    assert all(e.count(b"\n") == 2 and b"\r" not in e for e in events)
    assert join(payloads(events), "content") == "a\u2028b\u2029c\x85d\r\ne\nf"


def test_error_event_is_the_envelope_as_openai_sends_it():
    event = sse.error_event(APIError(503, "The engine is overloaded.", type="service_unavailable_error", code="overloaded"))
    assert event == (
        b'data: {"error": {"message": "The engine is overloaded.", "type": "service_unavailable_error", '
        b'"param": null, "code": "overloaded"}}\n\n'
    )


# --- delivery, driven through the ASGI interface in-process -------------------------------------


class Wire:
    """A fake ASGI server side: records what the response sends; the client never disconnects."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def receive(self) -> dict:
        await asyncio.Event().wait()  # never returns: no disconnect
        raise AssertionError

    async def send(self, message: dict) -> None:
        self.messages.append(message)

    @property
    def writes(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body" and m["body"]]

    @property
    def body(self) -> bytes:
        return b"".join(self.writes)

    @property
    def ended(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.body" and not last.get("more_body", False)


SCOPE = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
LONG = " ".join(f"word{i}" for i in range(150))  # 150+ tokens


def deliver(c: Completion, delivery: Delivery, events=None) -> Wire:
    wire = Wire()
    events = events or stream_events(c, id=ID, created=CREATED, model=MODEL, include_usage=True)

    async def run():
        await CompletionStream(events, delivery=delivery, keepalive=0)(SCOPE, wire.receive, wire.send)

    asyncio.run(run())
    return wire


def test_headers_are_the_service_s_not_sse_starlette_s():
    wire = deliver(completion(), Delivery())
    start = wire.messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert start["headers"] == [(b"content-type", b"text/event-stream; charset=utf-8")]


def test_unpaced_events_due_together_share_writes_of_at_most_events_per_write():
    c = completion(LONG)
    expected = events_of(c)
    for per_write in (1, 7, 64):
        wire = deliver(c, Delivery(events_per_write=per_write))
        assert wire.ended and wire.body == b"".join(expected)
        assert all(1 <= len(sse_frames(w)) <= per_write for w in wire.writes)
        assert len(wire.writes) == -(-len(expected) // per_write)  # ceil: no write left half-empty early


@pytest.mark.parametrize("n", [0, 1, 5, 60])
def test_stop_after_n_events_ends_the_body_without_the_rest(n):
    c = completion(LONG)
    wire = deliver(c, Delivery(stop_after=n))
    assert sse_frames(wire.body) == events_of(c)[:n]
    assert wire.ended  # the body is ended: the client sees a stream without [DONE]


def test_stop_after_with_drop_connection_never_ends_the_body():
    c = completion(LONG)
    wire = deliver(c, Delivery(stop_after=5, drop_connection=True))
    assert sse_frames(wire.body) == events_of(c)[:5]
    assert not wire.ended  # returning with the body open makes the server drop the connection


def test_stop_after_the_whole_stream_is_a_normal_stream():
    c = completion()
    n = len(events_of(c))
    wire = deliver(c, Delivery(stop_after=n, drop_connection=True))
    assert sse_frames(wire.body) == events_of(c) and wire.ended


@pytest.mark.parametrize("n", [0, 3, 70])
def test_error_after_n_events_sends_the_error_event_and_ends_cleanly(n):
    c = completion(LONG)
    error = APIError(429, "Rate limit reached.", type="requests", code="rate_limit_exceeded")
    wire = deliver(c, Delivery(error_after=n, error=error))
    events = sse_frames(wire.body)
    assert events[:-1] == events_of(c)[:n]
    assert events[-1] == sse.error_event(error)
    assert sse.DONE not in events and wire.ended


def test_error_after_defaults_to_the_service_s_server_error():
    wire = deliver(completion(), Delivery(error_after=2))
    last = json.loads(sse_frames(wire.body)[-1][6:-2])
    assert last == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_a_failure_while_streaming_becomes_an_error_event_and_a_clean_end(caplog):
    c = completion(LONG)
    good = events_of(c)

    def failing_tokens():
        yield from good[1:4]
        raise RuntimeError("renderer bug")

    events = sse.StreamEvents(head=good[0], tokens=failing_tokens(), tail=tuple(good[-2:]))
    wire = deliver(c, Delivery(), events=events)
    sent = sse_frames(wire.body)
    assert sent[:-1] == good[:4]
    assert json.loads(sent[-1][6:-2])["error"]["type"] == "server_error"
    assert wire.ended
    assert "renderer bug" in caplog.text  # logged for the operator, not shown to the client
    assert b"renderer bug" not in wire.body


def test_pacing_schedule_on_a_virtual_clock(monkeypatch):
    # When each event is written, on a clock that only the renderer's own sleeps move: the role
    # chunk with the first token at first_token_ms, then one event per 1/tokens_per_second, and
    # [DONE] with the finish chunk. No real time passes, so nothing here depends on the machine.
    c = completion("one two three four")  # 4 tokens
    now = [0.0]
    written: list[tuple[float, bytes]] = []

    async def virtual_sleep(seconds: float) -> None:
        now[0] += max(seconds, 0.0)

    async def send(message):
        if message["type"] == "http.response.body" and message["body"]:
            written.append((now[0], message["body"]))

    async def receive():
        await asyncio.Event().wait()

    async def run():
        asyncio.get_running_loop().time = lambda: now[0]
        monkeypatch.setattr(sse.asyncio, "sleep", virtual_sleep)
        events = stream_events(c, id=ID, created=CREATED, model=MODEL, include_usage=False)
        delivery = Delivery(pacing=Pacing(first_token_ms=250, tokens_per_second=4))
        await CompletionStream(events, delivery=delivery, keepalive=0)(SCOPE, receive, send)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    times = [(t, len(sse_frames(body))) for t, body in written]
    # role + token 1 at 0.25 s; tokens 2..4 at 0.5, 0.75, 1.0; the finish chunk and [DONE] at 1.25.
    assert times == [(0.25, 2), (0.5, 1), (0.75, 1), (1.0, 1), (1.25, 2)]
    assert b"".join(body for _, body in written) == b"".join(events_of(c, include_usage=False))


@pytest.mark.parametrize("limit", range(1, 8))
def test_a_cut_inside_a_character_streams_what_the_json_answer_says(limit):
    # "𠜎" and "🦜" each span several tokens: a limit can end inside one. The JSON answer drops the half
    # character; the deltas must join to exactly that text, one delta per counted token.
    from perceptron_mock.answers.answer import Answer, fit

    cut = fit(Answer(content="a 𠜎🦜 b", reasoning="x 🦜"), budget=limit, prompt_tokens=3)
    chunks = payloads(events_of(cut))
    assert join(chunks, "content") == cut.content
    assert join(chunks, "reasoning_content") == (cut.reasoning or "")
    assert len(chunks) - 2 == cut.completion_tokens  # role chunk and finish chunk aside
