"""``/_admin/ui``: the live view, a page that shows the journal as it grows and steers the mock.

Under the admin API's rules (``admin.AdminAccess``): with an admin key the page asks for it once and
keeps a session cookie. Static files of the package, a strict Content-Security-Policy and no inline
script, so that text a client wrote can never run on the page (docs: "Live view").
"""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from typing import Any, AsyncIterator
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from perceptron_mock.api.admin import SESSION_COOKIE, AdminAccess
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.test_ids import VALID as TEST_ID, invalid_test_id
from perceptron_mock.toolkit import journal as journal_view
from perceptron_mock.toolkit.live import CLEARED
from perceptron_mock.toolkit.state import Toolkit

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # same-origin, not no-referrer: with no-referrer a form POST carries "Origin: null", which the
    # cross-site rules refuse.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
STATIC = {
    path.name: (path.read_bytes(), _TYPES[path.suffix])
    for path in resources.files("perceptron_mock.api").joinpath("static").iterdir()
    if path.name.endswith(tuple(_TYPES))
}
# Image kinds served as what they are; anything else is served as a download, never rendered here.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"), (b"BM", "image/bmp"))
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FORM_BYTES = 4096
_ROW_FIELDS = (
    "id", "request_id", "time", "method", "path", "model", "status", "fault", "duration_ms", "stream", "complete", "test_id",
)


def _access(request: Request) -> AdminAccess:
    return request.app.state.admin_access


def _guard(request: Request) -> None:
    _access(request).check(request)


def _toolkit(request: Request) -> Toolkit:
    return request.app.state.toolkit


router = APIRouter(prefix="/_admin/ui", include_in_schema=False)


def _login(message: str, status: int = 401) -> Response:
    """The key form: constant text only, so nothing a caller sent is ever shown back."""
    html = STATIC["login.html"][0].replace(b"{message}", message.encode())
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("")
async def page(request: Request) -> Response:
    access = _access(request)
    access.check_place(request)  # off (404) and cross-site (403) as the admin API
    try:
        access.check(request)
    except APIError as error:
        if error.status != 401:
            raise
        return _login("The live view needs the admin key (the mock's --admin-key).")
    body, kind = STATIC["ui.html"]
    return Response(body, media_type=kind, headers=PAGE_HEADERS)


@router.post("/session")
async def session(request: Request) -> Response:
    """The key form's target: the session cookie when the key is right, the form again when not."""
    access = _access(request)
    access.check_place(request)
    back = Response(status_code=303, headers={"location": "/_admin/ui", "cache-control": "no-store"})
    if access.mode != "key":
        return back
    raw = await request.body()
    # The key is the form's one field: a body past a few kB is no key, and is not parsed.
    form = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=4) if len(raw) <= _FORM_BYTES else {}
    key = (form.get("key") or [""])[0].encode()
    if not key or not access.is_key(key):
        return _login("That is not the admin key.")
    back.set_cookie(SESSION_COOKIE, access.session or "", path="/_admin", httponly=True, samesite="strict")
    return back


@router.post("/logout", dependencies=[Depends(_guard)])
async def logout() -> Response:
    back = Response(status_code=303, headers={"location": "/_admin/ui", "cache-control": "no-store"})
    back.delete_cookie(SESSION_COOKIE, path="/_admin", httponly=True, samesite="strict")
    return back


@router.get("/static/{name}", dependencies=[Depends(_guard)])
async def static(name: str) -> Response:
    found = STATIC.get(name)
    if found is None:
        raise APIError(404, "No such file of the live view.", param="name", code="not_found")
    return Response(found[0], media_type=found[1], headers=PAGE_HEADERS)


@router.get("/images/{digest}", dependencies=[Depends(_guard)])
async def image(digest: str, request: Request) -> Response:
    """An image of a journaled request, by the sha256 its entry lists (``images``)."""
    store = _toolkit(request).images
    found = store.get(digest) if store is not None and _SHA256.match(digest) else None
    if found is None:
        raise APIError(404, "That image is not kept (--journal-image-bytes).", param="digest", code="image_not_kept")
    data = found[1]
    kind = _sniffed(data)
    headers = {**PAGE_HEADERS, "content-security-policy": "default-src 'none'; sandbox", "cache-control": "private, max-age=3600"}
    if kind is None:  # an SVG or anything else that a browser might run: a download
        kind = "application/octet-stream"
        headers["content-disposition"] = f'attachment; filename="{digest[:16]}"'
    return Response(data, media_type=kind, headers=headers)


@router.get("/files/{file_id}", dependencies=[Depends(_guard)])
async def stored_file(file_id: str, request: Request) -> Response:
    """An uploaded image that a request named by ``image_file_id``, streamed from the files directory."""
    store = request.app.state.files
    found = await asyncio.to_thread(store.get, file_id)
    path = store.content_path(file_id) if found is not None else None
    if found is None or path is None or not path.exists():
        raise APIError(404, f"No such file: {file_id!r}.", param="file_id", code="file_not_found")
    headers = {**PAGE_HEADERS, "content-security-policy": "default-src 'none'; sandbox", "cache-control": "private, max-age=3600"}
    kind = found.mime  # sniffed when it was uploaded (perceptron_mock.files.sniff)
    if found.modality != "image":  # a video, audio or anything a browser might run: a download
        kind = "application/octet-stream"
        headers["content-disposition"] = f'attachment; filename="{found.id}"'
    return FileResponse(path, media_type=kind, headers=headers)


def _sniffed(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.get("/events", dependencies=[Depends(_guard)])
async def events(
    request: Request,
    model: str | None = None,
    status: str | None = None,
    path: str | None = None,
    method: str | None = None,
    request_id: str | None = None,
    test_id: str | None = None,  # a query parameter here: an EventSource cannot send X-Mock-Test-Id
) -> Response:
    """Server-sent events: ``ready`` once subscribed, then a ``request`` row per journal entry that
    matches the filters (those of ``GET /_admin/requests``), ``cleared`` and ``reload`` (the view fell
    behind its queue and should read the journal again)."""
    toolkit = _toolkit(request)
    if toolkit.journal is None:
        raise APIError(409, "The journal is off (journal_size is 0).", code="journal_off")
    if status is not None and not re.fullmatch(r"\d{3}|[1-5]xx|none", status):
        raise APIError(400, "status must be a status (503), a class (5xx) or none.", param="status", code="invalid_value")
    if test_id is not None and not TEST_ID.fullmatch(test_id):
        raise invalid_test_id()
    subscription = toolkit.live.subscribe()
    if subscription is None:
        raise APIError(503, "Too many live views are open; close one and reload.", code="too_many_live_views")
    filters = {"model": model, "status": status, "path": path, "method": method, "request_id": request_id, "test_id": test_id}

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"event": "ready", "data": "{}"}
            while True:
                entry = await subscription.queue.get()
                if subscription.overflowed:
                    while not subscription.queue.empty():
                        subscription.queue.get_nowait()
                    subscription.overflowed = False
                    yield {"event": "reload", "data": "{}"}
                elif entry is CLEARED:
                    yield {"event": "cleared", "data": "{}"}
                else:
                    for row in journal_view.select([entry], **filters):
                        yield {"event": "request", "data": orjson.dumps({k: row[k] for k in _ROW_FIELDS}).decode()}
        finally:
            toolkit.live.unsubscribe(subscription)

    # The generator's finally and the background task both let go of the subscription (whichever runs).
    done = BackgroundTask(toolkit.live.unsubscribe, subscription)
    return EventSourceResponse(stream(), ping=10, sep="\n", headers={"cache-control": "no-store"}, background=done)
