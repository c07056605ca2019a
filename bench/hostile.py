"""Benchmark: what each hostile request of issues 11 and 15 costs the mock, beside a plain request.

    .venv/bin/python bench/hostile.py [--timeout 60] [--pattern-chars 26] [--fixture-chars 28] [--schemas 20]
                                      [--schema-mb 8] [--only TEXT]

Each case runs on a fresh mock (one uvicorn worker pinned to CPU 0; this client on CPU 1), warmed up
with a plain completion, so that no case inherits another's heap or a stall another left running.
Printed per case: the answer (status and the envelope's error code), its wall time, the latency of
``GET /health`` polled every ~10 ms from another connection while the case ran (max and p99), the
mock's RSS growth (after the case, and at its peak) and the tracebacks it logged; then a markdown table
with the issue's target for each case and whether it was met. Every request has a client timeout, so a
stalled mock shows as ``timeout`` (and is killed), never as a hung benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import REQUEST, proc_status_kb, start_mock  # noqa: E402
from bench.limits import CAP, _reset_peak, _text_request  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

MB = 1024 * 1024
KEY = {"authorization": "Bearer bench-key"}
HEALTH_TARGET_MS = 100.0
RSS_SLACK_MB = 32.0  # allocator noise: freed memory is not always given back to the system at once


# --- requests ------------------------------------------------------------------------------------


def chat(text: str = "Describe this scene in detail.", **fields) -> dict:
    return {**REQUEST, "messages": [{"role": "user", "content": text}], **fields}


def with_schema(schema: dict) -> bytes:
    # json, not orjson: the hostile schemas hold integers wider than 64 bits.
    body = chat("Fill in the form.", response_format={"type": "json_schema", "json_schema": {"name": "hostile", "schema": schema}})
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Outcome:
    """What the mock answered: ``status`` is the HTTP status, or what happened instead (``timeout``,
    ``no response``); several steps are written ``201 -> 200``."""

    status: str
    code: str = ""  # the envelope's error.code; "no envelope" for a refusal without one
    detail: str = ""
    meets: bool = False  # whether the answer itself is the one the issue asks for
    stalled: bool = False


def code_of(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        error = response.json()["error"]
        assert set(error) >= {"message", "type", "param", "code"}
        return "null" if error["code"] is None else str(error["code"])
    except Exception:
        return "no envelope"


class Step(Exception):
    """A request that got no answer; ``what`` says why (``timeout``, ``no response``...)."""

    def __init__(self, what: str, stalled: bool) -> None:
        super().__init__(what)
        self.what, self.stalled = what, stalled


def send(client: httpx.Client, method: str, path: str, **options) -> httpx.Response:
    try:
        return client.request(method, path, **options)
    except httpx.TimeoutException:
        raise Step("timeout", stalled=True) from None
    except httpx.RemoteProtocolError:
        raise Step("no response", stalled=False) from None
    except httpx.TransportError as exc:
        raise Step(f"connection error ({type(exc).__name__})", stalled=False) from None


def raw_request(port: int, head: list[bytes], body: bytes, timeout: float) -> tuple[int, bytes]:
    """``POST /v1/chat/completions`` over a plain socket, its head written from ``head`` (pieces sent
    one by one, so a 100 MB header value is never copied), with ``Connection: close``; the status and
    body of the answer. httpx would refuse to send such headers, or buffer them whole."""
    start = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                for piece in (start, *head, b"\r\n", body):
                    sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the whole head was read: its answer may still be waiting
            received = b""
            while chunk := sock.recv(1 << 16):
                received += chunk
    except (socket.timeout, TimeoutError):
        raise Step("timeout", stalled=True) from None
    except ConnectionResetError:
        if not received:
            raise Step("reset, no response", stalled=False) from None
    except OSError as exc:
        raise Step(f"connection error ({exc.__class__.__name__})", stalled=False) from None
    if not received:
        raise Step("no response", stalled=False)
    head_bytes, _, rest = received.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), rest


def raw_code(status: int, body: bytes) -> str:
    if status < 400:
        return ""
    try:
        error = json.loads(body)["error"]
        assert set(error) >= {"message", "type", "param", "code"}
        return "null" if error["code"] is None else str(error["code"])
    except Exception:
        return "no envelope"


# --- the mock under test ---------------------------------------------------------------------------


@dataclass
class Mock:
    url: str
    port: int
    pid: int
    client: httpx.Client  # the hostile client: bearer key, the case's timeout

    def rss_mb(self) -> float:
        return proc_status_kb(self.pid) / 1024

    def admin_settings(self) -> dict:
        return self.client.get("/_admin/config").json()["settings"]


class HealthPoller(threading.Thread):
    """``GET /health`` every ~10 ms on its own connection; a poll still waiting when asked counts as
    lasting until then (a stalled mock answers none)."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.url, self.timeout = url + "/health", timeout
        self.samples: list[tuple[float, float, bool]] = []  # start, seconds, answered 200
        self.waiting_since: float | None = None
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self.done.is_set():
                started = self.waiting_since = time.perf_counter()
                try:
                    answered = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    answered = False
                self.samples.append((started, time.perf_counter() - started, answered))
                self.waiting_since = None
                self.done.wait(0.01)

    def during(self, start: float, end: float) -> tuple[list[float], bool]:
        """Latencies (ms) of the polls that overlapped [start, end], and whether every one was answered."""
        samples = list(self.samples)
        waiting = self.waiting_since
        if waiting is not None:
            samples.append((waiting, time.perf_counter() - waiting, False))
        overlapping = [(s, d, ok) for s, d, ok in samples if s < end and s + d > start]
        return [d * 1000 for _, d, _ in overlapping], all(ok for _, _, ok in overlapping)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- the cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    target: str  # as printed
    run: Callable[[Mock], Outcome]
    retained_mb: Callable[[Mock], float] | None = None  # the RSS growth allowed after the case
    wall_s: float | None = None  # the wall time allowed


def answered(response: httpx.Response, ok: bool, detail: str = "") -> Outcome:
    return Outcome(str(response.status_code), code_of(response), detail, meets=ok)


def is_4xx(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500 and code_of(response) != "no envelope"


def plain(count: int) -> Callable[[Mock], Outcome]:
    def run(mock: Mock) -> Outcome:
        started = time.perf_counter()
        for _ in range(count):
            response = send(mock.client, "POST", "/v1/chat/completions", json=chat())
        each = (time.perf_counter() - started) / count * 1000
        return answered(response, response.status_code == 200, f"{each:.1f} ms a request")

    return run


def schema_case(schema: dict) -> Callable[[Mock], Outcome]:
    """One json_schema request: a 200 or a 4xx in the envelope (never a 500) is the answer asked for."""

    def run(mock: Mock) -> Outcome:
        response = send(mock.client, "POST", "/v1/chat/completions", content=with_schema(schema))
        return answered(response, response.status_code == 200 or is_4xx(response))

    return run


def catastrophic_fixture(chars: int) -> Callable[[Mock], Outcome]:
    def run(mock: Mock) -> Outcome:
        fixture = {"name": "catastrophic", "match": {"user_text": "(a+)+$"}, "respond": {"content": "matched"}}
        added = send(mock.client, "POST", "/_admin/fixtures", json=fixture)
        if added.status_code != 201:  # refused at load: also an answer the issue allows
            return Outcome(str(added.status_code), code_of(added), "refused at load", meets=is_4xx(added))
        response = send(mock.client, "POST", "/v1/chat/completions", json=chat("a" * chars + "!"))
        ok = response.status_code == 200 or is_4xx(response)
        return Outcome(f"201 -> {response.status_code}", code_of(response), meets=ok)

    return run


def schema_cache(count: int, megabytes: float) -> Callable[[Mock], Outcome]:
    """``count`` distinct schemas of ``megabytes`` each (an enum of 20,000 long strings: under the
    JSON item cap, cheap to check, large to keep), then ``/_admin/reset``. What the first one leaves
    is the allocator's high-water mark for one such request, not retention: the growth over the
    others is what the caches kept, and must stay within their byte bounds. The RSS after the reset
    is printed, not judged: freed small objects do not always give their pages back (the tests check
    what a reset frees with tracemalloc), so the reset's own count of the bytes it cleared is shown."""

    def run(mock: Mock) -> Outcome:
        before = mock.rss_mb()
        answers: dict[str, int] = {}
        values = 20_000
        length = int(megabytes * MB) // values - 4
        for i in range(count):
            schema = {"type": "string", "enum": [f"{i:03d}-{j:05d}-".ljust(length, "x") for j in range(values)]}
            response = send(mock.client, "POST", "/v1/chat/completions", content=with_schema(schema))
            key = f"{response.status_code} {code_of(response)}".strip()
            answers[key] = answers.get(key, 0) + 1
            if i == 0:
                first = mock.rss_mb()
        after = mock.rss_mb()
        reset = send(mock.client, "POST", "/_admin/reset")
        freed = mock.rss_mb()
        bound = cache_bound_mb(mock)
        ok = (
            all(key == "200" or key.startswith("4") and "no envelope" not in key for key in answers)
            and reset.status_code == 200
            and after - first <= bound + RSS_SLACK_MB
        )
        shown = ", ".join(f"{key} x{n}" for key, n in answers.items())
        counted = reset.json().get("cache_bytes") if reset.status_code == 200 else None
        cleared = "" if counted is None else f" (it cleared caches counted at {counted / MB:.1f} MB)"
        return Outcome(
            f"{shown} -> reset {reset.status_code}", "",
            f"RSS after the 1st {first - before:+.0f} MB, after all {after - before:+.0f} MB (caches' bound {bound:.0f} MB), "
            f"after the reset {freed - before:+.0f} MB{cleared}",
            meets=ok,
        )

    return run


def cache_bound_mb(mock: Mock) -> float:
    """The sum of the mock's cache byte bounds (settings named like ``*cache*bytes*``), 0 if it has none."""
    settings = mock.admin_settings()
    total = sum(v for k, v in settings.items() if "cache" in k and "bytes" in k and isinstance(v, (int, float)))
    return total / MB


def big_header(megabytes: int) -> Callable[[Mock], Outcome]:
    def run(mock: Mock) -> Outcome:
        body = json.dumps(chat()).encode()
        head = [b"Authorization: Bearer bench-key\r\n", b"X-Padding: ", b"p" * (megabytes * MB), b"\r\n"]
        status, answer = raw_request(mock.port, head, body, mock.client.timeout.read)
        code = raw_code(status, answer)
        return Outcome(str(status), code, meets=status == 431 and code == "request_header_fields_too_large")

    return run


def many_headers(count: int, megabytes: int) -> Callable[[Mock], Outcome]:
    """``count`` requests without a key, each with a distinct ``megabytes`` header."""

    def run(mock: Mock) -> Outcome:
        body = json.dumps(chat()).encode()
        statuses: dict[tuple[int, str], int] = {}
        for i in range(count):
            head = [b"X-Padding: ", b"%03d" % i, b"p" * (megabytes * MB), b"\r\n"]
            status, answer = raw_request(mock.port, head, body, mock.client.timeout.read)
            key = (status, raw_code(status, answer))
            statuses[key] = statuses.get(key, 0) + 1
        shown = ", ".join(f"{s} x{n}" for (s, _), n in statuses.items())
        codes = ", ".join(sorted({c for _, c in statuses if c}))
        return Outcome(shown, codes, meets=set(statuses) == {(431, "request_header_fields_too_large")})

    return run


def admin_cross_site(method: str, path: str, **options) -> Callable[[Mock], Outcome]:
    def run(mock: Mock) -> Outcome:
        response = send(mock.client, method, path, **options)
        return answered(response, response.status_code == 403 and code_of(response) == "cross_site_request")

    return run


def regex_case(pattern: str) -> Callable[[Mock], Outcome]:
    def run(mock: Mock) -> Outcome:
        response = send(mock.client, "POST", "/v1/chat/completions", json=chat(regex=pattern))
        if response.status_code != 200:
            return answered(response, is_4xx(response) and code_of(response) == "unsatisfiable_regex")
        content = response.json()["choices"][0]["message"]["content"]
        matches = re.fullmatch(pattern, content) is not None
        return answered(response, matches, f"content {content!r} {'fully matches' if matches else 'does NOT fully match'}")

    return run


def bad_fixture_header(name: str, headers: dict[str, str]) -> Callable[[Mock], Outcome]:
    """A fixture whose error carries ``headers``; refused at load (400 invalid_fixture) is the answer
    asked for. Accepted, a matching request shows what it then gets."""

    def run(mock: Mock) -> Outcome:
        marker = f"fixture-probe-{name}"
        fixture = {"name": name, "match": {"user_text": f"^{marker}$"}, "respond": {"error": {"status": 429, "headers": headers}}}
        added = send(mock.client, "POST", "/_admin/fixtures", json=fixture)
        if added.status_code != 201:
            return answered(added, added.status_code == 400 and code_of(added) == "invalid_fixture")
        try:
            response = send(mock.client, "POST", "/v1/chat/completions", json=chat(marker))
            then, code = str(response.status_code), code_of(response)
        except Step as step:
            if step.stalled:
                raise
            then, code = step.what, ""
        return Outcome(f"201 -> {then}", code, "accepted at load", meets=False)

    return run


def fixture_named_with_slash(mock: Mock) -> Outcome:
    fixture = {"name": "a/b", "match": {"user_text": "^never$"}, "respond": {"content": "x"}}
    added = send(mock.client, "POST", "/_admin/fixtures", json=fixture)
    if added.status_code != 201:  # names limited to URL-safe ones: also what the issue allows
        return answered(added, added.status_code == 400 and code_of(added) == "invalid_fixture", "refused at load")
    deleted = send(mock.client, "DELETE", "/_admin/fixtures/" + quote("a/b", safe=""))
    names = [f["name"] for f in send(mock.client, "GET", "/_admin/fixtures").json()["data"]]
    gone = "a/b" not in names
    return Outcome(
        f"201 -> {deleted.status_code}", code_of(deleted), "gone from the list" if gone else "still listed",
        meets=deleted.status_code == 200 and gone,
    )


def multilook_case(body: Callable[[], dict], status: int, check: Callable[[dict], bool]) -> Callable[[Mock], Outcome]:
    """One multilook request: ``status`` and an answer ``check`` accepts (the body is built when run)."""

    def run(mock: Mock) -> Outcome:
        payload = json.dumps(body(), separators=(",", ":")).encode()
        response = send(mock.client, "POST", "/v1/chat/completions/multilook", content=payload,
                        headers={"content-type": "application/json"})
        ok = response.status_code == status and check(response.json())
        completions = sum(len(r.get("completions") or ()) for r in response.json().get("results", ())) if ok else 0
        detail = f"{completions} completions, {len(payload) / MB:.1f} MB body" if completions else f"{len(payload) / MB:.1f} MB body"
        return answered(response, ok, detail)

    return run


def upload_case(parts: list[tuple[str, bytes]], *, end: bool = True, cut: int = 0) -> Callable[[Mock], Outcome]:
    """One ``POST /v1/files`` of the multipart body made of ``parts`` (part headers, data), closed unless
    ``end`` is False, its last ``cut`` bytes dropped: a 4xx in the envelope or a stored file is the
    answer asked for, and the files directory must hold nothing but stored files (``id.bin``/``id.json``)."""
    body = b"".join(b"--hostile\r\n" + head.encode("latin-1") + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    body += b"--hostile--\r\n" if end else b""
    body = body[: len(body) - cut]

    def run(mock: Mock) -> Outcome:
        headers = {"content-type": "multipart/form-data; boundary=hostile"}
        response = send(mock.client, "POST", "/v1/files", content=body, headers=headers)
        files_dir = mock.admin_settings()["files_dir"]
        strays = [n for n in os.listdir(files_dir) if not re.fullmatch(r"file-[A-Za-z0-9]{22}\.(bin|json)", n)]
        strays += [ESCAPED] if os.path.exists(ESCAPED) else []  # where a filename taken as a path would land
        ok = (response.status_code == 200 or is_4xx(response)) and not strays
        return answered(response, ok, f"strays in the files dir: {strays}" if strays else "")

    return run


def multilook_cases() -> list[Case]:
    """Issue 15: the worst cases the multilook limits allow, and past them."""
    from tests.helpers import data_url, image_bytes  # the bench's only use of test helpers: a real PNG

    image = {"type": "image_url", "image_url": {"url": data_url(image_bytes(size=(1024, 768)))}}
    think = [{"role": "system", "content": "<hint>BOX THINK</hint>Find every object."},
             {"role": "user", "content": [image, {"type": "text", "text": "the scene " * 2000}]}]
    mk15 = "perceptron-mk1.5"

    def completions(count: int) -> Callable[[dict], bool]:
        return lambda answer: sum(len(r.get("completions") or ()) for r in answer["results"]) == count

    def refused(code: str) -> Callable[[dict], bool]:
        return lambda answer: answer["error"]["code"] == code

    return [
        Case("multilook 8 prompts x n 8 = 64 completions, reasoning", "200, 64 completions",
             multilook_case(lambda: {"model": mk15, "context": think, "prompts": [f"Count the cups, {i}." for i in range(8)],
                                     "n": 8, "temperature": 1.0, "reasoning_effort": "high"}, 200, completions(64))),
        Case("multilook 16 prompts x n 4, an image in the context and each prompt, BOX THINK", "200, 64 completions",
             multilook_case(lambda: {"model": mk15, "context": think, "n": 4, "temperature": 1.0,
                                     "prompts": [{"content": [image, {"type": "text", "text": f"Where is cup {i}?"}]} for i in range(16)]},
                            200, completions(64))),
        Case("multilook 16 prompts of 1.1 MB text, each past the window", "400 context_length_exceeded",
             multilook_case(lambda: {"model": mk15, "context": [], "prompts": ["word " * 230_000] * 16}, 400,
                            refused("context_length_exceeded"))),
        Case("multilook 100,000 one-letter prompts", "400 request_too_complex",
             multilook_case(lambda: {"model": mk15, "context": [], "prompts": ["q"] * 100_000}, 400, refused("request_too_complex"))),
    ]
_PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000000000200015e2a8b6b0000000049454e44ae426082"
)
ESCAPED = "/tmp/escaped.png"
_PURPOSE = ('Content-Disposition: form-data; name="purpose"', b"vision")


def _file_part(filename: str) -> tuple[str, bytes]:
    return (f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\nContent-Type: image/png', _PNG_1PX)


def cases(args: argparse.Namespace) -> list[Case]:
    n = args.pattern_chars
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "enum": [{"id": i} for i in range(4000)]}
    prompt = _text_request(CAP - 100 * 1024)

    def prompt_case(mock: Mock) -> Outcome:
        response = send(mock.client, "POST", "/v1/chat/completions", content=prompt, headers={"content-type": "application/json"})
        return answered(response, response.status_code == 400 and code_of(response) == "context_length_exceeded")

    evil = {"origin": "http://evil.example", "content-type": "text/plain"}
    cache_target = f"200 or 4xx; growth after the 1st <= caches' byte bounds + {RSS_SLACK_MB:.0f} MB"
    fault = b'{"fault": "503"}'
    return [
        Case("baseline: plain small completion (x20)", "200", plain(20)),
        Case(f"json_schema pattern ^(a+)+$ vs a {n + 1}-char enum value",
             "200 or 4xx",
             schema_case({"type": "string", "pattern": "^(a+)+$", "enum": ["a" * n + "!"]})),
        Case(f"json_schema pattern ^(a+)+$ vs a {n + 1}-char required name",
             "200 or 4xx",
             schema_case({"type": "object", "properties": {}, "required": ["a" * n + "!"],
                          "patternProperties": {"^(a+)+$": {"type": "string"}}, "additionalProperties": False})),
        Case(f"fixture user_text (a+)+$ vs a {args.fixture_chars + 1}-char prompt", "200, or 400 at load",
             catastrophic_fixture(args.fixture_chars)),
        Case(f"{args.schemas} distinct {args.schema_mb:g} MB schemas, then /_admin/reset", cache_target,
             schema_cache(args.schemas, args.schema_mb)),
        Case(f"{args.small_schemas} distinct 0.95 MB schemas (under a 1 MB cap), then /_admin/reset", cache_target,
             schema_cache(args.small_schemas, 0.95)),
        Case("100 MB request header", f"431 request_header_fields_too_large; kept <= {RSS_SLACK_MB:.0f} MB",
             big_header(100), retained_mb=lambda mock: RSS_SLACK_MB),
        Case("30 unauthenticated 8 MB headers", f"431 each; kept <= {RSS_SLACK_MB:.0f} MB",
             many_headers(30, 8), retained_mb=lambda mock: RSS_SLACK_MB),
        Case("schema minimum 1e309 (integer)", "4xx envelope, no 500",
             schema_case({"type": "integer", "minimum": int("1" + "0" * 309)})),
        Case("schema multipleOf 1e-320", "4xx envelope, no 500", schema_case({"type": "number", "multipleOf": 1e-320})),
        Case('schema {"anyOf": [{"$ref": "#"}, {"type": "null"}]}', "4xx envelope, no 500",
             schema_case({"anyOf": [{"$ref": "#"}, {"type": "null"}]})),
        Case("draft-04 enum of 4,000 objects (51 KB)", "200 or 4xx", schema_case(draft4)),
        Case(f"{len(prompt) / MB:.1f} MB text prompt", "400 context_length_exceeded within 1 s", prompt_case, wall_s=1.0),
        Case("admin POST text/plain, Origin: http://evil.example", "403 cross_site_request",
             admin_cross_site("POST", "/_admin/faults", content=fault, headers=evil)),
        Case("admin POST, Sec-Fetch-Site: cross-site", "403 cross_site_request",
             admin_cross_site("POST", "/_admin/faults", content=fault, headers={"sec-fetch-site": "cross-site"})),
        Case("admin GET /_admin/config, Host: evil.example", "403 cross_site_request",
             admin_cross_site("GET", "/_admin/config", headers={"host": "evil.example"})),
        Case('regex "\\B"', "200 fully matching, or 400 unsatisfiable_regex", regex_case("\\B")),
        Case("fixture header value with CR/LF", "400 invalid_fixture at load",
             bad_fixture_header("crlf", {"x-evil": "a\r\nInjected: 1"})),
        Case("fixture header name with a space", "400 invalid_fixture at load", bad_fixture_header("space", {"x bad": "1"})),
        Case("fixture content-length header", "400 invalid_fixture at load", bad_fixture_header("length", {"content-length": "5"})),
        Case("fixture named a/b, deleted by name", "deleted (200), or 400 at load", fixture_named_with_slash),
        # Not in the issue: found while writing this benchmark. Checking an object schema costs time
        # that grows with its properties (on the code the issue was filed against, 10,000 took 2.5 s,
        # 41,666 took 11 s, an 8 MB schema of 266,000 held the loop for 64-108 s); 12,000 stay under
        # the default --max-json-items (25,000).
        Case("(extra) object schema of 12,000 properties", "200 or 4xx",
             schema_case({"type": "object", "properties": {f"p{j}": {} for j in range(12_000)}})),
        *multilook_cases(),
        # Issue 15: uploads (POST /v1/files).
        Case("upload: truncated multipart body", "4xx, nothing left in the files dir",
             upload_case([_PURPOSE, _file_part("a.png")], end=False, cut=20)),
        Case("upload: no file part", "4xx, nothing left in the files dir", upload_case([_PURPOSE])),
        Case("upload: 100,000 tiny parts", "4xx, nothing left in the files dir",
             upload_case([(f'Content-Disposition: form-data; name="p{i}"', b"1") for i in range(100_000)])),
        Case(f"upload: filename ../../(...){ESCAPED}", "stored (the name is metadata) or 4xx",
             upload_case([_PURPOSE, _file_part("../../../../../../../.." + ESCAPED)])),
        Case("upload: filename with a NUL", "4xx or stored, nothing outside the files dir",
             upload_case([_PURPOSE, _file_part("a\x00/../b.png")])),
    ]


# --- running -------------------------------------------------------------------------------------


@dataclass
class Row:
    case: Case
    outcome: Outcome
    wall: float
    health_ms: list[float] = field(default_factory=list)
    health_answered: bool = True
    rss_mb: float = 0.0
    peak_mb: float = 0.0
    tracebacks: int = 0
    met: bool = False

    def health(self) -> str:
        if not self.health_ms:
            return "-"
        mark = "" if self.health_answered else " (unanswered)"
        return f"{max(self.health_ms):.0f} / {percentile(self.health_ms, 0.99):.0f} ({len(self.health_ms)}){mark}"


def run_case(case: Case, timeout: float, flags: list[str]) -> Row:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        mock_process = start_mock(port, flags, log=log)
        url = f"http://127.0.0.1:{port}"
        poller = HealthPoller(url, timeout=timeout + 30)
        try:
            with httpx.Client(base_url=url, headers=KEY, timeout=timeout) as client:
                mock = Mock(url, port, mock_process.pid, client)
                client.post("/v1/chat/completions", json=chat())  # warm-up: lazy imports, first-use caches
                client.get("/_admin/config")
                log.seek(0, os.SEEK_END)
                log_start = log.tell()
                poller.start()
                while len(poller.samples) < 3:
                    time.sleep(0.005)
                before = proc_status_kb(mock.pid) / 1024
                _reset_peak(mock.pid)
                started = time.perf_counter()
                try:
                    outcome = case.run(mock)
                except Step as step:
                    outcome = Outcome(step.what, stalled=step.stalled)
                except Exception as exc:  # an answer the case could not read (not JSON...): shown, not fatal
                    outcome = Outcome(f"unreadable answer: {type(exc).__name__}: {exc}"[:120])
                ended = time.perf_counter()
                poller.done.set()
                poller.join(timeout=1)
                health_ms, health_answered = poller.during(started, ended)
                rss = proc_status_kb(mock.pid) / 1024 - before
                peak = proc_status_kb(mock.pid, "VmHWM") / 1024 - before
                allowed = case.retained_mb(mock) if case.retained_mb and not outcome.stalled else None
        finally:
            poller.done.set()
            stop(mock_process)
            poller.join(timeout=5)
        log.seek(log_start)
        tracebacks = log.read().count(b"Traceback (most recent call last)")
    row = Row(case, outcome, ended - started, health_ms, health_answered, rss, peak, tracebacks)
    row.met = (
        outcome.meets
        and not outcome.stalled
        and health_answered
        and (not health_ms or max(health_ms) <= HEALTH_TARGET_MS)
        and (case.wall_s is None or row.wall <= case.wall_s)
        and (allowed is None or rss <= allowed)
        and tracebacks == 0
    )
    return row


def markdown(rows: list[Row]) -> str:
    lines = [
        "| case | answer | wall s | /health max / p99 ms (polls) | RSS +MB (peak) | tracebacks | target | met |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        answer = row.outcome.status + (f" `{row.outcome.code}`" if row.outcome.code else "")
        if row.outcome.detail:
            answer += f"; {row.outcome.detail}"
        lines.append(
            f"| {row.case.name} | {answer} | {row.wall:.2f} | {row.health()} | {row.rss_mb:+.0f} ({row.peak_mb:+.0f}) "
            f"| {row.tracebacks} | {row.case.target} | {'yes' if row.met else '**NO**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=60.0, help="client timeout per request, seconds")
    parser.add_argument("--pattern-chars", type=int, default=26, help="length of the text a catastrophic pattern is tried on")
    parser.add_argument("--fixture-chars", type=int, default=28, help="the same for the fixture's user_text (a plain search)")
    parser.add_argument("--schemas", type=int, default=20, help="distinct large schemas in the cache case")
    parser.add_argument("--small-schemas", type=int, default=80, help="distinct schemas just under 1 MB in the second cache case")
    parser.add_argument("--schema-mb", type=float, default=8.0, help="size of each of them, MB")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text (and the baseline)")
    parser.add_argument("--mock-args", default="--rate-limit-per-minute 1000000000", help="CLI flags for the mock")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # the mock runs on CPU 0 (bench.completions.start_mock)
    flags = args.mock_args.split()
    selected = [c for i, c in enumerate(cases(args)) if i == 0 or args.only.lower() in c.name.lower()]
    print(f"mock flags: {' '.join(flags) or '(defaults)'}; one fresh mock per case; client timeout {args.timeout:g}s")
    rows = []
    for case in selected:
        row = run_case(case, args.timeout, flags)
        rows.append(row)
        print(
            f"  {case.name}: {row.outcome.status} {row.outcome.code} {row.outcome.detail} | {row.wall:.2f}s | "
            f"/health {row.health()} ms | RSS {row.rss_mb:+.0f} MB (peak {row.peak_mb:+.0f}) | "
            f"tracebacks {row.tracebacks} | {'met' if row.met else 'NOT met'}",
            flush=True,
        )
    print()
    print(markdown(rows))
    print(
        f"\nmet: the answer in 'target', every /health poll answered within {HEALTH_TARGET_MS:.0f} ms while the case ran, "
        "no traceback logged, and the RSS or wall time the target names."
    )


if __name__ == "__main__":
    main()
