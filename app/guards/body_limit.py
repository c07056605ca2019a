"""The request-body cap (413), as an ASGI guard in front of the whole app.

A declared ``Content-Length`` over the cap is refused before a byte is read, a chunked body as soon as
it passes the cap; in the error envelope, which Starlette's own plain-text limit is not.
"""

from __future__ import annotations

from perceptron_mock.asgi import ASGIApp, Message, Receive, Scope, Send, header
from perceptron_mock.protocol.errors import APIError


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"Request body too large: the limit is {limit} bytes ({limit / 1024 / 1024:g} MB).",
        code="request_too_large",
        # Ask the client to stop uploading rather than have the server drain the rest.
        headers={"connection": "close"},
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise APIError(400, "Invalid Content-Length header.", code="invalid_content_length") from None
            if length > self.max_bytes:
                raise too_large(self.max_bytes)
            await self.app(scope, receive, send)
            return

        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counting_receive, send)
