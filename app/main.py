"""``create_app()``: the composition root, which wires the ASGI application once at start-up.

``MockServer`` gives every request its ``Exchange`` and request id and every refusal its envelope;
``POST /v1/chat/completions`` is served ahead of FastAPI, which serves the rest.
"""

from __future__ import annotations

import gc
import logging
import weakref
from contextlib import asynccontextmanager
from typing import AsyncIterator, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from perceptron_mock import __version__
from perceptron_mock.api import admin, files, models, ui
from perceptron_mock.api import metrics as metrics_api
from perceptron_mock.answers import caches as answer_caches
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.api.completions import ChatCompletions
from perceptron_mock.api.multilook import MULTILOOK_PATH, Multilook
from perceptron_mock.asgi import JSON_HEADERS, ClientDisconnected, Receive, Scope, Send, send_bytes
from perceptron_mock.exchange import EXCHANGE_KEY, Exchange, exchange_of
from perceptron_mock.files.quota import UploadQuota
from perceptron_mock.files.store import FileStore, remove_dir, temporary_files_dir
from perceptron_mock.guards.auth import BearerAuth
from perceptron_mock.guards.body_limit import BodyLimit
from perceptron_mock.guards.header_limit import headers_too_large, measure_head
from perceptron_mock.guards.rate_limit import build_rate_limiter
from perceptron_mock.protocol import ids
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.errors import APIError, method_not_allowed, route_not_found, server_error
from perceptron_mock.api.openapi import install_openapi
from perceptron_mock.protocol.validation import first_error
from perceptron_mock.settings import Settings, get_settings
from perceptron_mock.storage import open_redis, outage, storage_unavailable, uses_redis
from perceptron_mock.toolkit.journal import Recorder, recordable
from perceptron_mock.toolkit.metrics import Metrics
from perceptron_mock.toolkit.state import Toolkit

log = logging.getLogger("perceptron_mock")

COMPLETIONS_PATH = "/v1/chat/completions"
# The worker's collector: young collections after 300 new objects and the middle ones after every second,
# so that each walks few objects (a paced stream's ~170 all survive them), and full ones (every live
# object: ~130 ms at 1,000 open streams) after 2,000 middle ones instead of 10 (docs: Scaling, the collector).
GC_THRESHOLDS = (300, 1, 2000)


def _error_response(error: APIError) -> Response:
    return Response(error.body(), status_code=error.status, media_type="application/json", headers=error.headers)


@asynccontextmanager
async def _lifespan(api: FastAPI) -> AsyncIterator[None]:
    yield
    redis = getattr(api.state, "redis", None)
    if redis is not None:  # the process's Redis client, shared by the limiter, journal and fault queue
        await redis.aclose()
    temporary = getattr(api.state, "temporary_files_dir", None)
    if temporary is not None:  # made for this app (no --files-dir): its uploads go with it
        remove_dir(temporary)
    metrics = getattr(api.state, "metrics", None)
    if metrics is not None:
        metrics.process_exited()


def build_api(settings: Settings, catalog: Catalog) -> FastAPI:
    api = FastAPI(title="perceptron-mock", version=__version__, docs_url="/docs", redoc_url=None, lifespan=_lifespan)
    api.state.settings = settings
    api.state.catalog = catalog
    api.state.auth = BearerAuth(settings.api_keys)
    api.state.admin_access = admin.AdminAccess(settings)
    api.include_router(models.router)
    api.include_router(files.router)
    api.include_router(ui.router)  # before admin's: its pages answer a missing key with a form, not JSON
    api.include_router(admin.router)
    api.include_router(metrics_api.router)

    @api.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        return _error_response(exc)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_response(route_not_found(request.method, request.url.path))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return _error_response(method_not_allowed(request.method, request.url.path, allowed.split(", ")))
        return _error_response(APIError(exc.status_code, str(exc.detail), code=None))

    @api.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's locs start with where the value came from ("query", "path"): the param is the rest.
        return _error_response(first_error([{**error, "loc": error["loc"][1:]} for error in exc.errors()]))

    # The admin API's journal, fault queue and limiter reset, when Redis fails. RedisError, not OSError:
    # redis-py wraps socket errors and timeouts in its own, and another OSError is not Redis being gone.
    @api.exception_handler(RedisError)
    async def _storage_error(request: Request, exc: RedisError) -> Response:
        redis = getattr(request.app.state, "redis", None)
        if redis is not None:
            outage(redis).failed(exc, f"{request.method} {request.url.path}")  # logged once per outage
        else:  # not the process's Redis: unexpected, so with its traceback
            log.warning("storage failed on %s %s; answering 503", request.method, request.url.path, exc_info=True)
        return _error_response(storage_unavailable())

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Only makes the 500 the envelope: Starlette re-raises after sending it, and MockServer._serve logs it.
        return _error_response(server_error())

    install_openapi(api, settings, catalog)
    return api


class MockServer:
    """The outermost ASGI app: gives every response a request id and every refusal its envelope."""

    def __init__(self, settings: Settings) -> None:
        storage = settings.rate_limit_storage
        redis = open_redis(storage) if uses_redis(storage) else None  # one client for the limiter, journal and faults
        self.limiter = build_rate_limiter(settings.rate_limit_per_minute, settings.rate_limit_refill_seconds, redis)
        # Loaded before serving: a bad models file or --model stops start-up (the CLI checks it first, too).
        self.catalog = Catalog.load(settings.models_file).served(settings.models)
        self.api = build_api(settings, self.catalog)
        self.api.state.redis = redis  # closed by the lifespan at shutdown
        self.api.state.limiter = self.limiter  # None when the limit is off; the admin reset calls its reset()
        self.api.state.models_limiter = build_rate_limiter(
            settings.models_rate_limit_per_minute, settings.rate_limit_refill_seconds, redis, name="models"
        )
        self.toolkit = Toolkit.from_settings(settings, redis)
        self.api.state.toolkit = self.toolkit
        # Loaded before serving: a bad fixture file stops start-up (the CLI checks it first, with a clear message).
        self.fixtures = FixtureStore.load(
            settings.fixtures_dir, reload_seconds=settings.fixtures_reload_seconds, unmatched=settings.unmatched
        )
        answer_caches.configure(settings.schema_cache_bytes, settings.pattern_cache_bytes)
        self.api.state.fixtures = self.fixtures  # the admin API's add/remove/list/reload
        self._files(settings, redis)
        self.metrics = Metrics(self.catalog.ids) if settings.metrics else None
        self.api.state.metrics = self.metrics
        self.completions = ChatCompletions(
            settings,
            faults=self.toolkit.faults,
            limiter=self.limiter,
            fixtures=self.fixtures,
            auth=self.api.state.auth,
            catalog=self.catalog,
            files=self.files,
            observer=self.metrics,
        )
        self.multilook = Multilook(
            settings,
            faults=self.toolkit.faults,
            limiter=self.limiter,  # the same bucket as chat: the SDK and the reference name no other
            fixtures=self.fixtures,
            auth=self.api.state.auth,
            catalog=self.catalog,
            files=self.files,
        )
        self.max_header_bytes = settings.max_header_bytes
        self.guarded = BodyLimit(self._route, settings.max_body_bytes)
        journal = self.toolkit.journal
        self.recorder = (
            Recorder(
                self._serve,
                journal,
                body_limit=settings.journal_body_bytes,
                max_items=settings.max_json_items,
                images=self.toolkit.images,
                live=self.toolkit.live,
            )
            if journal
            else None
        )

    def _files(self, settings: Settings, redis) -> None:
        """The files directory (a temporary one of this app's own without ``--files-dir``), the upload
        quota, the Files API's rate limits and its upload endpoint, served outside the chat body cap."""
        directory = settings.files_dir
        self.api.state.temporary_files_dir = None
        if directory is None:
            directory = self.api.state.temporary_files_dir = temporary_files_dir()
            weakref.finalize(self, remove_dir, directory)  # an app that never served (never ran its lifespan)
        self.files = FileStore(directory)
        self.api.state.files = self.files
        quota = settings.upload_quota_bytes
        self.upload_quota = UploadQuota(quota, settings.upload_quota_seconds, redis) if quota else None
        self.api.state.upload_quota = self.upload_quota
        limiters = files.build_limiters(settings.rate_limit_per_minute > 0, settings.rate_limit_refill_seconds, redis)
        self.api.state.files_limiters = limiters
        self.uploads = files.FileUploads(
            self.files,
            auth=self.api.state.auth,
            max_file_bytes=settings.max_upload_bytes,
            quota=self.upload_quota,
            limiter=limiters["upload"],
            reject_unknown=settings.unknown_fields == "reject",
        )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == COMPLETIONS_PATH:
            if scope["method"] != "POST":
                raise method_not_allowed(scope["method"], COMPLETIONS_PATH, ["POST"])
            await self.completions(scope, receive, send)
        elif scope["path"] == MULTILOOK_PATH:
            if scope["method"] != "POST":
                raise method_not_allowed(scope["method"], MULTILOOK_PATH, ["POST"])
            await self.multilook(scope, receive, send)
        else:
            files.check_method(scope)  # the Files API's paths each have two routes: the 405 names both
            await self.api(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)  # lifespan
            return
        size, controls = measure_head(scope["headers"])
        if size > self.max_header_bytes:
            # First of all checks, and outside the journal: nothing of an oversized head is kept.
            await self._send_error(send, headers_too_large(self.max_header_bytes), ids.request_id_headers())
            return
        scope[EXCHANGE_KEY] = Exchange(receive=receive, controls=controls, head_bytes=size)
        try:
            if self.recorder is not None and recordable(scope["path"]):
                await self.recorder(scope, receive, send)
            else:
                await self._serve(scope, receive, send)
        finally:
            # The exchange's receive refers back to the scope: left in it, the pair (and the body the
            # exchange may hold) would wait for the cyclic collector instead of going at once.
            del scope[EXCHANGE_KEY]

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        id_headers = ids.request_id_headers()
        exchange = exchange_of(scope)
        started = False
        status: int | None = None

        async def send_with_id(message: dict) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *id_headers]
                if self.limiter is not None:  # on every answer, errors included
                    message["headers"] += await self.limiter.headers(scope, exchange)
            await send(message)

        # An upload has its own cap (by declared length) instead of the chat body cap.
        uploading = scope["path"] == files.FILES_PATH and scope["method"] == "POST"
        try:
            await (self.uploads if uploading else self.guarded)(scope, receive, send_with_id)
        except ClientDisconnected:
            return
        except APIError as error:
            if not started:
                await self._send_error(send_with_id, error)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if not started:
                await self._send_error(send_with_id, server_error())
        finally:
            if self.metrics is not None:
                self.metrics.count(scope["path"], exchange, status)

    @staticmethod
    async def _send_error(send: Send, error: APIError, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        headers = [*JSON_HEADERS, *((k.encode(), v.encode()) for k, v in error.headers.items()), *extra]
        await send_bytes(send, error.status, error.body(), headers)


def create_app(settings: Settings | None = None) -> MockServer:
    """The app for ``settings``, or for the process's settings (environment) when None."""
    return MockServer(settings or get_settings())


def create_worker_app() -> MockServer:
    """What uvicorn builds in each worker process of ``perceptron-mock``.

    The app, the tokenizer, FastAPI's routes and pydantic's validators live as long as the process:
    moving them out of the collector's sight keeps each full collection from walking ~80,000 objects,
    which stalled requests for ~30 ms each time (it was the mock's p99). Only here, not in
    ``create_app``: an app built and dropped in-process (the pytest plugin's, a test's) must be freed.
    For the same reason the collector's thresholds (``GC_THRESHOLDS``) are set here only."""
    server = create_app()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return server
