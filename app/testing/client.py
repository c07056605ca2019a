"""``MockClient``: the ``/_admin`` API from Python, for a mock started anywhere (the pytest plugin, a
container, a shell).

It speaks plain HTTP with the standard library, so installing the mock brings no client dependency;
the openai and perceptron clients it can hand out are imported only when asked for.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, fields
from typing import Any

FAULT_HEADER = "X-Mock-Fault"
PACING_HEADER = "X-Mock-Pacing"
TEST_ID_HEADER = "X-Mock-Test-Id"

# The mock is local: an HTTP(S)_PROXY in the environment must not capture calls to it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MockAdminError(Exception):
    """An ``/_admin`` call was refused; ``status`` and ``error`` (the envelope's fields) say why."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status}: {error.get('message', error)}")
        self.status = status
        self.error = error


@dataclass(frozen=True)
class RecordedRequest:
    """One journal entry (``GET /_admin/requests``)."""

    id: int
    request_id: str | None  # the x-request-id the client got; None when no answer was sent
    time: float  # when the request arrived (Unix seconds)
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; credentials are never recorded
    headers_shortened: bool  # long values clipped or headers left out (docs/admin-api.md, the journal)
    body: Any  # the JSON body, or None when it was empty or not JSON
    body_text: str | None  # the body when it was not JSON
    body_shortened: bool  # long strings were shortened (the body was over journal_body_bytes)
    model: str | None
    stream: bool
    status: int | None  # None: no answer was sent (hang, reset, client gone)
    complete: bool  # False: the answer was cut off
    duration_ms: float
    fault: str | None  # the fault spec this request got
    answer: dict[str, Any] | None  # what was answered: content, reasoning, tool_calls, error, stream events
    images: list[str | None]  # sha256 of each data-URL image of the body, in order (the live view shows them)
    tool_calls: list[dict[str, Any]] | None = None  # the calls the answer made: {id, name, arguments}
    test_id: str | None = None  # the X-Mock-Test-Id it carried

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "RecordedRequest":
        return cls(**{f.name: entry.get(f.name) for f in fields(cls)})

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []


class MockClient:
    """Drive a running mock: read its journal, queue faults, add fixtures, reset it.

    ``admin_key`` is the mock's ``--admin-key``, needed when it listens beyond loopback. ``test_id`` scopes
    every call, and the SDK clients it hands out, to one test (``X-Mock-Test-Id``) on a shared mock."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str = "test-key",
        admin_key: str | None = None,
        timeout: float = 10.0,
        test_id: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.admin_key = admin_key
        self.timeout = timeout
        self.test_id = test_id

    @property
    def base_url(self) -> str:
        """What the SDKs take as ``base_url``."""
        return self.url + "/v1"

    # --- plumbing ---

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.url}/_admin{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if self.admin_key:
            request.add_header("authorization", f"Bearer {self.admin_key}")
        if self.test_id is not None:
            request.add_header(TEST_ID_HEADER, self.test_id)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                error = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                error = {"message": raw.decode("utf-8", "replace")}
            raise MockAdminError(exc.code, error) from None
        return json.loads(payload) if payload else None

    # --- journal ---

    def requests(
        self,
        *,
        model: str | None = None,
        status: int | str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int | None = None,
    ) -> list[RecordedRequest]:
        """The journal, oldest first; ``status`` is a code (503), a class ("5xx") or "none"."""
        params = {"model": model, "status": status, "path": path, "method": method, "limit": limit}
        return [RecordedRequest.from_json(e) for e in self._call("GET", "/requests", params=params)["data"]]

    @property
    def last_request(self) -> RecordedRequest | None:
        found = self.requests(limit=1)
        return found[0] if found else None

    def wait_for_requests(self, count: int, *, timeout: float = 5.0, **filters: Any) -> list[RecordedRequest]:
        """The journal once it holds ``count`` matching entries. A request the client abandoned (a hang, a
        reset) is recorded when the server notices, a moment after the client's call returned."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests(**filters)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def clear_requests(self) -> int:
        return self._call("DELETE", "/requests")["deleted"]

    # --- faults ---

    def fail_next(self, fault: str = "503", count: int = 1, *, model: str | None = None) -> dict[str, Any]:
        """The next ``count`` completions requests (for ``model``, if given) get ``fault``, then normal."""
        return self._call("POST", "/faults", {"fault": fault, "count": count, "model": model})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["data"]

    def clear_faults(self) -> int:
        return self._call("DELETE", "/faults")["deleted"]

    @staticmethod
    def fault_header(fault: str) -> dict[str, str]:
        """Headers that give one request ``fault``, e.g. ``extra_headers=mock.fault_header("hang")``."""
        return {FAULT_HEADER: fault}

    @staticmethod
    def pacing_header(spec: str) -> dict[str, str]:
        """Headers that pace one streamed request, e.g. ``extra_headers=mock.pacing_header("ttft=300; sd=80; tps=30")``."""
        return {PACING_HEADER: spec}

    # --- fixtures ---

    def add_fixture(self, fixture: dict[str, Any] | None = None, *, first: bool = False, **fields: Any) -> dict[str, Any]:
        """Add a fixture (``{name?, match, respond}`` as in a fixture file, or the same as keywords);
        ``first=True`` puts it ahead of every other one. Returns it as the mock stored it."""
        body = {**(fixture or {}), **fields}
        return self._call("POST", "/fixtures", body, params={"first": "true" if first else None})

    def script_tool_call(
        self, name: str, arguments: dict[str, Any] | str | None = None, *, then: str | None = None, **match: Any
    ) -> dict[str, Any]:
        """Script one agent step: the first turn of a conversation offering tool ``name`` calls it with
        ``arguments`` (None: made from its parameters), and the turn after the result answers ``then``
        (None: the rules' answer, which quotes the result). ``match``: more conditions, as in a fixture."""
        steps: list[dict[str, Any]] = [{"tool_calls": [{"name": name, "arguments": arguments}]}]
        if then is not None:
            steps.append({"content": then})
        return self.add_fixture(match={"tools": [name], **match}, respond={"script": steps}, first=True)

    def fixtures(self) -> list[dict[str, Any]]:
        return self._call("GET", "/fixtures")["data"]

    def remove_fixture(self, name: str) -> None:
        self._call("DELETE", f"/fixtures/{urllib.parse.quote(name, safe='')}")

    def clear_fixtures(self) -> int:
        """Remove the fixtures added at run time (those from the fixtures directory stay)."""
        return self._call("DELETE", "/fixtures")["deleted"]

    def reload_fixtures(self) -> int:
        return self._call("POST", "/fixtures/reload")["fixtures"]

    # --- the rest ---

    def reset(self) -> dict[str, Any]:
        """Back to a fresh start: journal, fault queue, rate-limit counters, run-time fixtures and uploaded
        files cleared, the fixtures directory re-read (a directory fixture removed by name comes back). With a
        ``test_id``, only that test's journal entries, faults and run-time fixtures are cleared."""
        return self._call("POST", "/reset")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/config")

    def openai_client(self, **options: Any) -> Any:
        """An ``openai.OpenAI`` pointed at the mock (``options`` go to its constructor)."""
        import openai

        if self.test_id is not None:
            options["default_headers"] = {TEST_ID_HEADER: self.test_id, **options.get("default_headers", {})}
        return openai.OpenAI(**{"base_url": self.base_url, "api_key": self.api_key, **options})

    def perceptron_client(self, **options: Any) -> Any:
        """A ``perceptron.Client`` pointed at the mock (with the test id, through an httpx client of its own)."""
        import perceptron

        if self.test_id is not None and "http_client" not in options:
            import httpx

            options["http_client"] = httpx.Client(timeout=options.get("timeout", 60.0), headers={TEST_ID_HEADER: self.test_id})
        return perceptron.Client(**{"base_url": self.base_url, "api_key": self.api_key, **options})
