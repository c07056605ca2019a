"""``perceptron-mock record``: a proxy that passes each request to the upstream and its answer back as it
arrives (status, headers, JSON, SSE event by event), and writes each chat completion as a fixture.

Upstream failures reach the client as a gateway passes them: 502/504 before a status, a cut after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import httpx
import orjson

from perceptron_mock.asgi import JSON_HEADERS, Message, Receive, Scope, Send, read_body, reset_connection, send_bytes
from perceptron_mock.contract import shapes
from perceptron_mock.contract.recording import MAX_RECORDED_RESPONSE_BYTES, Exchange, RecordingDirectory, fixture_of
from perceptron_mock.guards.body_limit import BodyLimit
from perceptron_mock.guards.header_limit import header_bytes, headers_too_large
from perceptron_mock.protocol.errors import APIError, route_not_found
from perceptron_mock.settings import Settings

log = logging.getLogger("perceptron_mock")

# Meaningful for one connection only, or recomputed by the server that sends the answer on.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host",
     "content-length", "content-encoding", "accept-encoding"}
)


def unreachable(upstream: str, exc: Exception) -> APIError:
    return APIError(
        502, f"The upstream {upstream} could not be reached ({type(exc).__name__}).", type="server_error", code="bad_gateway"
    )


def timed_out(upstream: str) -> APIError:
    return APIError(504, f"The upstream {upstream} did not answer in time.", type="server_error", code="gateway_timeout")


def _token_event(data: bytes) -> bool:
    """Whether an SSE event's data carries a token (content, reasoning or a tool call)."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(chunk, dict):
        return False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and (delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls")):
            return True
    return False


async def _until_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


class RecordingProxy:
    """The ASGI app of ``perceptron-mock record``."""

    def __init__(
        self,
        upstream: str,
        directory: Path,
        *,
        upstream_key: str | None = None,
        timeout: float = 600.0,
        max_body_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.recordings = RecordingDirectory(directory)
        self.upstream_key = upstream_key
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.guarded = BodyLimit(self._proxy, max_body_bytes)
        self.max_header_bytes = Settings.model_fields["max_header_bytes"].default  # HeadLimitedHttpTools reads it too
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if header_bytes(scope["headers"]) > self.max_header_bytes:
                raise headers_too_large(self.max_header_bytes)
            if scope["path"] == "/health":
                await send_bytes(send, 200, b'{"status":"ok"}', JSON_HEADERS)
            elif not scope["path"].startswith("/v1/"):
                raise route_not_found(scope["method"], scope["path"])
            else:
                scope[SERVER_RECEIVE] = receive  # a cut resets the connection through the server's own
                await self.guarded(scope, receive, tracking_send)
        except APIError as error:
            if not started:
                headers = [*JSON_HEADERS, *((k.encode(), v.encode()) for k, v in error.headers.items())]
                await send_bytes(send, error.status, error.body(), headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _outgoing(self, scope: Scope) -> tuple[dict[str, str], tuple[str, ...]]:
        headers: dict[str, str] = {}
        secrets: list[str] = []
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name in HOP_HEADERS:
                continue
            if name == "authorization":
                secrets.append(value.removeprefix("Bearer ").strip())
            headers[name] = value
        if self.upstream_key:
            headers["authorization"] = f"Bearer {self.upstream_key}"  # the caller's dummy key goes no further
            secrets.append(self.upstream_key)
        headers["accept-encoding"] = "identity"  # the bytes that arrive are the bytes that go on
        return headers, tuple(secrets)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.client is None:  # served without its lifespan (a server with lifespan off)
            self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        body = bytes(await read_body(receive))
        headers, secrets = self._outgoing(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + scope["path"].removeprefix("/v1") + (f"?{query}" if query else "")
        loop = asyncio.get_running_loop()
        began = loop.time()
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise timed_out(self.upstream) from None
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(self.upstream, exc) from None
        exchange = Exchange(path=scope["path"], request_headers=headers, request_body=body, secrets=secrets)
        exchange.status = response.status_code
        exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
        out_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items() if k.lower() not in HOP_HEADERS]
        gone = asyncio.Event()
        watcher = asyncio.create_task(_until_disconnect(receive, gone))  # a client that leaves stops the upstream too
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
            held = await self._relay(response, exchange, send, began, gone)
        except (httpx.HTTPError, OSError) as exc:
            # The answer has begun: the client sees the same cut the upstream gave, and nothing is recorded.
            log.warning("upstream answer to %s cut off (%s); not recorded", scope["path"], type(exc).__name__)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher  # the reset below reads the disconnect itself
            await reset_connection(scope[SERVER_RECEIVE], receive)
            return
        finally:
            watcher.cancel()
            await response.aclose()
        if held is None:
            log.info("the client left before the answer to %s ended; not recorded", scope["path"])
            return
        # Written before the answer ends, so that a client holding its answer finds the recording on disk.
        try:
            fixture = fixture_of(exchange, upstream=self.upstream)
            path = await asyncio.to_thread(self.recordings.write, fixture, exchange.secrets) if fixture else None
        except Exception:  # the client still gets its answer; the exchange is named in the log
            log.exception("could not record the answer to %s %s", scope["method"], scope["path"])
        else:
            if path is not None:
                log.info("recorded %s", path.name)
        await send({"type": "http.response.body", "body": held, "more_body": False})

    async def _relay(
        self, response: httpx.Response, exchange: Exchange, send: Send, began: float, gone: asyncio.Event
    ) -> bytes | None:
        """The upstream's body to the client as it arrives, kept for the recording (up to its cap) with the
        time of each token event. Returns what is held back until the recording is written (a JSON body,
        a stream's ``[DONE]``), or None when the client left first."""
        streamed = "text/event-stream" in exchange.response_headers.get("content-type", "")
        loop = asyncio.get_running_loop()
        pending = b""
        held = bytearray()
        async for piece in response.aiter_bytes():
            if gone.is_set():
                return None
            if len(exchange.response_body) <= MAX_KEPT:
                exchange.response_body += piece
            if not streamed or held or b"data: [DONE]" in exchange.response_body[-len(piece) - 16 :]:
                held += piece
                if len(held) > MAX_KEPT:  # too large to record: passed on as it comes
                    await send({"type": "http.response.body", "body": bytes(held), "more_body": True})
                    held.clear()
                continue
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if len(pending) <= MAX_KEPT:  # an event that never ends is not timed
                pending += piece
                *events, pending = pending.replace(b"\r\n", b"\n").split(b"\n\n")
                now = loop.time() - began
                for event in events:
                    data = shapes.event_data(event)
                    if data is not None and _token_event(data):
                        exchange.token_times.append(now)
        return bytes(held)


SERVER_RECEIVE = "perceptron_mock.server_receive"
MAX_KEPT = MAX_RECORDED_RESPONSE_BYTES + 1  # past the recording cap nothing more is kept
