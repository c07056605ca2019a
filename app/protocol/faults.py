"""The fault grammar: the short spec that says how a request should fail, and the ``Fault`` it describes.

A leaf, so that everything that carries a spec (the ``X-Mock-Fault`` header, the admin queue in
``perceptron_mock.toolkit.faults``, a fixture) reads it the same way; ``perceptron_mock.render.delivery``
applies it. Spec: items separated by ``;`` or ``,``, each ``name`` or ``name=value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from perceptron_mock.asgi import Scope, header
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.retry import retry_headers

FAULT_HEADER = b"x-mock-fault"


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood."""


@dataclass(frozen=True)
class Fault:
    spec: str
    status: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    hang: bool = False
    reset: bool = False
    malformed: bool = False
    cut_after: int | None = None  # events (stream); a non-stream body is cut in half
    error_after: int | None = None  # events, stream only
    drip_ms: float | None = None  # stream only
    interrupted: bool = False  # the answer closes with finish_reason "interrupted" (a force-closed think budget)

    @property
    def streams_only(self) -> bool:
        """Whether the fault only makes sense for a streamed answer."""
        return self.error_after is not None or self.drip_ms is not None

    def error(self) -> APIError:
        assert self.status is not None
        error = status_error(self.status)
        if self.retry_after is not None:
            error.headers.update(retry_headers(self.retry_after * 1000))  # as the rate limiter sends them
        return error


# --- the envelope each injected status gets ---------------------------------------------------------

# What the real service (OpenAI's wire format) says for the statuses tests most often inject.
_ENVELOPES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "The request could not be processed.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to sample from this model.", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it.", "model_not_found"),
    408: ("invalid_request_error", "Request timed out.", None),
    409: ("invalid_request_error", "The request conflicts with another request.", None),
    429: ("requests", "Rate limit reached for requests. Please try again later.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request. Sorry about that!", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("service_unavailable_error", "The engine is currently overloaded, please try again later", "server_is_overloaded"),
    504: ("server_error", "Gateway timeout.", None),
}


def status_error(status: int) -> APIError:
    if status in _ENVELOPES:
        type_, message, code = _ENVELOPES[status]
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else f"Error {status}"
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        message, code = f"{phrase}.", None
    return APIError(status, message, type=type_, code=code)


# --- parsing ---------------------------------------------------------------------------------------

_FLAGS = {"hang", "reset", "malformed", "interrupted"}
_ALIASES = {"retry-after": "retry_after", "sse-error": "sse_error", "error": "sse_error", "delay": "latency"}


_LONGEST_MS = 600_000  # latency and drip: ten minutes is already "forever" for a test; "hang" is the real thing

# The longest spec read: the longest useful one is about 40 characters. It bounds the parse cache by
# bytes (256 entries of at most this), and what the journal keeps of a spec.
MAX_SPEC_CHARS = 200


def _number(name: str, value: str | None, *, integer: bool = False, minimum: float = 0, maximum: float = 1e9) -> Any:
    if value is None:
        raise FaultSpecError(f"'{name}' needs a value, e.g. {name}=1")
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise FaultSpecError(f"'{name}' must be {'an integer' if integer else 'a number'}, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise FaultSpecError(f"'{name}' must be between {minimum:g} and {maximum:g}, got {value!r}")
    return number


def parse(spec: str) -> Fault:
    """The ``Fault`` a spec describes, or ``FaultSpecError`` saying what is wrong with it."""
    if len(spec) > MAX_SPEC_CHARS:
        raise FaultSpecError(f"the fault spec is {len(spec)} characters long; the most accepted is {MAX_SPEC_CHARS}")
    return _parse(spec)


@lru_cache(maxsize=256)
def _parse(spec: str) -> Fault:
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    items = [item.strip() for item in spec.replace(",", ";").split(";") if item.strip()]
    if not items:
        raise FaultSpecError("the fault spec is empty")
    for item in items:
        name, has_value, value = item.partition("=")
        name = name.strip().lower()
        name = _ALIASES.get(name, name)
        value = value.strip() if has_value else None
        if name.isdigit():
            name, value = "status", name
        if name in seen:
            raise FaultSpecError(f"'{name}' is given twice")
        seen.add(name)
        if name == "status":
            fields["status"] = _number(name, value, integer=True, minimum=400, maximum=599)
        elif name == "retry_after":
            fields["retry_after"] = _number(name, value)
        elif name == "latency":
            fields["latency_ms"] = _number(name, value, maximum=_LONGEST_MS)
        elif name in _FLAGS:
            if value is not None:
                raise FaultSpecError(f"'{name}' takes no value")
            fields[name] = True
        elif name == "cut":
            fields["cut_after"] = 0 if value is None else _number(name, value, integer=True)
        elif name == "sse_error":
            fields["error_after"] = 0 if value is None else _number(name, value, integer=True)
        elif name == "drip":
            fields["drip_ms"] = _number(name, value, maximum=_LONGEST_MS)
        else:
            raise FaultSpecError(
                f"unknown fault {name!r}; known: a status such as 503, retry_after, latency, hang, reset, "
                "malformed, cut, sse_error, drip, interrupted"
            )
    # A status may name the envelope of an SSE error event; otherwise each of these ends a request its own way.
    endings = [n for n in ("status", "hang", "reset", "malformed", "cut_after", "error_after") if n in fields]
    if endings == ["status", "error_after"]:
        endings = ["error_after"]
    if len(endings) > 1:
        raise FaultSpecError(f"choose one of {', '.join(endings)}; they end a request in different ways")
    if "retry_after" in fields and ("status" not in fields or "error_after" in fields):
        raise FaultSpecError("retry_after goes with a status, e.g. '429; retry_after=1'")
    if "drip_ms" in fields and any(n in fields for n in ("status", "hang", "reset")):
        raise FaultSpecError("drip slows a stream; it cannot go with a status, hang or reset")
    if "interrupted" in fields and any(n in fields for n in ("status", "hang", "reset")):
        raise FaultSpecError("interrupted changes the answer; it cannot go with a status, hang or reset")
    return Fault(spec="; ".join(items), **fields)


def invalid_fault(detail: str) -> APIError:
    return APIError(400, f"Invalid X-Mock-Fault header: {detail}.", param=None, code="invalid_fault")


def from_header(scope: Scope) -> Fault | None:
    raw = header(scope, FAULT_HEADER)
    if raw is None:
        return None
    try:
        return parse(raw.decode("latin-1"))
    except FaultSpecError as exc:
        raise invalid_fault(str(exc)) from None
