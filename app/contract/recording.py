"""One proxied exchange written as a fixture: ``match`` the request exactly, ``respond`` as the upstream did,
``recorded`` the request as sent (no credentials) and the shape of the answer, for ``verify``.

The fixture is checked against the fixture format before it is written, so a recording always loads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from perceptron_mock.answers.fixtures.conversation import data_url_digest, media_parts, normal_messages
from perceptron_mock.answers.fixtures.format import MOCKS_OWN_HEADERS, FixtureSpec
from perceptron_mock.contract import shapes
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.protocol.validation import parse_request

log = logging.getLogger("perceptron_mock")

# Never written: credentials, and what only one connection or one proxy hop means.
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "host", "content-length",
        "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "accept-encoding", "user-agent",
    }
)
ERROR_HEADERS_KEPT = ("retry-after", "retry-after-ms")
MAX_RECORDED_RESPONSE_BYTES = 8 * 1024 * 1024  # larger answers pass through but are not recorded
MAX_RECORDINGS = 10_000  # per recording session; past it answers pass through, unrecorded
REDACTED = "[redacted]"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it: several times faster


@dataclass
class Exchange:
    """What the proxy saw of one request and its answer."""

    path: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytearray = field(default_factory=bytearray)
    token_times: list[float] = field(default_factory=list)  # seconds after the request, per token event
    secrets: tuple[str, ...] = ()  # strings that must never reach a file (the keys used)


def _respond_json(body: dict) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    out: dict[str, Any] = {"content": message.get("content") or ""}
    if message.get("reasoning_content") is not None:
        out["reasoning_content"] = message["reasoning_content"]
    calls = _calls(message.get("tool_calls"))
    if calls:
        out["tool_calls"] = calls
    out["finish_reason"] = choice.get("finish_reason") or "stop"
    if isinstance(body.get("usage"), dict):
        out["usage"] = _usage(body["usage"])
    return out


def _calls(calls: Any) -> list[dict[str, Any]]:
    """OpenAI's ``tool_calls`` as the fixture format writes them: ``{name, arguments}``, the arguments as
    sent (a string); ids are the mock's own on replay."""
    out = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            arguments = function.get("arguments")
            out.append({"name": function["name"], "arguments": arguments if isinstance(arguments, str) else "{}"})
    return out


def _usage(usage: dict) -> dict[str, int]:
    return {"prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0)}


def _respond_stream(body: bytes) -> dict[str, Any] | None:
    """The answer a stream spelled out, or None when it did not end as a complete answer."""
    events = shapes.sse_data(body)
    if not events or events[-1].strip() != b"[DONE]":
        return None
    content, reasoning, finish, usage = [], [], None, None
    calls: dict[int, dict[str, Any]] = {}  # streamed by index: the name first, the arguments in pieces
    for data in events[:-1]:
        chunk = orjson.loads(data)
        if "error" in chunk:
            return None
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            for piece in delta.get("tool_calls") or ():
                call = calls.setdefault(piece.get("index", len(calls)), {"function": {"name": None, "arguments": ""}})
                function = piece.get("function") or {}
                call["function"]["name"] = function.get("name") or call["function"]["name"]
                call["function"]["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
    out: dict[str, Any] = {"content": "".join(content)}
    if any(reasoning):
        out["reasoning_content"] = "".join(reasoning)
    if calls:
        out["tool_calls"] = _calls([calls[index] for index in sorted(calls)])
    out["finish_reason"] = finish or "stop"
    if usage is not None:
        out["usage"] = _usage(usage)
    return out


def _pacing(times: list[float]) -> dict[str, float] | None:
    if not times:
        return None
    pacing: dict[str, float] = {"first_token_ms": round(min(times[0] * 1000, 600_000), 1)}
    span = times[-1] - times[0]
    if len(times) > 1 and span > 0:
        pacing["tokens_per_second"] = round((len(times) - 1) / span, 1)
    return pacing


def _error(exchange: Exchange) -> dict[str, Any]:
    headers = {k: v for k, v in exchange.response_headers.items() if k in ERROR_HEADERS_KEPT and k not in MOCKS_OWN_HEADERS}
    error: dict[str, Any] = {"status": exchange.status}
    try:
        body = orjson.loads(exchange.response_body)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        error["body"] = body
    else:
        error["message"] = bytes(exchange.response_body[:2000]).decode("utf-8", "replace")
    if headers:
        error["headers"] = headers
    return error


def _url(part: dict) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    return url if isinstance(url, str) else ""


def _match(request: dict) -> dict[str, Any]:
    messages = request.get("messages") or []
    parts = list(media_parts(messages))
    digests = [data_url_digest(_url(p)) if p.get("type") == "image_url" else None for p in parts]
    match: dict[str, Any] = {"model": request.get("model"), "messages": normal_messages(messages, digests)}
    if any(digests):
        match["image_sha256"] = sorted({d for d in digests if d})
    body = {key: value for key, value in request.items() if key not in ("model", "messages")}
    for name in ChatCompletionRequest.model_fields:  # null: absent, so that e.g. a JSON recording does not answer a stream
        if name not in ("model", "messages"):
            body.setdefault(name, None)
    match["body"] = body
    return match


def _request_json(raw: bytes) -> dict | None:
    """The request as the mock's matcher sees it (its own parse and dump), or as sent if it does not parse."""
    try:
        return parse_request(raw, reject_unknown=False).model_dump(mode="json", by_alias=True, exclude_none=True)
    except APIError:
        pass
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def fixture_of(exchange: Exchange, *, upstream: str) -> dict[str, Any] | None:
    """The recording of ``exchange`` as a fixture, or None when it cannot be replayed (not a chat completion,
    a stream that did not finish, an answer too large)."""
    if exchange.path != "/v1/chat/completions" or len(exchange.response_body) > MAX_RECORDED_RESPONSE_BYTES:
        return None
    request = _request_json(exchange.request_body)
    if request is None or not isinstance(request.get("model"), str) or not isinstance(request.get("messages"), list):
        return None
    respond: dict[str, Any] | None
    if exchange.status >= 400:
        respond = {"error": _error(exchange)}
    elif "text/event-stream" in exchange.response_headers.get("content-type", ""):
        respond = _respond_stream(bytes(exchange.response_body))
        pacing = _pacing(exchange.token_times)
        if respond is not None and pacing is not None:
            respond["pacing"] = pacing
    else:
        try:
            body = orjson.loads(exchange.response_body)
        except orjson.JSONDecodeError:
            return None
        respond = _respond_json(body) if isinstance(body, dict) else None
    if respond is None:
        return None
    headers = {
        k: v for k, v in exchange.request_headers.items() if k not in DROPPED_REQUEST_HEADERS and not k.startswith("x-stainless-")
    }
    sent = orjson.loads(exchange.request_body)
    return {
        "match": _match(request),
        "respond": respond,
        "recorded": {
            "upstream": upstream,
            "request": {"method": "POST", "path": exchange.path, "headers": headers, "body": sent},
            "response": shapes.shape(exchange.status, exchange.response_headers, bytes(exchange.response_body)),
        },
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].rstrip("-") or "request"


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class RecordingDirectory:
    """Where recordings go: one readable YAML file each, numbered in the order answered. A request
    recorded again (same ``match``) replaces its earlier file: the recording holds its last answer."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._by_match: dict[bytes, Path] = {}
        self._count = len(list(directory.glob("*.yaml")))
        self.written = 0

    def write(self, fixture: dict[str, Any], secrets: tuple[str, ...] = ()) -> Path | None:
        """Write ``fixture`` (checked against the format first); None when the session's cap is reached."""
        # A digest, not the dump: a match holds the whole conversation, up to the body cap, per recording.
        key = hashlib.sha256(orjson.dumps(fixture["match"], option=orjson.OPT_SORT_KEYS)).digest()
        with self._lock:
            path = self._by_match.get(key)
            if path is None:
                if self.written >= MAX_RECORDINGS:
                    log.warning("recorded %d exchanges, the most one session writes; not recording more", MAX_RECORDINGS)
                    return None
                self._count += 1
                self.written += 1
                match = fixture["match"]
                kind = "stream" if match["body"].get("stream") else "json"
                status = fixture["recorded"]["response"]["status"]
                stem = f"{self._count:04d}-{_slug(_last_user_text(match['messages']))}-{kind}-{status}"
                path = self.directory / f"{stem}.yaml"
                self._by_match[key] = path
        fixture = {"name": path.stem, **fixture}
        FixtureSpec.model_validate(fixture)
        text = yaml.dump(fixture, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=120)
        for secret in secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, REDACTED)  # anywhere at all: a key must never reach a file
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".recording-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)  # whole or not at all: a reloading mock never reads half a file
        return path
