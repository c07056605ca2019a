"""The 20 MB body cap: refused from Content-Length before any byte is read, cut off mid-upload when
chunked, 413 in the error envelope both ways; a body just under the cap with one large image is fine."""

from __future__ import annotations

import base64
import io

import httpx
import openai
import orjson
import pytest
from PIL import Image

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.image_tokens import image_tokens
from tests.helpers import MODEL, OVERHEAD, chat
from tests.server import declared_body

CAP = 20 * 1024 * 1024
KEY = {"authorization": "Bearer body-key"}


def assert_413_envelope(status: int, body: bytes) -> None:
    assert status == 413
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"
    assert str(CAP) in error["message"]


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_sent(perceptron_mock):
    # 500 MB declared, not one byte of it sent: the answer comes anyway.
    with declared_body(perceptron_mock.url, 500 * 1024 * 1024, authorization="Bearer body-key") as sock:
        response = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its answer
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert_413_envelope(status, body)
    assert b"connection: close" in head.lower()


def test_one_byte_over_the_cap_is_refused_and_the_cap_itself_is_not(client):
    over = client.post("/v1/chat/completions", content=b" " * (CAP + 1), headers={"content-type": "application/json"})
    assert_413_envelope(over.status_code, over.content)
    # Exactly at the cap the body is read and judged on its content: here, a prompt far too long.
    padding = CAP - len(orjson.dumps(chat("")))
    at_cap = orjson.dumps(chat("x " * (padding // 2)))
    assert len(at_cap) == CAP
    answer = client.post("/v1/chat/completions", content=at_cap, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "context_length_exceeded"


def test_a_chunked_upload_is_cut_off_once_it_passes_the_cap(perceptron_mock):
    sent = 0

    def hundred_megabytes():
        nonlocal sent
        for _ in range(100):
            sent += 1024 * 1024
            yield b"x" * (1024 * 1024)

    with httpx.Client(base_url=perceptron_mock.url, headers=KEY, timeout=60) as http:
        response = http.post("/v1/chat/completions", content=hundred_megabytes())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_413_envelope(response.status_code, response.content)
    # The server stopped reading right after the cap: the upload did not run to its end (what was
    # sent beyond the cap sat in socket buffers when the connection closed).
    assert sent < 60 * 1024 * 1024


def test_the_openai_sdk_gets_the_413_as_an_api_status_error(perceptron_mock):
    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="body-key", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a" * (CAP + 10)}])
    assert caught.value.status_code == 413 and caught.value.code == "request_too_large"


def _png_of_bytes(target: int) -> tuple[bytes, tuple[int, int]]:
    """A real, uncompressed PNG of about ``target`` bytes (3 bytes a pixel plus a filter byte a row)."""
    width = 4000
    height = target // (3 * width + 1)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG", compress_level=0)
    return buffer.getvalue(), (width, height)


def test_a_body_just_under_the_cap_with_one_large_image_is_accepted(client):
    png, size = _png_of_bytes((CAP - 4096) * 3 // 4)
    body = orjson.dumps(
        chat(
            [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
                {"type": "text", "text": "Describe it."},
            ]
        )
    )
    assert CAP - 64 * 1024 < len(body) <= CAP
    answer = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    # and the image is accounted for by its size (4000x1747, scaled down to the 6,144-patch ceiling)
    assert image_tokens(*size) > 1400
    assert answer.json()["usage"]["prompt_tokens"] == image_tokens(*size) + tokens.count("Describe it.") + OVERHEAD
