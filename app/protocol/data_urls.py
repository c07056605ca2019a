"""Large data-URL payloads, lifted out of a request body before the JSON parser reads it.

pydantic holds about three times what it parses, and nearly all of such a body is one base64 string
only the image decoder needs; a lift that could change the outcome is never made (docs: "Limits").
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Union

if TYPE_CHECKING:
    from perceptron_mock.protocol.requests import ChatCompletionRequest

Body = Union[bytes, bytearray]

LIFT_ABOVE = 1024 * 1024  # smaller bodies are parsed whole: pydantic's copies of them do not matter
MIN_PAYLOAD = 64 * 1024  # smaller payloads stay in the body
_MAX_CANDIDATES = 256  # "data: openings examined per body: a text full of them costs no more than this
_KEY_WINDOW = 64  # bytes before the opening quote searched for the "url" key: `"url"`, a colon, spaces
_SPACE = b" \t\r\n"
_PLACEHOLDER = "#lifted-{}"  # '#' is not base64: a placeholder can never decode as an image


def data_url_spans(body: Body, min_length: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the contents (between the quotes) of each JSON string in ``body`` that is the
    value of a ``"url"`` key, starts with ``data:``, is at least ``min_length`` bytes long and holds no
    backslash, so that the next quote is really its end and its bytes are its value.

    A ``"data:`` that is not a string opening is an escaped quote inside another string (anything else
    is not JSON, and the parser will say so): it has a backslash before it, so it never passes the
    ``"url"`` check, and the quote searched for after it is that string's own."""
    at = 0
    for _ in range(_MAX_CANDIDATES):
        quote = body.find(b'"data:', at)
        if quote < 0:
            return
        start = quote + 1
        end = body.find(b'"', start)
        if end < 0:
            return
        at = end + 1
        if end - start >= min_length and _follows_url_key(body, quote) and body.find(b"\\", start, end) < 0:
            yield start, end


def _follows_url_key(body: Body, quote: int) -> bool:
    before = bytes(body[max(0, quote - _KEY_WINDOW) : quote]).rstrip(_SPACE)
    return before.endswith(b":") and before[:-1].rstrip(_SPACE).endswith(b'"url"')


@dataclass(frozen=True)
class Lifted:
    body: bytes  # the request with each large payload replaced by a placeholder
    payloads: dict[str, bytes]  # placeholder URL ("data:<mime>;base64,#lifted-N") → the decoded image

    def placed_in(self, request: ChatCompletionRequest) -> bool:
        """Whether each placeholder is the URL of exactly one image part of ``request`` (and nothing
        else is: a ``"url"`` key elsewhere, a duplicate key, a user URL that spells a placeholder)."""
        return self.placed_among([message.content for message in request.messages])

    def placed_among(self, contents: list[Any]) -> bool:
        """``placed_in`` for any request: ``contents`` are its messages' (and prompts') contents."""
        found = [
            part.image_url.url
            for content in contents
            if isinstance(content, list)
            for part in content
            if part.type == "image_url" and part.image_url.url in self.payloads
        ]
        return len(found) == len(self.payloads) and set(found) == self.payloads.keys()


def lift(body: Body) -> Lifted | None:
    """``body`` with its large data-URL payloads lifted out, or None when it has none. Whether a body
    is large enough to be worth it (``LIFT_ABOVE``) is the caller's decision
    (``perceptron_mock.protocol.validation.parse_request_lifting``)."""
    view = memoryview(body)
    edits: list[tuple[int, int, bytes]] = []
    payloads: dict[str, bytes] = {}
    for start, end in data_url_spans(body, MIN_PAYLOAD):
        comma = body.find(b",", start, end)
        if comma < 0 or end - comma - 1 < MIN_PAYLOAD:
            continue
        try:
            header = bytes(view[start : comma + 1]).decode()  # "data:<mime>;base64,"
        except UnicodeDecodeError:
            continue  # not JSON: the full parse names the error
        try:
            image = binascii.a2b_base64(view[comma + 1 : end], strict_mode=True)
        except binascii.Error:
            continue  # maybe not even JSON (a raw control character): the full parse names the error
        placeholder = _PLACEHOLDER.format(len(payloads))
        edits.append((comma + 1, end, placeholder.encode()))
        payloads[header + placeholder] = image
    if not payloads:
        return None
    return Lifted(replace_spans(body, edits), payloads)


def replace_spans(body: Body, edits: Iterable[tuple[int, int, bytes]]) -> bytes:
    """``body`` with each ``(start, end, replacement)`` of ``edits`` (in order, not overlapping) put in
    place of ``body[start:end]``; the bytes in between are copied once, straight into the result."""
    view = memoryview(body)
    pieces: list[memoryview | bytes] = []
    at = 0
    for start, end, replacement in edits:
        pieces += (view[at:start], replacement)
        at = end
    pieces.append(view[at:])
    return b"".join(pieces)
