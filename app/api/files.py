"""The Files API: ``POST /v1/files`` (a plain ASGI endpoint, streamed) and list, retrieve, content, delete.

The upload is served ahead of the 20 MB body cap, which is for chat bodies: it has its own, by the
declared length, and is never held in memory. Every route has its own rate-limit bucket at the rate
the service documents for it (docs: Files).
"""

from __future__ import annotations

import asyncio
import errno
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from python_multipart.multipart import parse_options_header

from perceptron_mock.asgi import JSON_HEADERS, Receive, Scope, Send, header, send_bytes
from perceptron_mock.exchange import Exchange, exchange_of
from perceptron_mock.files.quota import UploadQuota
from perceptron_mock.files.sniff import SUPPORTED, sniff
from perceptron_mock.files.store import FileStore, StoredFile, is_file_id, new_id
from perceptron_mock.files.upload import Received, UploadReader, file_too_large
from perceptron_mock.guards.auth import BearerAuth
from perceptron_mock.guards.rate_limit import RateLimiter, build_rate_limiter
from perceptron_mock.protocol.errors import APIError, clip, invalid, method_not_allowed
from perceptron_mock.protocol.responses import ErrorResponse

FILES_PATH = "/v1/files"
PURPOSES = ("vision", "user_data")
MAX_LIST_LIMIT = 10_000
MULTIPART_ALLOWANCE = 64 * 1024  # body bytes allowed beyond the file: boundaries, part headers, purpose
CHUNK_BYTES = 256 * 1024  # of a content download
# Requests per minute per key, as the service's API reference documents them; delete is not documented
# there, so it gets the rate of retrieve.
RATES = {"upload": 60, "list": 100, "retrieve": 100, "content": 30, "delete": 100}


def build_limiters(enabled: bool, period_s: float, redis: Any) -> dict[str, RateLimiter | None]:
    return {name: build_rate_limiter(rate if enabled else 0, period_s, redis, name=f"files-{name}") for name, rate in RATES.items()}


def check_method(scope: Scope) -> None:
    """405 naming every method of a Files API path (Starlette's names only the first route that matched)."""
    path = scope["path"]
    if path == FILES_PATH:
        allowed = ["GET", "POST"]
    elif path.startswith(FILES_PATH + "/"):
        allowed = ["GET"] if path.endswith("/content") else ["GET", "DELETE"]
    else:
        return
    if scope["method"] not in (*allowed, "HEAD"):
        raise method_not_allowed(scope["method"], path, allowed)


def not_found(file_id: str) -> APIError:
    """The service's 404, as the perceptron SDK's tests quote it."""
    return APIError(404, f"No such File object: {clip(file_id)}", param="id", code=None)


def bad_purpose(purpose: object) -> APIError:
    return invalid(f"purpose must be one of {', '.join(PURPOSES)}; got {clip(repr(purpose))}.", "purpose", "invalid_parameter")


def length_required() -> APIError:
    return APIError(
        411,
        "Uploads need a Content-Length header: send the body with a known length, not chunked.",
        code="length_required",
        headers={"connection": "close"},
    )


def declared_length(scope: Scope, max_file_bytes: int) -> int:
    """The body's declared length, refused before a byte is read: 411 without one, 413 over the cap."""
    raw = header(scope, b"content-length")
    if raw is None:
        raise length_required()
    try:
        length = int(raw)
    except ValueError:
        raise APIError(400, "Invalid Content-Length header.", code="invalid_content_length") from None
    if length > max_file_bytes + MULTIPART_ALLOWANCE:
        raise file_too_large(max_file_bytes)
    return length


def boundary_of(scope: Scope) -> bytes:
    kind, options = parse_options_header(header(scope, b"content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise invalid(
            "Uploads are multipart/form-data with a 'purpose' field and a 'file' part.", None, "invalid_content_type"
        )
    return boundary


def _filename(name: str | None, file_id: str) -> str:
    """The name to keep: metadata only, never a path. Without one the service names the file by its id."""
    if name is None or name == "":
        return file_id
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise invalid("The filename may not contain control characters (NUL, newlines...).", "file", "invalid_filename")
    return name


class FileUploads:
    """``POST /v1/files``: authenticate, rate-limit, check the declared length and quota, stream, sniff, store."""

    def __init__(self, store: FileStore, *, auth: BearerAuth, max_file_bytes: int, quota: UploadQuota | None,
                 limiter: RateLimiter | None, reject_unknown: bool) -> None:
        self.store = store
        self.auth = auth
        self.max_file_bytes = max_file_bytes
        self.quota = quota
        self.limiter = limiter
        self.reject_unknown = reject_unknown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = exchange_of(scope)
        key = self.auth.check(scope)
        if self.limiter is not None:
            await self.limiter.admit(exchange, key)
        length = declared_length(scope, self.max_file_bytes)
        boundary = boundary_of(scope)
        if self.quota is not None:
            await self.quota.check(exchange, max(1, length - MULTIPART_ALLOWANCE))
        reader = UploadReader(boundary, self.store, max_file_bytes=self.max_file_bytes)
        try:
            received = await reader.read(receive)
            meta = await self._checked(received, exchange)
            await asyncio.to_thread(self.store.commit, received.part, meta)
        except OSError as error:
            reader.discard()
            if error.errno in (errno.ENOSPC, errno.EDQUOT):  # the machine's condition, not the client's
                raise out_of_space(error) from None
            raise
        except BaseException:
            reader.discard()
            raise
        # What the journal keeps of an upload: what was stored, never the bytes.
        exchange.body = _json({"purpose": meta.purpose, "file": meta.public()}) if exchange.wants_body else b""
        await send_bytes(send, 200, _json(meta.public()), JSON_HEADERS)

    async def _checked(self, received: Received, exchange: Exchange) -> StoredFile:
        fields = dict(received.fields)
        purpose = fields.pop("purpose", None)
        if purpose is None:
            raise invalid("Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter")
        if purpose not in PURPOSES:
            raise bad_purpose(purpose)
        if fields and self.reject_unknown:
            name = next(iter(fields))
            raise invalid(f"Unrecognized request argument supplied: {clip(name)}", clip(name), "unknown_parameter")
        if not received.has_file:
            raise invalid("Missing required parameter: 'file'.", "file", "missing_required_parameter")
        if received.size == 0:
            raise invalid("The file is empty.", "file", "empty_file")
        mime = sniff(received.head)
        if mime not in SUPPORTED:
            raise invalid(f"Unsupported content type '{mime}'.", "file", "unsupported_file_type")
        declared = received.declared_type
        if declared not in (None, "", "application/octet-stream", mime):
            raise invalid(
                f"The file part declares Content-Type '{clip(declared)}' but its bytes are {mime}.", "file", "content_type_mismatch"
            )
        file_id = new_id()
        meta = StoredFile(
            id=file_id,
            bytes=received.size,
            created_at=int(time.time()),
            filename=_filename(received.filename, file_id),
            purpose=purpose,
            mime=mime,
            sha256=received.sha256,
        )
        if self.quota is not None:
            await self.quota.spend(exchange, received.size)
        return meta


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def out_of_space(error: OSError) -> APIError:
    return APIError(
        507, f"The mock's files directory has no room for this upload ({error.strerror}).", type="server_error",
        code="insufficient_storage",
    )


# --- list, retrieve, content, delete (FastAPI) ------------------------------------------------------


def _admit(name: str):
    async def dependency(request: Request) -> None:
        key = request.app.state.auth.check(request.scope)
        limiter = request.app.state.files_limiters.get(name)
        if limiter is not None:
            await limiter.admit(exchange_of(request.scope), key)

    return [Depends(dependency)]


_ERRORS = {
    400: {"model": ErrorResponse, "description": "A parameter or the upload refused"},
    401: {"model": ErrorResponse, "description": "Missing or refused API key"},
    429: {"model": ErrorResponse, "description": "Rate limit of the route exceeded"},
}
_NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such file"}}
_SECURITY = {"security": [{"bearerAuth": []}]}

router = APIRouter()


def _store(request: Request) -> FileStore:
    return request.app.state.files


@router.get("/v1/files", summary="List the organization's files", dependencies=_admit("list"), responses=_ERRORS,
            openapi_extra=_SECURITY)
async def list_files(
    request: Request,
    # Read as text and checked here, so that a bad value gets the SDK's code and message; documented
    # as what is accepted.
    purpose: str | None = Query(None, description="Only files of this purpose.", json_schema_extra={"enum": list(PURPOSES)}),
    limit: str | None = Query(None, description="Files per page (default 10000).",
                              json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT}),
    order: str | None = Query(None, description="By creation; default desc (newest first).",
                              json_schema_extra={"enum": ["asc", "desc"]}),
    after: str | None = Query(None, description="A file id: the page starts after it (the previous page's last_id).",
                              json_schema_extra={"pattern": "^file-[A-Za-z0-9]{22}$"}),
) -> dict:
    if purpose is not None and purpose not in PURPOSES:
        raise bad_purpose(purpose)
    size = MAX_LIST_LIMIT
    if limit is not None:
        size = int(limit) if limit.isascii() and limit.isdigit() and len(limit) <= 6 else 0
        if not 1 <= size <= MAX_LIST_LIMIT:
            raise invalid(f"limit must be an integer between 1 and {MAX_LIST_LIMIT}; got {clip(limit)}.", "limit", "invalid_parameter")
    if order is not None and order not in ("asc", "desc"):
        raise invalid(f"order must be 'asc' or 'desc'; got {clip(repr(order))}.", "order", "invalid_parameter")
    if after is not None and not is_file_id(after):
        raise invalid("after must be a file id (the previous page's last_id).", "after", "invalid_parameter")
    files, has_more = await asyncio.to_thread(
        _store(request).page, purpose=purpose, limit=size, order=order or "desc", after=after
    )
    data = [f.public() for f in files]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else "",
        "last_id": data[-1]["id"] if data else "",
        "has_more": has_more,
    }


# Path converters: the SDK percent-encodes ids ("file-a/../b" is sent as file-a%2F..%2Fb), which arrive
# decoded, slashes included, and must be answered as an unknown file, not an unknown route.
@router.get("/v1/files/{file_id:path}/content", summary="A file's bytes", dependencies=_admit("content"),
            responses={**_ERRORS, **_NOT_FOUND}, openapi_extra=_SECURITY, response_class=StreamingResponse)
async def file_content(file_id: str, request: Request) -> StreamingResponse:
    store = _store(request)
    meta = store.get(file_id)
    handle = store.open_content(file_id) if meta is not None else None
    if meta is None or handle is None:
        raise not_found(file_id)

    async def chunks():
        with handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk

    return StreamingResponse(chunks(), media_type=meta.mime, headers={"content-length": str(meta.bytes)})


@router.get("/v1/files/{file_id:path}", summary="A file's metadata", dependencies=_admit("retrieve"),
            responses={**_ERRORS, **_NOT_FOUND}, openapi_extra=_SECURITY)
async def retrieve_file(file_id: str, request: Request) -> dict:
    meta = _store(request).get(file_id)
    if meta is None:
        raise not_found(file_id)
    return meta.public()


@router.delete("/v1/files/{file_id:path}", summary="Delete a file", dependencies=_admit("delete"),
               responses={**_ERRORS, **_NOT_FOUND}, openapi_extra=_SECURITY)
async def delete_file(file_id: str, request: Request) -> dict:
    if not await asyncio.to_thread(_store(request).delete, file_id):
        raise not_found(file_id)
    return {"object": "file", "id": file_id, "deleted": True}


_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["purpose", "file"],
                "properties": {
                    "purpose": {"type": "string", "enum": list(PURPOSES)},
                    "file": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP, MP4, QuickTime, WebM, WAV, MP3 or FLAC"},
                },
            }
        }
    },
}


# Served by FileUploads ahead of FastAPI (perceptron_mock.main): declared here for the OpenAPI document.
@router.post("/v1/files", summary="Upload a file (multipart/form-data: purpose, file)", responses={
    **_ERRORS, 411: {"model": ErrorResponse, "description": "No Content-Length"},
    413: {"model": ErrorResponse, "description": "Over the upload limit"}},
    openapi_extra={**_SECURITY, "requestBody": _UPLOAD_BODY})
async def upload_file() -> dict:  # pragma: no cover - never reached
    raise APIError(500, "uploads are served by FileUploads")
