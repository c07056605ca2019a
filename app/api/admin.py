"""``/_admin``: the API the people testing use to look inside the mock and steer it (docs: "Admin API").

Bodies are validated here rather than by FastAPI, so that every problem is a 400 naming its field and
``curl -d`` works; who may call it is decided once at start-up (``AdminAccess``).
"""

from __future__ import annotations

import asyncio

import hashlib
import hmac
import ipaddress
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perceptron_mock.answers import caches as answer_caches
from perceptron_mock.answers.fixtures import FixtureFileError, FixtureStore
from perceptron_mock.asgi import header
from perceptron_mock.guards.auth import bearer_token, matches_any
from perceptron_mock.guards.cross_site import refuse_cross_site
from perceptron_mock.protocol.errors import APIError, clip, mask_key, route_not_found, unparseable_json
from perceptron_mock.protocol.validation import json_kind, first_error
from perceptron_mock.settings import Settings
from perceptron_mock.toolkit import journal as journal_view
from perceptron_mock.protocol.faults import FaultSpecError, parse
from perceptron_mock.protocol.test_ids import read_test_id, sees
from perceptron_mock.toolkit.faults import MAX_QUEUED
from perceptron_mock.toolkit.state import Toolkit


def is_loopback(host: str) -> bool:
    """Whether the server's ``--host`` listens on this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# The live view's session (/_admin/ui): a cookie the browser sends by itself, so the cross-site rules
# (and SameSite=Strict) are what keep other sites from using it. Its value is derived from the admin
# key, so every worker accepts it and it never shows the key.
SESSION_COOKIE = "perceptron_mock_admin"


def _session_cookie(scope: Any) -> bytes | None:
    raw = header(scope, b"cookie")
    for pair in (raw or b"").split(b";"):
        name, _, value = pair.strip().partition(b"=")
        if name == SESSION_COOKIE.encode():
            return value
    return None


class AdminAccess:
    """``open`` (loopback, no key), ``key`` (an admin key is required) or ``off``."""

    def __init__(self, settings: Settings) -> None:
        self.key = settings.admin_key.encode() if settings.admin_key else None
        self.session = hmac.new(self.key, b"perceptron-mock /_admin/ui session", hashlib.sha256).hexdigest() if self.key else None
        if self.key is not None:
            self.mode = "key"
        elif is_loopback(settings.host):
            self.mode = "open"
        else:
            self.mode = "off"

    def check_place(self, request: Request) -> None:
        """Refuse a request from where the admin API is off (404) or from another site (403)."""
        if self.mode == "off":
            raise route_not_found(request.method, request.url.path)
        # Open, it must also be called by a loopback name: a keyed mock is reached by any name
        # (a docker-compose service), and a rebinding page cannot send the key.
        refuse_cross_site(request.scope, loopback_host=self.mode == "open")

    def is_key(self, token: bytes) -> bool:
        return matches_any(token, [self.key or b""])

    def check(self, request: Request) -> None:
        self.check_place(request)
        if self.mode == "open":
            return
        token = bearer_token(request.scope)
        if token is None:
            cookie = _session_cookie(request.scope)
            if cookie is not None and self.session is not None and hmac.compare_digest(cookie, self.session.encode()):
                return
        if token is None or not matches_any(token, [self.key or b""]):
            raise APIError(
                401,
                "The admin API needs the admin key: send it as 'Authorization: Bearer <admin key>'.",
                code="invalid_admin_key",
            )


def _guard(request: Request) -> None:
    request.app.state.admin_access.check(request)


def _toolkit(request: Request) -> Toolkit:
    return request.app.state.toolkit


def _test_id(request: Request) -> str | None:
    return read_test_id(request.scope)


router = APIRouter(prefix="/_admin", include_in_schema=False, dependencies=[Depends(_guard)])
ToolkitDep = Annotated[Toolkit, Depends(_toolkit)]
# X-Mock-Test-Id: the call sees and changes that test's entries, faults and fixtures (and sees the shared ones).
ScopeDep = Annotated[str | None, Depends(_test_id)]


# --- request bodies --------------------------------------------------------------------------------

Body = TypeVar("Body", bound=BaseModel)


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, whatever content-type it was sent with; else the 400 the API gives."""
    raw = await request.body()
    if not raw.strip():
        raise unparseable_json("the body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise unparseable_json(str(exc)) from None
    if not isinstance(data, dict):
        raise unparseable_json(f"got {json_kind(data)}, not an object")
    return data


def _validated(model: type[Body], data: dict[str, Any]) -> Body:
    """``data`` as ``model``, or a 400 naming the first field that is wrong, as chat completions does."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc.errors(include_url=False)) from None


# --- journal ---------------------------------------------------------------------------------------


def _journal_off() -> APIError:
    return APIError(409, "The journal is off (journal_size is 0).", code="journal_off")


@router.get("/requests")
async def list_requests(
    toolkit: ToolkitDep,
    model: str | None = None,
    status: Annotated[str | None, Query(pattern=r"^(\d{3}|[1-5]xx|none)$")] = None,
    path: str | None = None,
    method: str | None = None,
    request_id: str | None = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    test_id: ScopeDep = None,
) -> dict[str, Any]:
    if toolkit.journal is None:
        raise _journal_off()
    entries = await toolkit.journal.entries()
    data = journal_view.select(
        entries, model=model, status=status, path=path, method=method, request_id=request_id, limit=limit, test_id=test_id
    )
    return {"object": "list", "data": data}


@router.delete("/requests")
async def clear_requests(toolkit: ToolkitDep, test_id: ScopeDep) -> dict[str, Any]:
    if toolkit.journal is None:
        raise _journal_off()
    deleted = await toolkit.journal.clear(test_id)
    if test_id is None:  # a test's own clear leaves the images and live views of the others
        toolkit.forget_journal()
    return {"deleted": deleted}


# --- faults ----------------------------------------------------------------------------------------


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fault: str = Field(description="A fault spec, as in the X-Mock-Fault header (e.g. '503', 'cut=3').")
    count: int = Field(1, ge=1, le=1_000_000, description="How many requests get it.")
    model: str | None = Field(None, description="Only requests for this model take it.")


@router.post("/faults", status_code=201)
async def add_fault(request: Request, toolkit: ToolkitDep, test_id: ScopeDep) -> dict[str, Any]:
    body = _validated(FaultRequest, await _json_object(request))
    try:
        fault = parse(body.fault)
    except FaultSpecError as exc:
        raise APIError(400, f"Invalid fault: {exc}.", param="fault", code="invalid_fault") from None
    if len(await toolkit.faults.store.list()) >= MAX_QUEUED:  # every request walks the queue
        raise APIError(400, f"{MAX_QUEUED} faults are already queued, the most kept; clear some first.", code="too_many_faults")
    queued = await toolkit.faults.store.push(fault, body.count, body.model, test_id)
    return queued.describe()


@router.get("/faults")
async def list_faults(toolkit: ToolkitDep, test_id: ScopeDep) -> dict[str, Any]:
    queued = [q.describe() for q in await toolkit.faults.store.list() if sees(q.test_id, test_id)]
    return {"object": "list", "data": queued}


@router.delete("/faults")
async def clear_faults(toolkit: ToolkitDep, test_id: ScopeDep) -> dict[str, Any]:
    return {"deleted": await toolkit.faults.store.clear(test_id)}


# --- fixtures (the store is perceptron_mock.answers.fixtures.FixtureStore) --------------------------------------


def _fixtures(request: Request) -> FixtureStore:
    return request.app.state.fixtures


FixturesDep = Annotated[FixtureStore, Depends(_fixtures)]


def _bad_fixture(exc: FixtureFileError) -> APIError:
    return APIError(400, f"Invalid fixture: {exc}", code="invalid_fixture")


@router.post("/fixtures", status_code=201)
async def add_fixture(request: Request, fixtures: FixturesDep, test_id: ScopeDep, first: bool = False) -> dict[str, Any]:
    """Add a fixture, ``{name?, match, respond}`` as in a fixture file; ``?first=true`` puts it ahead of
    every other one (the first match answers)."""
    body = await _json_object(request)
    try:
        return fixtures.add(body, first=first, test_id=test_id).describe()
    except FixtureFileError as exc:
        raise _bad_fixture(exc) from None


@router.get("/fixtures")
async def list_fixtures(fixtures: FixturesDep, test_id: ScopeDep) -> dict[str, Any]:
    return {"object": "list", "data": fixtures.list(test_id)}


@router.delete("/fixtures")
async def clear_fixtures(fixtures: FixturesDep, test_id: ScopeDep) -> dict[str, Any]:
    """Remove the fixtures added at run time; those from the fixtures directory stay."""
    return {"deleted": fixtures.clear(test_id)}


# ``:path``: a name may hold a slash (``a/b``), which the client sends as %2F and the server decodes.
@router.delete("/fixtures/{name:path}")
async def remove_fixture(name: str, fixtures: FixturesDep, test_id: ScopeDep) -> dict[str, Any]:
    if not fixtures.remove(name, test_id):
        raise APIError(404, f"No fixture is called {clip(name)!r}.", param="name", code="fixture_not_found")
    return {"deleted": 1}


@router.post("/fixtures/reload")
async def reload_fixtures(fixtures: FixturesDep) -> dict[str, Any]:
    """Re-read the fixtures directory now; a bad file is a 400 and leaves the fixtures as they were."""
    try:
        return {"fixtures": fixtures.reload()}
    except FixtureFileError as exc:
        raise _bad_fixture(exc) from None


# --- reset and config ------------------------------------------------------------------------------


@router.post("/reset")
async def reset(request: Request, toolkit: ToolkitDep, fixtures: FixturesDep, test_id: ScopeDep) -> dict[str, Any]:
    """Back to the state of a fresh start: no journal, no queued faults, full rate-limit buckets, empty
    schema and pattern caches, and the fixtures of the fixtures directory as it is now (re-read: one
    removed by name comes back), no uploaded files and a full upload quota. ``fixtures`` counts the
    run-time fixtures removed, ``cache_bytes`` what the caches were counted at. A bad fixture file is a
    400 and changes nothing. With a test id, only that test's journal entries, queued faults and
    run-time fixtures go (what all tests share stays: buckets, caches, files, the directory)."""
    if test_id is not None:
        journal = await toolkit.journal.clear(test_id) if toolkit.journal is not None else 0
        return {
            "journal": journal, "faults": await toolkit.faults.store.clear(test_id), "fixtures": fixtures.clear(test_id),
            "rate_limits": False, "cache_bytes": 0,
        }
    try:
        removed = fixtures.reset()  # first: a bad file leaves everything as it was
    except FixtureFileError as exc:
        raise _bad_fixture(exc) from None
    journal = await toolkit.journal.clear() if toolkit.journal is not None else 0
    toolkit.forget_journal()
    faults = await toolkit.faults.store.clear()
    limiter = request.app.state.limiter  # None when rate limiting is off
    for each in (limiter, request.app.state.models_limiter):
        if each is not None:
            await each.reset()
    for each in request.app.state.files_limiters.values():
        if each is not None:
            await each.reset()
    quota = request.app.state.upload_quota
    if quota is not None:
        await quota.reset()
    files = await asyncio.to_thread(request.app.state.files.clear)  # uploaded files, also in a --files-dir
    freed = answer_caches.clear()
    return {
        "journal": journal,
        "faults": faults,
        "fixtures": removed,
        "rate_limits": limiter is not None,
        "cache_bytes": freed,
        "files": files,
    }


def _masked(name: str, value: Any) -> Any:
    """Settings as shown to anyone with admin access: keys masked, passwords out of URLs."""
    if name == "api_keys":
        return [mask_key(key) for key in value]
    if isinstance(value, str) and value and ("key" in name or "password" in name or "secret" in name):
        return mask_key(value)
    if isinstance(value, str) and "://" in value and "@" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    return value


@router.get("/config")
async def config(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    shown = {name: _masked(name, value) for name, value in settings.model_dump(mode="json").items()}
    return {"settings": shown, "admin_access": request.app.state.admin_access.mode}
