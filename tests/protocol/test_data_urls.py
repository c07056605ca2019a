"""Large data-URL payloads are lifted out of a body before pydantic parses it, and only when that can
give exactly the request (and every error) the full parse gives."""

from __future__ import annotations

import base64
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perceptron_mock.accounting.prompt import account
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.data_urls import LIFT_ABOVE, MIN_PAYLOAD, data_url_spans, lift
from perceptron_mock.protocol import validation
from perceptron_mock.protocol.validation import parse_request, parse_request_lifting
from perceptron_mock.settings import Settings
from tests.answers.helpers import ENTRY
from tests.helpers import MODEL, data_url, image_bytes

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
    assert payloads == {"data:image/png;base64,#lifted-0": base64.b64decode(BIG)}
    assert request.messages[0].content[0].image_url.url == "data:image/png;base64,#lifted-0"
    full = parse_request(body)
    assert request.model_copy(update={"messages": full.messages}) == full  # everything else is the same
    assert request.messages[0].content[1:] == full.messages[0].content[1:]


def test_each_payload_is_lifted_decoded_and_replaced_by_its_own_placeholder():
    body = bytearray(orjson.dumps(_body(URL, URL)))
    lifted = lift(body)
    assert len(lifted.body) < 400 and list(lifted.payloads) == [
        "data:image/png;base64,#lifted-0",
        "data:image/png;base64,#lifted-1",
    ]
    assert all(image == base64.b64decode(BIG) for image in lifted.payloads.values())


def test_a_payload_that_does_not_decode_stays_in_the_body():
    bad = "data:image/png;base64," + BIG[:1000] + "\t" + BIG[1000:]  # a raw tab: not even JSON
    body = orjson.dumps(_body(URL, "data:image/png;base64," + BIG[:-4] + "!!!!")).replace(b"\\t", b"\t")
    lifted = lift(body)
    assert list(lifted.payloads) == ["data:image/png;base64,#lifted-0"]
    assert (BIG[:-4] + "!!!!").encode() in lifted.body
    raw = orjson.dumps(_body(bad)).replace(b"\\t", b"\t")
    assert lift(raw) is None


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(_body("data:image/png;base64," + BIG[: MIN_PAYLOAD - 1], text="x" * LIFT_ABOVE)),  # a short payload
        orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": URL}]}),  # not under a "url" key
        orjson.dumps(_body(URL.replace("data:", "DATA:"))),  # not spelled the usual way
        orjson.dumps(_body(URL[:1000] + "\n" + URL[1000:])),  # an escape inside: its raw bytes are not its value
    ],
    ids=["short payload", "other key", "upper case", "escaped"],
)
def test_what_is_not_certainly_a_large_data_url_value_stays_in_the_body(body):
    assert lift(body) is None


def test_a_body_up_to_the_threshold_is_parsed_whole_even_with_a_large_payload(monkeypatch):
    small = orjson.dumps(_body("data:image/png;base64," + BIG[:200_000]))
    assert len(small) <= LIFT_ABOVE
    request, payloads = parse_request_lifting(small)
    assert payloads == {} and request == parse_request(small)
    monkeypatch.setattr(validation, "LIFT_ABOVE", len(small) - 1)  # the same body, just over the threshold
    assert list(parse_request_lifting(small)[1]) == ["data:image/png;base64,#lifted-0"]


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


# --- the shortcut against the full parse, on bodies mutated at random -------------------------------


_SETTINGS = Settings()
_SMALL_URLS = [data_url(image_bytes("PNG", (8, 8))), data_url(image_bytes("JPEG", (9, 7)), "image/jpeg")]
_SEED_BODIES = [
    orjson.dumps(_body(*_SMALL_URLS)),
    orjson.dumps(_body(_SMALL_URLS[0], "https://example.com/a.png", temperature=0.5)),
    orjson.dumps({"model": MODEL, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [_image(_SMALL_URLS[1])]}]}),
]
# Bytes that matter to the finder and to JSON: quotes, escapes, the key, the scheme, separators.
_SNIPPETS = [b'"', b"\\", b'"url"', b'"url": ', b"data:", b'"data:', b",", b":", b"}", b"{", b" ", b"\n", b"#lifted-0", b"A", b"\xff"]


def _outcome(call) -> tuple:
    """What a client would see: the error (status, code, param), or the prompt's token counts and the
    images' sizes and hashes."""
    try:
        request, payloads = call()
        prompt = account(request, _SETTINGS, ENTRY, payloads)
    except APIError as error:
        return ("error", error.status, error.code, error.param)
    return ("ok", prompt.prompt_tokens, prompt.completion_budget, [(i.width, i.height, i.sha256) for i in prompt.images])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEED_BODIES),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.sampled_from(_SNIPPETS)), min_size=1, max_size=4),
)
def test_the_shortcut_and_the_full_parse_answer_alike(monkeypatch_module, seed, edits):
    raw = bytearray(seed)
    for where, cut, snippet in edits:
        at = int(where * len(raw))
        raw[at : at + cut] = snippet
    raw = bytes(raw)
    lifted = _outcome(lambda: parse_request_lifting(raw))
    full = _outcome(lambda: (parse_request(raw), {}))
    assert lifted == full


def test_the_unmutated_seed_bodies_take_the_lifted_path(monkeypatch_module):
    # Keeps the comparison above honest: under the fixture's thresholds the shortcut really lifts.
    for seed in _SEED_BODIES:
        request, payloads = parse_request_lifting(seed)
        assert payloads and set(payloads) <= {p.image_url.url for p in request.messages[-1].content if p.type == "image_url"}


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Small thresholds, so that every image of a short body is lifted and the search stays fast."""
    with pytest.MonkeyPatch.context() as patch:
        import perceptron_mock.protocol.data_urls as payloads

        patch.setattr(validation, "LIFT_ABOVE", 0)
        patch.setattr(payloads, "MIN_PAYLOAD", 16)
        yield
