"""The OpenAI error envelope and the catalogue of refusals the mock can give.

Every refusal anywhere in the app is an ``APIError`` raised with a status and the four envelope
fields; ``perceptron_mock.main`` turns it into ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import orjson


class APIError(Exception):
    """A refusal with its HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return orjson.dumps(self.envelope(), option=orjson.OPT_INDENT_2)


def clip(text: str, limit: int = 60) -> str:
    """Client-supplied text echoed in an error, cut short: a 5 MB model name must not come back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid(message: str, param: str | None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def missing_key() -> APIError:
    return APIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code="missing_api_key",
    )


def mask_key(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * min(len(key) - 7, 20)}{key[-4:]}"


def refused_key(key: str) -> APIError:
    return APIError(401, f"Incorrect API key provided: {mask_key(key)}.", code="invalid_api_key")


def model_not_found(model: str) -> APIError:
    return APIError(
        404,
        f"The model `{clip(model)}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def unparseable_json(detail: str) -> APIError:
    return APIError(
        400,
        "We could not parse the JSON body of your request. The API expects a JSON object as the "
        f"request body ({detail}).",
        code="invalid_json",
    )


def route_not_found(method: str, path: str) -> APIError:
    return APIError(404, f"Invalid URL ({method} {path})", code="unknown_url")


def method_not_allowed(method: str, path: str, allowed: list[str]) -> APIError:
    return APIError(
        405,
        f"Method {method} is not allowed for {path}; use {', '.join(allowed)}.",
        code="method_not_allowed",
        headers={"allow": ", ".join(allowed)},
    )


def server_error() -> APIError:
    return APIError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )
