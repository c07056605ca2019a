"""How many items (array elements and object members) a JSON body holds, counted on its raw bytes.

Parsing and validating cost about a microsecond per item and hold the GIL, so a 20 MB body of a
million tiny items would stall the server for seconds before any check could refuse it; counting
first, up to a bound, costs little and needs no parse.
"""

from __future__ import annotations

import re

from perceptron_mock.protocol.data_urls import Body

_QUOTE = ord('"')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # a string's contents up to its closing quote
_WINDOW = 1024 * 1024  # bytes of one string matched per call: no call holds the GIL for long


def items_over(body: Body, limit: int, *, window: int = _WINDOW) -> bool:
    """Whether ``body`` holds more than ``limit`` items, counting every comma and opening bracket
    outside strings: exactly the items of a valid body (an empty container counts one). A body that
    is not JSON gets some count; the parser will refuse it anyway.

    Linear in the body and at most about ``2 * limit`` steps in Python: counting stops past the
    limit, and the bytes outside and inside strings are searched in C. ``window`` (at least 2): the
    bytes of a string matched per call."""
    if len(body) <= limit:  # every item takes a byte at least
        return False
    if body.count(b",") + body.count(b"[") + body.count(b"{") <= limit:  # strings' too: an upper bound
        return False
    count, at, end = 0, 0, len(body)
    strings = 0
    while at < end:
        quote = body.find(b'"', at)
        stop = end if quote < 0 else quote
        count += body.count(b",", at, stop) + body.count(b"[", at, stop) + body.count(b"{", at, stop)
        if count > limit:
            return True
        if quote < 0:
            return False
        strings += 1
        if strings > 2 * count + 1:
            # Valid JSON has at most a key and a value string per item: this is not JSON, and the
            # parser refuses it before it reaches the items still uncounted.
            return False
        at = quote + 1
        while True:  # to the closing quote, past escaped ones, a window at a time
            reached = _STRING_REST.match(body, at, min(end, at + window)).end()
            if reached >= end:
                return False  # unterminated: not JSON
            if body[reached] == _QUOTE:
                break
            if reached == at:
                return False  # a backslash that ends the body: not JSON
            at = reached  # a window ended inside the string, or right before an escape's backslash
        at = reached + 1
    return False
