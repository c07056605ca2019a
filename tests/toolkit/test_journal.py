"""The request journal, read through GET /_admin/requests after real clients have talked to the mock."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from dataclasses import fields

import httpx
import openai
import perceptron
import pytest
import orjson
from PIL import Image

from perceptron_mock.main import create_app
from perceptron_mock.settings import Settings
from perceptron_mock.toolkit import journal as journal_view
from perceptron_mock.testing.client import MockClient, RecordedRequest
from perceptron_mock.toolkit.journal import status_matches
from perceptron_mock.toolkit.journal_bounds import stored_body
from tests.helpers import MODEL, chat, data_url


def test_openai_request_is_recorded_as_sent(perceptron_mock):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="sk-secret-key-123456", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "What is in the picture?"}], max_tokens=20
    )
    [entry] = perceptron_mock.requests()
    assert entry.method == "POST" and entry.path == "/v1/chat/completions"
    assert entry.body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is in the picture?"}],
        "max_tokens": 20,
    }
    assert entry.model == MODEL and entry.stream is False
    assert entry.status == 200 and entry.complete is True
    assert entry.request_id == raw.headers["x-request-id"]
    assert entry.headers["x-stainless-lang"] == "python"
    assert entry.duration_ms >= 0 and entry.fault is None


def test_the_python_client_reads_every_field_of_an_entry_as_served(perceptron_mock, admin):
    # RecordedRequest.from_json is lenient (a client may talk to a mock of another version): a field
    # added to the journal would be dropped and a renamed one read as None, silently, but for this.
    openai.OpenAI(base_url=perceptron_mock.base_url, api_key="test-key", max_retries=0).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_headers={"X-Mock-Fault": "latency=0"}
    )
    [served] = admin.get("/requests").json()["data"]
    recorded = MockClient(perceptron_mock.url).last_request
    assert {field.name: getattr(recorded, field.name) for field in fields(RecordedRequest)} == served


def test_the_api_key_never_reaches_the_journal(perceptron_mock, admin):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="sk-secret-key-123456", max_retries=0)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    text = admin.get("/requests").text
    assert "authorization" not in text.lower()
    assert "sk-secret-key-123456" not in text


def test_perceptron_sdk_request_and_stream_are_recorded(perceptron_mock):
    sdk = perceptron.Client(base_url=perceptron_mock.base_url, api_key="test-key")
    completion = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello there"}])
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Stream it"}], stream=True))
    assert chunks
    first, second = perceptron_mock.requests()
    assert first.request_id == completion.request_id
    assert first.body["messages"] == [{"role": "user", "content": "Hello there"}]
    assert second.stream is True and second.status == 200 and second.complete is True


def test_refusals_are_recorded_with_their_status(perceptron_mock):
    http = httpx.Client(base_url=perceptron_mock.url, timeout=10)
    http.post("/v1/chat/completions", json=chat())  # no key: 401
    http.post("/v1/chat/completions", json=chat(top_p=3), headers={"authorization": "Bearer k"})  # 400
    http.get("/v1/nowhere")  # 404
    http.post("/v1/chat/completions", content=b"{not json", headers={"authorization": "Bearer k"})  # 400
    entries = perceptron_mock.requests()
    assert [e.status for e in entries] == [401, 400, 404, 400]
    assert entries[3].body is None and entries[3].body_text == "{not json"
    assert [e.path for e in perceptron_mock.requests(status="4xx", method="get")] == ["/v1/nowhere"]


def test_filters_by_model_status_path_and_limit(perceptron_mock):
    http = httpx.Client(base_url=perceptron_mock.url, headers={"authorization": "Bearer k"}, timeout=10)
    http.post("/v1/chat/completions", json=chat("one", model="isaac-0.1"))
    http.post("/v1/chat/completions", json=chat("two", model="isaac-0.2-1b"))
    http.post("/v1/chat/completions", json=chat("three", model="isaac-0.1"))
    http.get("/v1/models")
    assert [e.body["messages"][0]["content"] for e in perceptron_mock.requests(model="isaac-0.1")] == ["one", "three"]
    assert [e.path for e in perceptron_mock.requests(path="/v1/models")] == ["/v1/models"]
    assert [e.body["messages"][0]["content"] for e in perceptron_mock.requests(status="200", path="/v1/chat/completions", limit=2)] == [
        "two",
        "three",
    ]
    assert perceptron_mock.requests(status="5xx") == []


def test_admin_and_health_requests_are_not_recorded(perceptron_mock, admin):
    httpx.get(perceptron_mock.url + "/health")
    admin.get("/config")
    assert perceptron_mock.requests() == []


def test_delete_clears_the_journal(perceptron_mock, admin):
    httpx.get(perceptron_mock.url + "/v1/models", headers={"authorization": "Bearer k"})
    assert admin.delete("/requests").json() == {"deleted": 1}
    assert perceptron_mock.requests() == []


def test_a_long_header_value_is_journaled_clipped_and_says_how_long_it_was(perceptron_mock):
    httpx.get(perceptron_mock.url + "/v1/models", headers={"authorization": "Bearer k", "x-long": "v" * 5000, "x-short": "s"})
    httpx.get(perceptron_mock.url + "/v1/models", headers={"authorization": "Bearer k", "x-short": "s"})
    long, short = perceptron_mock.requests()
    assert long.headers_shortened is True
    assert long.headers["x-long"] == "v" * 2048 + "...[5000 bytes]" and long.headers["x-short"] == "s"
    assert "authorization" not in long.headers
    assert short.headers_shortened is False and short.headers["x-short"] == "s"


def test_an_entry_keeps_at_most_a_hundred_headers_and_sixteen_kib_of_them(perceptron_mock):
    many = {f"x-h-{i:03d}": "v" for i in range(150)}
    httpx.get(perceptron_mock.url + "/v1/models", headers={"authorization": "Bearer k", **many})
    large = {f"x-l-{i}": "v" * 2000 for i in range(20)}  # 40 KB, under the 64 KiB cap
    httpx.get(perceptron_mock.url + "/v1/models", headers={"authorization": "Bearer k", **large})
    first, second = perceptron_mock.requests()
    assert first.headers_shortened is True and len(first.headers) == 100
    assert "x-h-000" in first.headers and "x-h-149" not in first.headers
    assert second.headers_shortened is True
    assert sum(len(k) + len(v) for k, v in second.headers.items()) <= 16 * 1024 and "x-l-0" in second.headers


def test_a_large_image_body_keeps_its_shape_but_not_its_bytes(perceptron_mock):
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    url = data_url(buffer.getvalue())  # ~160 KB of base64, more than journal_body_bytes
    body = chat()
    body["messages"] = [{"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": url}}]}]
    httpx.post(perceptron_mock.base_url + "/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=30)
    [entry] = perceptron_mock.requests()
    assert entry.status == 200 and entry.body_shortened is True
    parts = entry.body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "what?"}
    recorded = parts[1]["image_url"]["url"]
    assert recorded.startswith(url[:64]) and recorded.endswith(f"[{len(url)} chars]")


def test_a_body_of_megabytes_is_journaled_with_its_image_shortened_and_its_structure_intact(perceptron_mock):
    payload = base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()  # 4 MB: not an image, refused with 400
    url = "data:image/png;base64," + payload
    body = chat()
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "what?"}]
    body["messages"] = [{"role": "user", "content": parts}]
    body["temperature"] = 0.5
    response = httpx.post(perceptron_mock.base_url + "/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=30)
    assert response.status_code == 400
    [entry] = perceptron_mock.requests()
    assert entry.body_shortened is True and entry.status == 400
    recorded = entry.body["messages"][0]["content"][0]["image_url"]["url"]
    assert recorded == url[:64] + f"...[{len(url)} chars]" and recorded.startswith("data:image/png;base64,")
    body["messages"][0]["content"][0]["image_url"]["url"] = recorded
    assert entry.body == body  # everything else as sent


def test_a_large_body_is_shortened_on_its_raw_bytes_as_the_parsed_one_would_be():
    url = "data:image/jpeg;base64," + "QUJD" * 100_000
    raw = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})
    kept, shortened = stored_body(raw, 65536)
    assert shortened
    assert orjson.loads(kept)["messages"][0]["content"][0]["image_url"]["url"] == f"{url[:64]}...[{len(url)} chars]"
    # Data URLs go first; what is left too large has its long strings shortened after parsing, as before.
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    raw = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "word " * 20_000}, image]})
    kept, shortened = stored_body(raw, 65536)
    messages = orjson.loads(kept)["messages"]
    assert shortened and messages[0]["content"] == "word " * 12 + "word...[100000 chars]"
    assert messages[1]["content"][0]["image_url"]["url"] == f"{url[:64]}...[{len(url)} chars]"


@pytest.mark.perceptron_mock(max_body_bytes=4096)
def test_a_chunked_upload_cut_off_at_the_cap_is_journaled_without_its_body(perceptron_mock, client):
    def chunks():
        for _ in range(8):
            yield b"x" * 1024

    assert client.post("/v1/chat/completions", content=chunks()).status_code == 413
    [entry] = perceptron_mock.requests()
    assert entry.status == 413 and entry.body is None and entry.body_text is None


@pytest.mark.parametrize("journal_size", [1000, 0])
def test_no_body_is_left_in_the_scope_once_the_request_is_answered(journal_size):
    # A scope can outlive its request until the cyclic garbage collector runs (the server's receive,
    # kept in it, refers back to it): a 20 MB body left there piled up, one per request.
    app = create_app(Settings(journal_size=journal_size, rate_limit_per_minute=0))
    body = orjson.dumps(chat(data_url(b"x" * 100_000)))  # answered 400: the payload is no image
    chunks = [body[:50_000], body[50_000:]]
    scope = {
        "type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
        "headers": [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")],
    }
    given = set(scope)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400 and not chunks  # the body was read
    assert set(scope) == given  # nothing of the request (its body, its exchange) is left in it
    if journal_size:
        [entry] = asyncio.run(app.toolkit.journal.entries())
        assert entry["body_shortened"] is True and b"...[" in entry["body"]


@pytest.mark.perceptron_mock(journal_size=3)
def test_the_ring_keeps_only_the_newest_entries(perceptron_mock, client):
    for i in range(5):
        client.post("/v1/chat/completions", json=chat(f"message {i}"))
    assert [e.messages[0]["content"] for e in perceptron_mock.requests()] == ["message 2", "message 3", "message 4"]


@pytest.mark.perceptron_mock(journal_size=0)
def test_a_journal_of_size_zero_is_off(admin):
    response = admin.get("/requests")
    assert response.status_code == 409 and response.json()["error"]["code"] == "journal_off"


@pytest.mark.parametrize(
    "status, wanted, matches",
    [(503, "503", True), (503, "5xx", True), (503, "4xx", False), (None, "none", True), (200, "none", False), (None, "2xx", False)],
)
def test_status_filter(status, wanted, matches):
    assert status_matches(status, wanted) is matches


def test_small_bodies_are_kept_whole_and_odd_large_ones_are_truncated():
    assert stored_body(b'{"a": 1}', 1024) == (b'{"a": 1}', False)
    kept, shortened = stored_body(b"x" * 5000, 1024)
    assert shortened and kept == b"x" * 1024


def test_a_body_of_more_json_items_than_the_server_parses_is_kept_as_its_head():
    # The endpoint refused it unparsed (request_too_complex); the journal does not parse it either.
    raw = orjson.dumps(chat([1] * 100_000))
    kept, shortened = stored_body(raw, 1024, max_items=25_000)
    assert shortened and kept == raw[:1024]
    under = orjson.dumps(chat("word " * 1000))
    kept, shortened = stored_body(under, 1024, max_items=25_000)
    assert shortened and orjson.loads(kept)["messages"][0]["content"].endswith("...[5000 chars]")


def _entry(number: int, model: str, status: int) -> dict:
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": f"message {number}"}]})
    return {
        "id": number, "request_id": f"req_{number}", "time": 0.0, "method": "POST", "path": "/v1/chat/completions",
        "query": "", "headers": [], "body": body, "body_shortened": False, "status": status, "complete": True,
        "duration_ms": 1.0, "fault": None,
    }


@pytest.mark.parametrize("filters", [{}, {"model": "b"}, {"status": "4xx"}, {"model": "a", "status": "200"}])
@pytest.mark.parametrize("limit", [0, 1, 2, 5, 100])
def test_a_limit_keeps_the_newest_matches_and_presents_nothing_older(monkeypatch, filters, limit):
    entries = [_entry(n, "a" if n % 3 else "b", 200 if n % 2 else 429) for n in range(1, 31)]
    matching = journal_view.select(entries, **filters)
    presented: list[int] = []
    real = journal_view.present
    monkeypatch.setattr(journal_view, "present", lambda entry: presented.append(entry["id"]) or real(entry))
    kept = journal_view.select(entries, **filters, limit=limit)
    assert kept == (matching[-limit:] if limit else [])
    # Presenting parses a body: once the limit is reached, nothing older is presented (the client's
    # last_request asks for one entry and must not pay for the whole ring).
    if len(kept) == limit:
        assert all(number >= kept[0]["id"] for number in presented) if kept else not presented


@pytest.mark.parametrize("stream", [False, True], ids=["json", "streamed"])
def test_the_entrys_tool_calls_are_the_calls_its_answer_sent(perceptron_mock, openai_client, stream):
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
        for name in ("get_weather", "get_forecast")
    ]
    messages = [{"role": "user", "content": "Weather and forecast for 'Oslo'?"}]
    if stream:
        with openai_client.chat.completions.stream(model="perceptron-mk1.5", messages=messages, tools=tools) as events:
            calls = events.get_final_completion().choices[0].message.tool_calls
    else:
        calls = openai_client.chat.completions.create(model="perceptron-mk1.5", messages=messages, tools=tools).choices[0].message.tool_calls
    entry = perceptron_mock.last_request
    sent = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in calls]
    assert len(sent) == 2
    assert entry.tool_calls == sent  # the short form, {id, name, arguments}
    answered = [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in entry.answer["tool_calls"]]
    assert answered == sent  # the wire form, read back from the bytes sent


def test_a_paced_streams_events_are_journaled_as_the_client_got_them_with_their_times(perceptron_mock):
    # Paced events are written below the ASGI send chain (perceptron_mock.asgi.ChunkWriter): the journal
    # still sees every one of them, in order, each at the time it was written.
    http = httpx.Client(base_url=perceptron_mock.url, headers={"authorization": "Bearer k"}, timeout=10)
    response = http.post(
        "/v1/chat/completions", json=chat("Describe the scene.", stream=True), headers={"X-Mock-Pacing": "ttft=40; gap=10"}
    )
    received = [line[len("data: "):] for line in response.text.split("\n") if line.startswith("data: ")]
    [entry] = perceptron_mock.requests()
    events = entry.answer["events"]
    assert [event["data"] for event in events] == received and len(received) > 4
    times = [event["ms"] for event in events]
    assert times == sorted(times) and times[0] >= 40  # the role chunk waits with the first token
    assert entry.complete is True
