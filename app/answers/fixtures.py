"""Fixtures: scripted answers for the requests they match, tried before the rules.

A fixture file (``*.yaml``, ``*.yml`` or ``*.json`` in the fixtures directory) holds one fixture, a
list of them, or ``{"fixtures": [...]}``. A fixture is ``match`` (every condition given must hold) and
``respond`` (what to send); see the README's "Fixtures" section for the format with examples. Files
are read in name order and fixtures in file order; the first that matches answers.

``FixtureStore`` is the run-time store: ``load`` reads and validates a directory at start-up (a bad
file raises ``FixtureFileError`` naming the file, the fixture and the problem, and the server does not
start); ``add``, ``remove``, ``list`` and ``reload`` change it while the server runs (the admin API's
verbs), and with ``reload_seconds`` the store re-reads the directory when its files change. A reload
that finds a bad file keeps the fixtures it had and logs the problem.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perceptron_mock.accounting.prompt import Prompt
from perceptron_mock.answers.answer import Answer, Pacing
from perceptron_mock.answers.hints import Hints
from perceptron_mock.answers.patterns import Matcher, PatternError
from perceptron_mock.protocol.errors import APIError, clip
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.protocol.faults import FaultSpecError, parse as parse_fault

log = logging.getLogger("perceptron_mock")

SUFFIXES = (".yaml", ".yml", ".json")
_MISSING = object()


class FixtureFileError(ValueError):
    """A fixture file that cannot be used; the message names the file and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Match(_Model):
    model: Annotated[list[str], Field(min_length=1)] | None = None
    hints: list[str] | None = None  # the exact set of hint tokens (order and case do not matter); [] = none
    user_text: str | None = None  # a regex searched (by RE2) in the last user message's text
    system_text: str | None = None  # a regex searched (by RE2) in the system messages (hint tags included)
    image_sha256: Annotated[list[str], Field(min_length=1)] | None = None  # any image has one of these
    image_url: Annotated[list[str], Field(min_length=1)] | None = None  # any image URL is one of these
    image_count: Annotated[int, Field(ge=0)] | None = None
    body: dict[str, Any] | None = None  # dotted path in the request body → the exact JSON value there

    _one_or_many = field_validator("model", "image_sha256", "image_url", mode="before")(_one_or_many)

    @field_validator("user_text", "system_text")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Matcher(value)  # here for the error message; the Fixture compiles its own
            except PatternError as exc:
                shown = repr(value if len(value) <= 80 else value[:80] + "…")
                if exc.code == "invalid_regex":
                    raise ValueError(f"invalid regex {shown}: {exc.message.removeprefix('Invalid regex: ').rstrip('.')}") from None
                why = exc.message[0].lower() + exc.message[1:].rstrip(".")
                raise ValueError(f"regex {shown} cannot be searched in linear time (with RE2): {why}") from None
        return value

    @field_validator("hints")
    @classmethod
    def _hints(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({token.upper() for token in value})

    @field_validator("image_sha256")
    @classmethod
    def _sha(cls, value: list[str] | None) -> list[str] | None:
        for digest in value or ():
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(f"{digest!r} is not a hex sha256 (64 hex digits)")
        return None if value is None else [digest.lower() for digest in value]


# RFC 9110: a field name is a token; a field value is visible characters, spaces and tabs (and bytes
# over 0x7F): no CR, LF, NUL or other control character, which would end or corrupt the response head.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Set by the mock on every answer (framing, connection handling, its own ids): a fixture's copy would
# conflict with them (a second content-length makes clients drop the response).
MOCKS_OWN_HEADERS = frozenset(
    {
        "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "content-type", "x-request-id", "x-trace-id",
    }
)


class ErrorSpec(_Model):
    status: Annotated[int, Field(ge=400, le=599)]
    body: dict[str, Any] | None = None  # sent as is; default: the OpenAI envelope of the fields below
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, field_value in value.items():
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"{clip(name)!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
            if name.lower() in MOCKS_OWN_HEADERS:
                raise ValueError(f"{clip(name)!r} is set by the mock itself and cannot be scripted")
            if _FIELD_VALUE_FORBIDDEN.search(field_value):
                raise ValueError(f"the value of {clip(name)!r} holds a control character (CR, LF, NUL...), which no header may")
        return value


class PacingSpec(_Model):
    first_token_ms: Annotated[float, Field(ge=0, le=600_000)] = 0.0
    tokens_per_second: Annotated[float, Field(gt=0)] | None = None


class UsageSpec(_Model):
    prompt_tokens: Annotated[int, Field(ge=0)]
    completion_tokens: Annotated[int, Field(ge=0)]
    total_tokens: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _total(self) -> "UsageSpec":
        if self.total_tokens is not None and self.total_tokens != self.prompt_tokens + self.completion_tokens:
            raise ValueError("total_tokens must equal prompt_tokens + completion_tokens")
        return self


class Respond(_Model):
    content: str | None = None  # None: the rules write the content
    reasoning_content: str | None = None
    finish_reason: Literal["stop", "length", "content_filter", "tool_calls"] | None = None
    usage: UsageSpec | None = None
    latency_ms: Annotated[float, Field(ge=0, le=600_000)] = 0.0
    pacing: PacingSpec | None = None
    error: ErrorSpec | None = None
    fault: str | None = None  # a fault spec, as in the X-Mock-Fault header (perceptron_mock.toolkit.faults)

    @field_validator("fault")
    @classmethod
    def _fault(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_fault(value)
            except FaultSpecError as exc:
                raise ValueError(f"invalid fault spec {value!r}: {exc}") from None
        return value


class FixtureSpec(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    match: Match = Field(default_factory=Match)
    respond: Respond


class ScriptedError(APIError):
    """A fixture's error: its status, and its body exactly as written (or the OpenAI envelope)."""

    def __init__(self, spec: ErrorSpec) -> None:
        message = spec.message or f"Scripted error {spec.status}."
        kind = spec.type or ("server_error" if spec.status >= 500 else "invalid_request_error")
        super().__init__(spec.status, message, type=kind, param=spec.param, code=spec.code, headers=dict(spec.headers))
        self._raw = orjson.dumps(spec.body, option=orjson.OPT_INDENT_2) if spec.body is not None else None

    def body(self) -> bytes:
        return self._raw if self._raw is not None else super().body()


# --- one fixture, compiled ------------------------------------------------------------------------


def _lookup(body: dict, path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass
class Fixture:
    """A validated fixture with its matchers compiled and its answer built once."""

    name: str
    spec: FixtureSpec
    source: str  # the file it came from, or "api"
    hints: frozenset[str] | None = field(init=False)
    user_text: Matcher | None = field(init=False)
    system_text: Matcher | None = field(init=False)
    answer: Answer = field(init=False)

    def __post_init__(self) -> None:
        match, respond = self.spec.match, self.spec.respond
        self.hints = frozenset(match.hints) if match.hints is not None else None
        self.user_text = Matcher(match.user_text) if match.user_text is not None else None
        self.system_text = Matcher(match.system_text) if match.system_text is not None else None
        fault = None
        if respond.fault is not None:
            fault = parse_fault(respond.fault)
        pacing = respond.pacing
        self.answer = Answer(
            content=respond.content or "",
            reasoning=respond.reasoning_content,
            finish_reason=respond.finish_reason or "stop",
            pacing=Pacing(pacing.first_token_ms, pacing.tokens_per_second) if pacing else None,
            error=ScriptedError(respond.error) if respond.error else None,
            latency_ms=respond.latency_ms,
            prompt_tokens=respond.usage.prompt_tokens if respond.usage else None,
            completion_tokens=respond.usage.completion_tokens if respond.usage else None,
            fault=fault,
        )

    @property
    def writes_content(self) -> bool:
        return self.spec.respond.content is not None

    def matches(self, request: ChatCompletionRequest, prompt: Prompt, hints: Hints, body: "_LazyBody") -> bool:
        match = self.spec.match
        if match.model is not None and request.model not in match.model:
            return False
        if self.hints is not None and hints.tokens != self.hints:
            return False
        if self.user_text is not None and not self.user_text.search(prompt.user_text):
            return False
        if self.system_text is not None and not any(self.system_text.search(t) for t in prompt.system_texts):
            return False
        if match.image_count is not None and len(prompt.images) != match.image_count:
            return False
        if match.image_sha256 is not None and not any(i.sha256 in match.image_sha256 for i in prompt.images):
            return False
        if match.image_url is not None and not any(i.url in match.image_url for i in prompt.images):
            return False
        if match.body is not None:
            dumped = body.get()
            for path, expected in match.body.items():
                if _lookup(dumped, path) != expected:
                    return False
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, **self.spec.model_dump(mode="json", exclude_none=True)}


class _LazyBody:
    """The request as JSON, dumped only if some fixture matches on body fields."""

    def __init__(self, request: ChatCompletionRequest) -> None:
        self.request = request
        self.value: dict | None = None

    def get(self) -> dict:
        if self.value is None:
            self.value = self.request.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.value


# --- files ----------------------------------------------------------------------------------------


def _problem(exc: ValidationError, prefix: str) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    place = f"{prefix}{'.' + where if where else ''}"
    return f"{place}: {first['msg'].removeprefix('Value error, ')}"


def parse_fixture(data: Any, *, name: str | None = None, source: str = "api", where: str = "fixture") -> Fixture:
    """One fixture from its JSON/YAML value; ``FixtureFileError`` names what is wrong."""
    try:
        spec = FixtureSpec.model_validate(data)
    except ValidationError as exc:
        raise FixtureFileError(_problem(exc, where)) from None
    return Fixture(name=spec.name or name or where, spec=spec, source=source)


def read_file(path: Path) -> list[Fixture]:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureFileError(f"{label}: cannot be read ({exc})") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FixtureFileError(f"{label}: is not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})") from None
    if isinstance(data, dict) and "fixtures" in data:
        if set(data) != {"fixtures"}:
            raise FixtureFileError(f"{label}: a file with 'fixtures' may hold nothing else")
        data = data["fixtures"]
    if data is None:
        return []
    items = data if isinstance(data, list) else [data]
    fixtures = []
    for i, item in enumerate(items):
        where = f"fixtures[{i}]" if isinstance(data, list) else "fixture"
        try:
            fixtures.append(parse_fixture(item, name=f"{path.stem}#{i}", source=label, where=where))
        except FixtureFileError as exc:
            raise FixtureFileError(f"{label}: {exc}") from None
    return fixtures


def read_directory(directory: Path) -> list[Fixture]:
    if not directory.is_dir():
        raise FixtureFileError(f"{directory}: the fixtures directory does not exist or is not a directory")
    fixtures: list[Fixture] = []
    names: dict[str, str] = {}
    for path in _files(directory):
        for fixture in read_file(path):
            if fixture.name in names:
                raise FixtureFileError(f"{path}: fixture name {fixture.name!r} is already used in {names[fixture.name]}")
            names[fixture.name] = str(path)
            fixtures.append(fixture)
    return fixtures


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())


def _signature(directory: Path) -> tuple:
    try:
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in _files(directory))
    except OSError:
        return ()


# --- the store ------------------------------------------------------------------------------------


class FixtureStore:
    """The fixtures in force: those read from the directory, then those added at run time."""

    def __init__(self, directory: Path | None = None, *, reload_seconds: float = 0.0) -> None:
        self.directory = directory
        self.reload_seconds = reload_seconds
        self._front: tuple[Fixture, ...] = ()  # added at run time ahead of the rest
        self._from_files: tuple[Fixture, ...] = ()
        self._added: tuple[Fixture, ...] = ()  # added at run time after the rest
        self._counter = 0
        self._all: tuple[Fixture, ...] = ()
        self.searches_text = False  # some fixture has user_text or system_text
        self._signature: tuple = ()
        self._checked_at = 0.0

    @classmethod
    def load(cls, directory: Path | None, *, reload_seconds: float = 0.0) -> "FixtureStore":
        """The store for ``directory`` (None: empty), or ``FixtureFileError`` for the first bad file."""
        store = cls(directory, reload_seconds=reload_seconds)
        if directory is not None:
            store._signature = _signature(directory)
            store._from_files = tuple(read_directory(directory))
            store._checked_at = time.monotonic()
            store._rebuild()
        return store

    def _rebuild(self) -> None:
        self._all = self._front + self._from_files + self._added
        self.searches_text = any(f.user_text is not None or f.system_text is not None for f in self._all)

    # -- the admin verbs -------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        return [fixture.describe() for fixture in self._all]

    def add(self, data: Any, *, first: bool = False) -> Fixture:
        """Add a fixture given as its JSON value; ``first`` puts it ahead of every other one."""
        self._counter += 1
        fixture = parse_fixture(data, name=f"api#{self._counter}", source="api")
        if any(existing.name == fixture.name for existing in self._all):
            raise FixtureFileError(f"fixture name {fixture.name!r} is already used")
        if first:
            self._front = (fixture, *self._front)
        else:
            self._added = (*self._added, fixture)
        self._rebuild()
        return fixture

    def remove(self, name: str) -> bool:
        """Remove the fixture called ``name`` (from a file too, until the next reload)."""
        before = len(self._all)
        self._front = tuple(f for f in self._front if f.name != name)
        self._from_files = tuple(f for f in self._from_files if f.name != name)
        self._added = tuple(f for f in self._added if f.name != name)
        self._rebuild()
        return len(self._all) < before

    def clear(self) -> int:
        """Remove the fixtures added at run time; the directory's stay."""
        count = len(self._front) + len(self._added)
        self._front, self._added = (), ()
        self._rebuild()
        return count

    def reload(self) -> int:
        """Re-read the directory (``FixtureFileError`` leaves the store as it was); run-time additions stay."""
        if self.directory is None:
            return len(self._all)
        signature = _signature(self.directory)
        fixtures = tuple(read_directory(self.directory))
        self._from_files, self._signature = fixtures, signature
        self._rebuild()
        return len(self._all)

    def reset(self) -> int:
        """Back to a fresh start: the directory's fixtures as it is now (one removed by name comes back)
        and none added at run time; returns how many run-time ones were removed. ``FixtureFileError``
        leaves the store as it was."""
        self.reload()
        return self.clear()

    # -- the hot path -----------------------------------------------------------------------------
    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.reload_seconds:
            return
        self._checked_at = now
        signature = _signature(self.directory)  # type: ignore[arg-type]
        if signature == self._signature:
            return
        try:
            count = self.reload()
        except FixtureFileError as exc:
            self._signature = signature  # do not re-read the same bad file on every check
            log.error("fixtures not reloaded, keeping the previous ones: %s", exc)
            return
        log.info("fixtures reloaded from %s: %d in force", self.directory, count)

    def find(self, request: ChatCompletionRequest, prompt: Prompt, hints: Hints) -> Fixture | None:
        if self.reload_seconds and self.directory is not None:
            self._maybe_reload()
        if not self._all:
            return None
        body = _LazyBody(request)
        for fixture in self._all:
            if fixture.matches(request, prompt, hints, body):
                return fixture
        return None
