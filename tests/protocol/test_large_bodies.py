"""Bodies near the 20 MB cap: each gets its answer, and the server keeps answering others meanwhile.

Parsing costs about a microsecond a JSON item, so a body of more items than ``--max-json-items``
(25,000) is refused before it is parsed; what is parsed, and the prompt's accounting, run off the
event loop. Timings are the benchmark's business (bench/large_bodies.py); here a stall shows only
through the generous watchdogs.
"""

from __future__ import annotations

import io
import threading

import httpx
import orjson
import pytest
from PIL import Image

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.image_tokens import image_tokens
from tests.helpers import MODEL, OVERHEAD, data_url, post

MB = 1024 * 1024
NEAR_CAP = 20 * MB - 100 * 1024
ITEMS = 25_000  # the default --max-json-items
TOO_COMPLEX = (
    "The request body holds more than 25000 JSON items (array elements and object members, counted "
    "together); this server reads at most that many. Send fewer messages or content parts, or smaller schemas."
)


def _request(messages: list, **fields) -> dict:
    return {"model": MODEL, "messages": messages, **fields}


def _near_cap(make) -> bytes:
    """``make(n)`` serialised, for the largest n whose body stays under the 20 MB cap."""
    per_item = len(orjson.dumps(make(1001))) - len(orjson.dumps(make(1000)))
    n = (NEAR_CAP - len(orjson.dumps(make(0)))) // per_item
    body = orjson.dumps(make(n))
    assert NEAR_CAP - 2 * per_item < len(body) <= NEAR_CAP
    return body


def _error(response: httpx.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    return error


TEXT_PART = {"type": "text", "text": "hi"}
URL_PART = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
MANY_ITEMS = {
    "messages": lambda n: _request([{"role": "user", "content": "hi there"}] * n),
    "text-parts": lambda n: _request([{"role": "user", "content": [TEXT_PART] * n}]),
    "image-urls": lambda n: _request([{"role": "user", "content": [URL_PART] * n}]),
    "unknown-keys": lambda n: _request([{"role": "user", "content": "hi"}], vision_config={f"k{i:07d}": 1 for i in range(n)}),
    "ints-as-parts": lambda n: _request([{"role": "user", "content": [1] * n}]),
    "nested-arrays": lambda n: _request([{"role": "user", "content": "hi"}], stop=[[[]]] * n),
}


@pytest.mark.parametrize("make", MANY_ITEMS.values(), ids=MANY_ITEMS.keys())
def test_a_body_of_millions_of_items_is_refused_before_it_is_parsed(client, make):
    error = _error(post(client, _near_cap(make)))
    assert (error["code"], error["param"], error["message"]) == ("request_too_complex", None, TOO_COMPLEX)


def _tool_with(keys: int) -> dict:
    """A request of exactly ``14 + 2 * keys`` JSON items: a tool whose schema has ``keys`` properties.

    model, messages, tools, temperature (4) + the message (1) + its role, content (2) + the tool (1) +
    its type, function (2) + name, parameters (2) + type, properties (2) + each property and its type (2)."""
    properties = {f"p{i}": {"type": "string"} for i in range(keys)}
    parameters = {"type": "object", "properties": properties}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": parameters}}
    # perceptron-mk1.5: the catalog model with tool calling
    return {**_request([{"role": "user", "content": "hi"}], tools=[tool], temperature=0), "model": "perceptron-mk1.5"}


# The tool's definition counts toward the prompt (docs/tools.md, accounting): ~112,000 tokens of it.
@pytest.mark.perceptron_mock(context_tokens=400_000)
def test_the_item_cap_is_exact_a_body_of_25000_items_is_parsed_and_one_more_is_not(client):
    assert 14 + 2 * 12_493 == ITEMS
    assert post(client, orjson.dumps(_tool_with(12_493))).status_code == 200
    error = _error(post(client, orjson.dumps(_tool_with(12_494))))
    assert error["code"] == "request_too_complex"


def test_under_the_cap_every_refusal_is_the_parser_s_own(client):
    keys = _error(post(client, orjson.dumps(MANY_ITEMS["unknown-keys"](ITEMS - 20))))
    assert (keys["code"], keys["param"]) == ("unsupported_parameter", "vision_config.k0000000")  # the perceptron SDK's code for it
    ints = _error(post(client, orjson.dumps(MANY_ITEMS["ints-as-parts"](ITEMS - 20))))
    assert (ints["code"], ints["param"]) == ("invalid_type", "messages[0].content[0]")
    assert ints["message"] == "Invalid type for 'messages[0].content[0]': expected an object, but got an integer."


def test_many_small_images_are_refused_for_context_once_past_twice_the_window(client):
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), "teal").save(buffer, "PNG", compress_level=0)  # 30 KB: not lifted
    part = {"type": "image_url", "image_url": {"url": data_url(buffer.getvalue())}}
    body = _near_cap(lambda n: _request([{"role": "user", "content": [part] * n}]))
    error = _error(post(client, body))
    assert error["code"] == "context_length_exceeded" and "more than 16384 tokens" in error["message"]


def _image_of_about(fmt: str, size: int) -> tuple[bytes, tuple[int, int]]:
    def encode(height: int) -> bytes:
        buffer = io.BytesIO()
        if fmt == "PNG":
            Image.new("RGB", (2000, height), "teal").save(buffer, "PNG", compress_level=0)
        else:
            Image.effect_noise((2000, height), 64).convert("RGB").save(buffer, "JPEG", quality=100)
        return buffer.getvalue()

    height = int(size / (len(encode(64)) / 64) * 0.97)
    return encode(height), (2000, height)


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_a_data_url_image_just_under_the_cap_is_accepted_and_counted(client, fmt, mime):
    data, size = _image_of_about(fmt, NEAR_CAP * 3 // 4 - 64 * 1024)
    parts = [{"type": "image_url", "image_url": {"url": data_url(data, mime)}}, {"type": "text", "text": "Describe it."}]
    body = orjson.dumps(_request([{"role": "user", "content": parts}]))
    assert 18 * MB < len(body) <= NEAR_CAP
    response = post(client, body)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["usage"]["prompt_tokens"] == image_tokens(*size) + tokens.count("Describe it.") + OVERHEAD


LARGE_BODIES = {
    "text-prompt": lambda: orjson.dumps(_request([{"role": "user", "content": "lorem ipsum, dolor sit amet. " * 700_000}])),
    "unknown-keys": lambda: _near_cap(MANY_ITEMS["unknown-keys"]),
    "ints-as-parts": lambda: _near_cap(MANY_ITEMS["ints-as-parts"]),
}


@pytest.mark.parametrize("make", LARGE_BODIES.values(), ids=LARGE_BODIES.keys())
def test_health_and_a_small_completion_are_answered_while_a_large_body_is_worked_on(perceptron_mock, make):
    """Before, these bodies held the event loop for 0.7 s, 6.6 s and over two minutes: every other
    client waited. A probe that waits more than its watchdog (5 s) fails the test."""
    body = make()
    headers = {"authorization": "Bearer test-key"}
    answered: list[httpx.Response] = []

    def send_large() -> None:
        with httpx.Client(base_url=perceptron_mock.url, headers=headers, timeout=60) as large:
            answered.append(post(large, body))

    sender = threading.Thread(target=send_large)
    probes = []
    with httpx.Client(base_url=perceptron_mock.url, headers=headers, timeout=5) as other:
        sender.start()
        while sender.is_alive() or not probes:
            probes.append(other.get("/health").status_code)
            small = other.post("/v1/chat/completions", json=_request([{"role": "user", "content": "Hello"}]))
            probes.append(small.status_code)
        sender.join()
    assert set(probes) == {200}
    assert answered[0].status_code == 400 and answered[0].json()["error"]["code"] in (
        "context_length_exceeded",
        "request_too_complex",
    )
