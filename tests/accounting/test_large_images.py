"""A large data-URL image (its payload lifted out of the body before parsing, perceptron_mock.protocol.data_urls)
is counted and answered exactly as the full parse would, and a broken one is refused exactly as a
small one is."""

from __future__ import annotations

import base64
import hashlib
import io
import random

import orjson
import pytest
from PIL import Image

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.image_tokens import image_tokens
from perceptron_mock.accounting.prompt import account
from perceptron_mock.protocol.data_urls import lift
from perceptron_mock.protocol.validation import parse_request_lifting
from tests.answers.helpers import ENTRY, SETTINGS, completion_for
from tests.helpers import MODEL, OVERHEAD, data_url

LARGE = (1000, 700)  # random pixels: a PNG of ~2 MB, ~2.8 MB as base64
LARGE_JPEG = (1400, 1000)  # ~1.6 MB, so that two thirds of it still make a body over 1 MB
SMALL = (64, 48)


def _noise(fmt: str, size: tuple[int, int]) -> bytes:
    pixels = random.Random(size[0]).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _body(url: str, text: str = "Describe it.") -> dict:
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": MODEL, "messages": [{"role": "user", "content": parts}]}


@pytest.mark.parametrize("text", ["Describe it.", "Point to the brightest pixel."])
def test_a_large_image_is_counted_by_its_pixels_and_answered_as_the_full_parse_would(client, text):
    body = _body(data_url(_noise("PNG", LARGE)), text)
    raw = orjson.dumps(body)
    assert lift(raw) is not None  # this request takes the lifted path
    answer = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"}).json()
    assert answer["usage"]["prompt_tokens"] == image_tokens(*LARGE) + tokens.count(text) + OVERHEAD
    expected = completion_for(body)  # in-process, through parse_request: the whole body parsed by pydantic
    assert answer["choices"][0]["message"]["content"] == expected.content
    assert (answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]) == (
        expected.prompt_tokens,
        expected.completion_tokens,
    )


def _insert(url: str, text: str) -> str:
    middle = len(url) // 4 * 2
    return url[:middle] + text + url[middle:]


def _breakages():
    def not_base64(data: bytes, mime: str) -> str:
        url = data_url(data, mime)
        return url[: len(url) // 2] + "%" + url[len(url) // 2 + 1 :]

    return {
        "truncated": lambda data, mime: data_url(data[: len(data) * 2 // 3], mime),
        "label lies": lambda data, mime: data_url(data, "image/webp"),
        "unsupported label": lambda data, mime: data_url(data, "image/gif"),
        "not base64": not_base64,
        "padding inside": lambda data, mime: _insert(data_url(data, mime), "=="),
        "corrupt header": lambda data, mime: data_url(data[:8] + b"\x00" * 8 + data[16:], mime),
        "not an image": lambda data, mime: data_url(random.Random(1).randbytes(len(data)), mime),
    }


CASES = [(fmt, breakage) for fmt in ("PNG", "JPEG") for breakage in _breakages()]
CASES.remove(("JPEG", "corrupt header"))  # Pillow skips junk between JPEG markers: not corrupt enough


@pytest.mark.parametrize(("fmt", "breakage"), CASES)
def test_a_broken_large_image_is_refused_as_a_small_one_is(client, fmt, breakage):
    mime = f"image/{fmt.lower()}"
    refusals = []
    for size in (SMALL, LARGE if fmt == "PNG" else LARGE_JPEG):
        url = _breakages()[breakage](_noise(fmt, size), mime)
        raw = orjson.dumps(_body(url))
        # A payload that does not decode is not lifted: the full parse then refuses it, as a small one.
        decodes = breakage not in ("not base64", "padding inside")
        assert (lift(raw) is not None) == (size != SMALL and decodes)
        response = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        refusals.append(response.json()["error"])
    small, large = refusals
    assert large == small
    assert large["param"] == "messages[0].content[1].image_url.url"


def test_a_control_character_in_a_large_payload_gets_the_error_of_the_full_parse(client):
    # A raw tab makes the body invalid JSON; the payload does not decode, so it is not lifted, and the
    # full parse refuses the body as the service would, before any image is read.
    url = data_url(_noise("PNG", LARGE))
    raw = orjson.dumps(_body(url)).replace(url[-40:].encode(), url[-40:-20].encode() + b"\t" + url[-20:].encode())
    assert lift(raw) is None
    response = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_two_large_images_are_each_counted(client):
    png, jpeg = _noise("PNG", LARGE), _noise("JPEG", (900, 1200))
    parts = [
        {"type": "image_url", "image_url": {"url": data_url(png)}},
        {"type": "text", "text": "Compare."},
        {"type": "image_url", "image_url": {"url": data_url(jpeg, "image/jpeg")}},
    ]
    raw = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": parts}]})
    assert len(lift(raw).payloads) == 2
    answer = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"}).json()
    assert answer["usage"]["prompt_tokens"] == image_tokens(*LARGE) + image_tokens(900, 1200) + tokens.count("Compare.") + OVERHEAD


def test_the_image_hash_is_of_the_decoded_bytes_either_way():
    # Fixtures and seeds key on the sha256 of the decoded image: the lifted path must hash the same bytes.
    body = _body(data_url(_noise("PNG", LARGE)))
    expected = base64.b64decode(body["messages"][0]["content"][1]["image_url"]["url"].split(",", 1)[1])
    request, payloads = parse_request_lifting(orjson.dumps(body))
    assert len(payloads) == 1
    [image] = account(request, SETTINGS, ENTRY, payloads).images
    assert payloads == {}  # taken out as it was read: no view of the body outlives accounting
    assert image.sha256 == hashlib.sha256(expected).hexdigest()
    assert (image.width, image.height, image.url) == (*LARGE, "data:image/png")
