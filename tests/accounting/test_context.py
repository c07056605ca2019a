"""The 8K context: prompt = text + images + chat-template overhead; usage reports exactly that; a
prompt (plus max_completion_tokens) over the window is a 400 naming both numbers; bombs are refused."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import openai
import pytest
from PIL import Image

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.prompt import account, completion_budget, context_length_exceeded
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.settings import Settings
from tests.answers.helpers import ENTRY
from tests.helpers import MODEL, OVERHEAD, chat, data_url, image_bytes

WINDOW = 8192


# --- the arithmetic, as plain functions ---------------------------------------------------------


def test_without_a_limit_the_completion_gets_what_is_left():
    assert completion_budget(8000, None, WINDOW) == 192
    assert completion_budget(8191, None, WINDOW) == 1


def test_a_prompt_that_fills_the_window_leaves_no_room_and_is_refused():
    with pytest.raises(APIError) as caught:
        completion_budget(8192, None, WINDOW)
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert "maximum context length is 8192 tokens" in caught.value.message
    assert "your messages resulted in 8192 tokens" in caught.value.message


def test_a_limit_must_fit_beside_the_prompt():
    assert completion_budget(8000, 192, WINDOW) == 192
    with pytest.raises(APIError) as caught:
        completion_budget(8000, 193, WINDOW)
    assert "you requested 8193 tokens (8000 in the messages, 193 in the completion)" in caught.value.message


def test_past_the_counted_bound_the_numbers_read_more_than():
    error = context_length_exceeded(WINDOW, 2 * WINDOW, 100, beyond=True)
    assert error.message == (
        "This model's maximum context length is 8192 tokens. However, you requested more than 16484 tokens "
        "(more than 16384 in the messages, 100 in the completion). Please reduce the length of the messages or completion."
    )
    assert (error.code, error.param) == ("context_length_exceeded", "messages")


def test_accounting_a_prompt_far_past_the_window_stops_at_twice_the_window():
    request = ChatCompletionRequest.model_validate({"model": MODEL, "messages": [{"role": "user", "content": "word " * 4_000_000}]})
    with pytest.raises(APIError) as caught:
        account(request, Settings(), ENTRY)
    assert "your messages resulted in more than 16384 tokens." in caught.value.message


# --- through the server -------------------------------------------------------------------------


def test_usage_counts_text_and_template_exactly(client):
    answer = client.post("/v1/chat/completions", json=chat("Hello world")).json()
    assert answer["usage"]["prompt_tokens"] == 2 + OVERHEAD  # "Hello", " world"


def test_usage_counts_images_by_their_size(client):
    parts = [
        {"type": "image_url", "image_url": {"url": data_url(image_bytes("PNG", (640, 480)))}},  # 300 tokens
        {"type": "image_url", "image_url": {"url": data_url(image_bytes("JPEG", (1920, 1080)), "image/jpeg")}},  # 1508
        {"type": "image_url", "image_url": {"url": "https://example.com/photo.webp"}},  # assumed 1024x768: 768
        {"type": "text", "text": "Compare them."},
    ]
    answer = client.post("/v1/chat/completions", json=chat(parts)).json()
    assert answer["usage"]["prompt_tokens"] == 300 + 1508 + 768 + tokens.count("Compare them.") + OVERHEAD


def _prompt_of(prompt_tokens: int) -> str:
    """A user text whose request has exactly ``prompt_tokens`` prompt tokens."""
    text = "word " * (prompt_tokens - OVERHEAD - 1) + "end"
    assert tokens.count(text) + OVERHEAD == prompt_tokens
    return text


def test_without_max_tokens_the_completion_is_capped_at_what_is_left(client):
    answer = client.post("/v1/chat/completions", json=chat(_prompt_of(WINDOW - 3))).json()
    usage = answer["usage"]
    # every default reply is longer than 3 tokens: it is cut to fill the window exactly
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (WINDOW - 3, 3, WINDOW)
    assert answer["choices"][0]["finish_reason"] == "length"


def test_prompt_plus_max_completion_tokens_over_the_window_is_a_400_naming_both(openai_client):
    text = _prompt_of(8000)
    fits = openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], max_completion_tokens=192)
    assert fits.usage.prompt_tokens == 8000 and fits.usage.completion_tokens <= 192
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], max_tokens=193)
    error = caught.value
    assert error.code == "context_length_exceeded" and error.param == "messages"
    assert "8192" in error.message and "8193 tokens (8000 in the messages, 193 in the completion)" in error.message


def test_a_prompt_over_the_window_without_a_limit_is_a_400(client):
    answer = client.post("/v1/chat/completions", json=chat(_prompt_of(WINDOW + 40)))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "context_length_exceeded"
    assert "8192 tokens" in answer.json()["error"]["message"] and "8232 tokens" in answer.json()["error"]["message"]


# --- past twice the window, counting stops: the refusal says "more than" ------------------------


def test_prompts_are_counted_exactly_up_to_twice_the_window(client):
    error = client.post("/v1/chat/completions", json=chat(_prompt_of(2 * WINDOW))).json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "your messages resulted in 16384 tokens." in error["message"]


def test_past_twice_the_window_the_refusal_says_more_than(client):
    error = client.post("/v1/chat/completions", json=chat(_prompt_of(2 * WINDOW + 1))).json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert error["message"] == (
        "This model's maximum context length is 8192 tokens. However, your messages resulted in more than "
        "16384 tokens. Please reduce the length of the messages."
    )


def test_a_20_mb_prompt_is_refused_without_being_counted_to_its_end(client):
    text = "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 340_000  # 19.4 MB
    answer = client.post("/v1/chat/completions", json=chat(text, max_tokens=100), timeout=20)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("context_length_exceeded", "messages", "invalid_request_error")
    assert "you requested more than 16484 tokens (more than 16384 in the messages, 100 in the completion)" in error["message"]


def test_images_past_the_counted_bound_are_not_opened(client):
    """The prompt is read message by message (a message's images, then its text) and reading stops
    past twice the window: a broken image after that point is never looked at, one before it is
    refused as ever."""
    broken = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(b"\x89PNG\r\n\x1a\n not really")}}]}
    too_long = {"role": "user", "content": _prompt_of(3 * WINDOW)}
    after = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [too_long, broken]}).json()["error"]
    before = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [broken, too_long]}).json()["error"]
    assert after["code"] == "context_length_exceeded" and "more than 16384" in after["message"]
    assert before["code"] == "truncated_image" and before["param"] == "messages[0].content[0].image_url.url"


# --- decompression bombs: tiny files declaring enormous images ------------------------------------


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")  # baseline start-of-frame: length, precision, then height and width
    struct.pack_into(">HH", data, frame + 5, height, width)
    return bytes(data)


def _webp_declaring(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    at = data.index(b"VP8L") + 9  # after the chunk header and the 0x2f signature: 14-bit width-1, height-1
    bits = struct.unpack_from("<I", data, at)[0] & ~((1 << 28) - 1)
    struct.pack_into("<I", data, at, bits | (width - 1) | ((height - 1) << 14))
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (_png_declaring(100_000, 100_000), "image/png"),  # 10 gigapixels in 68 bytes
        (_png_declaring(8_000, 8_000), "image/png"),  # 64 megapixels: over the 60 MP ceiling
        (_jpeg_declaring(65_000, 65_000), "image/jpeg"),
        (_webp_declaring(16_384, 16_384), "image/webp"),
    ],
    ids=["png-10GP", "png-64MP", "jpeg-4GP", "webp-268MP"],
)
def test_decompression_bombs_are_refused_with_400(client, data, mime):
    assert len(data) < 1024
    answer = client.post(
        "/v1/chat/completions",
        json=chat([{"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}}]),
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "image_too_large" and error["param"] == "messages[0].content[0].image_url.url"


# --- text-only conversations: read in one plain loop, counted as the general reading counts --------


@pytest.mark.parametrize(
    "messages",
    [
        [("user", "Describe the dog in this kitchen scene in detail.")],
        [("system", "Answer briefly."), ("user", "How many cups are on the table?")],
        [("developer", "<hint>BOX</hint>"), ("system", "Be precise."), ("user", "Find every bird.")],
        [("user", "")],
        [("user", "x " * 1020)],  # fills the 1,024-token window: refused the same way
        [("system", "1" * 4000), ("user", "Hi")],  # past twice the window (counting stops): refused the same way
        [("user", "x " * 3000)],  # longer than one counted piece
    ],
)
def test_a_text_only_conversation_is_accounted_as_the_same_in_text_parts(messages):
    as_text = {"model": MODEL, "messages": [{"role": r, "content": t} for r, t in messages]}
    as_parts = {"model": MODEL, "messages": [{"role": r, "content": [{"type": "text", "text": t}]} for r, t in messages]}
    settings = Settings(context_tokens=1024)
    outcomes = []
    for body in (as_text, as_parts):
        try:
            outcomes.append(account(ChatCompletionRequest.model_validate(body), settings, ENTRY))
        except APIError as error:
            outcomes.append((error.status, error.code, error.message))
    assert outcomes[0] == outcomes[1]
