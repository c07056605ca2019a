"""Large data-URL payloads are lifted out of a body before pydantic parses it, and only when that can
give exactly the request (and every error) the full parse gives."""

from __future__ import annotations

import base64
import random

import orjson
import pytest

from app.protocol.errors import APIError
from app.protocol.payloads import LIFT_ABOVE, MIN_PAYLOAD, data_url_spans, lift
from app.protocol.validation import parse_request, parse_request_lifting
from tests.conftest import MODEL

BIG = base64.b64encode(random.Random(5).randbytes(LIFT_ABOVE)).decode()  # 1.33 MB of base64
URL = "data:image/png;base64," + BIG


def _image(url: str, **fields) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **fields}}


def _body(*urls: str, **fields) -> dict:
    parts = [_image(url) for url in urls]
    return {"model": MODEL, "messages": [{"role": "user", "content": [*parts, {"type": "text", "text": "what?"}]}], **fields}


def test_a_large_image_is_lifted_and_the_rest_parses_to_the_same_request():
    body = orjson.dumps(_body(URL, "https://example.com/a.png"))
    request, payloads = parse_request_lifting(body)
    assert payloads == {"data:image/png;base64,#lifted-0": memoryview(BIG.encode())}
    assert request.messages[0].content[0].image_url.url == "data:image/png;base64,#lifted-0"
    full = parse_request(body)
    assert request.model_copy(update={"messages": full.messages}) == full  # everything else is the same
    assert request.messages[0].content[1:] == full.messages[0].content[1:]


def test_the_payloads_are_views_of_the_body_not_copies():
    body = bytearray(orjson.dumps(_body(URL, URL)))
    lifted = lift(body)
    assert len(lifted.body) < 400 and list(lifted.payloads) == [
        "data:image/png;base64,#lifted-0",
        "data:image/png;base64,#lifted-1",
    ]
    for view in lifted.payloads.values():
        assert view.obj is body and view == BIG.encode()


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(_body("data:image/png;base64," + BIG[: MIN_PAYLOAD - 1], text="x" * LIFT_ABOVE)),  # a short payload
        orjson.dumps(_body(URL))[: LIFT_ABOVE // 2],  # a small body
        orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": URL}]}),  # not under a "url" key
        orjson.dumps(_body(URL.replace("data:", "DATA:"))),  # not spelled the usual way
        orjson.dumps(_body(URL[:1000] + "\n" + URL[1000:])),  # an escape inside: its raw bytes are not its value
    ],
    ids=["short payload", "small body", "other key", "upper case", "escaped"],
)
def test_what_is_not_certainly_a_large_data_url_value_stays_in_the_body(body):
    assert lift(body) is None


def test_a_data_url_quoted_inside_a_text_is_not_mistaken_for_one():
    text = 'JSON like {"url": "' + URL + '"} inside a string'
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}]})
    assert list(data_url_spans(body, MIN_PAYLOAD)) == []
    request, payloads = parse_request_lifting(body)
    assert payloads == {} and request.messages[0].content == text


def test_spaces_around_the_colon_are_allowed():
    body = b'{"model": "%s", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url" :\n "%s"}}]}]}' % (
        MODEL.encode(),
        URL.encode(),
    )
    request, payloads = parse_request_lifting(body)
    assert list(payloads) == [request.messages[0].content[0].image_url.url]


def _duplicate_url_key() -> bytes:
    raw = orjson.dumps(_body("https://example.com/a.png"))
    return raw.replace(b'{"url":', b'{"url":"' + URL.encode() + b'","url":', 1)  # the last one counts


@pytest.mark.parametrize(
    "raw",
    [
        # a "url" key that is not an image part's: inside a tool's schema
        orjson.dumps(
            _body(
                "https://example.com/a.png",
                tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "default": {"url": URL}}}}],
            )
        ),
        # an image part that sends a placeholder's spelling itself
        orjson.dumps(_body(URL, "data:image/png;base64,#lifted-0")),
        _duplicate_url_key(),
    ],
    ids=["tool schema", "placeholder spelled by the user", "duplicate key"],
)
def test_a_placeholder_that_does_not_land_on_exactly_one_image_falls_back_to_the_full_parse(raw):
    assert lift(raw) is not None
    request, payloads = parse_request_lifting(raw)
    assert payloads == {}
    assert request == parse_request(raw)


def _error(call) -> tuple:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.param, caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        orjson.dumps(_body(URL))[:-1],  # cut short
        orjson.dumps(_body(URL, top_p=3)),
        orjson.dumps(_body(URL, max_tokens="5")),
        orjson.dumps(_body(URL, surprise=True)),
        orjson.dumps(_body(URL, stream_options={"include_usage": True})),
        orjson.dumps({"model": MODEL, "messages": [{"role": "system", "content": [_image(URL)]}]}),
        orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": [_image(URL, detail="max")]}]}),
        orjson.dumps(_body(URL)).replace(b'}},{"type":"text"', b'}}{"type":"text"'),  # not JSON after the lifted string
    ],
    ids=["truncated", "range", "type", "unknown field", "between fields", "image in a system message", "detail", "broken JSON"],
)
def test_a_bad_body_gets_the_error_the_full_parse_gives(raw):
    assert lift(raw) is not None
    assert _error(lambda: parse_request_lifting(raw)) == _error(lambda: parse_request(raw))
