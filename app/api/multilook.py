"""``POST /v1/chat/completions/multilook``: several prompts over one shared context, as a plain ASGI endpoint.

It sequences the pipeline as ``api.completions`` does (authenticate, read, validate, account, choose,
fault, render); the per-prompt work lives in ``accounting.multilook`` and ``answers.multilook``.
"""

from __future__ import annotations

import asyncio

from perceptron_mock.accounting.multilook import Accounted, account_multilook
from perceptron_mock.answers.answer import Answer, Pacing
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.answers import multilook as answers
from perceptron_mock.answers import pacing
from perceptron_mock.api.completions import off_loop
from perceptron_mock.asgi import Receive, Scope, Send
from perceptron_mock.exchange import Exchange, exchange_of
from perceptron_mock.files.store import FileStore
from perceptron_mock.guards.auth import BearerAuth
from perceptron_mock.guards.rate_limit import RateLimiter
from perceptron_mock.protocol.test_ids import read_test_id
from perceptron_mock.protocol import ids
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.data_urls import Body
from perceptron_mock.protocol.errors import model_not_found
from perceptron_mock.protocol.model_rules import unsupported
from perceptron_mock.protocol.multilook import parse_multilook
from perceptron_mock.render.delivery import Delivery, before_answer, send_completion
from perceptron_mock.render.multilook import render_multilook
from perceptron_mock.settings import Settings
from perceptron_mock.toolkit.faults import Faults

MULTILOOK_PATH = "/v1/chat/completions/multilook"


class Multilook:
    def __init__(
        self,
        settings: Settings,
        *,
        faults: Faults,
        fixtures: FixtureStore,
        auth: BearerAuth,
        catalog: Catalog,
        limiter: RateLimiter | None = None,  # None: no rate limit; else chat's own bucket
        files: FileStore | None = None,  # the uploaded files that file-id parts name
    ) -> None:
        self.files = files
        self.settings = settings
        self.fixtures = fixtures
        self.limiter = limiter
        self.faults = faults
        self.auth = auth
        self.catalog = catalog
        self.reject_unknown = settings.unknown_fields == "reject"
        self.events_per_write = settings.stream_events_per_write
        self.max_items = settings.max_json_items
        self.plain_delivery = Delivery.of(None, pacing=Pacing(), events_per_write=self.events_per_write)  # JSON: no pacing

    def understand(self, body: Body, exchange: Exchange | None = None) -> Accounted:
        """The body validated and accounted for: JSON → fields and limits → model → context → each prompt."""
        request, payloads = parse_multilook(body, reject_unknown=self.reject_unknown, max_items=self.max_items)
        if exchange is not None:
            exchange.model = request.model  # for the metrics, served or not
        model = self.catalog.get(request.model)
        if model is None:
            raise model_not_found(request.model)
        if not model.multilook:
            raise unsupported(model, "multilook", "model")
        return account_multilook(request, self.settings, model, payloads, self.files)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = exchange_of(scope)
        key = self.auth.check(scope)
        if self.limiter is not None:
            await self.limiter.admit(exchange, key)  # before the body is read: a 429 costs no upload
        body = await exchange.read_body(receive)
        if off_loop(body):  # large, or file reads: disk I/O
            accounted = await asyncio.to_thread(self.understand, body, exchange)
        else:
            accounted = self.understand(body, exchange)
        del body
        model = accounted.request.model
        # Up to 64 completions of rule answers (and fixture searches): a few ms to tens of ms of pure
        # Python, in a worker thread so that the event loop keeps serving.
        controls = exchange.controls  # no X-Mock-* header (most requests): no test id, fault or pacing header to read
        test_id = read_test_id(scope) if controls else None  # X-Mock-Test-Id: this test's run-time fixtures and faults, and the shared
        fixtures = self.fixtures if test_id is None else self.fixtures.scoped(test_id)
        results = await asyncio.to_thread(answers.answer_prompts, accounted, fixtures)
        if controls:
            pacing.from_header(scope)  # never streamed, so never paced; but an unreadable header is refused, as in chat
        # The request's own header or queued fault wins over a fixture's; multilook never streams.
        fault = (
            await self.faults.pick(scope, exchange, stream=False, model=model, test_id=test_id, read_header=controls)
            or answers.fixture_fault(results)
        )
        # The prompts are answered side by side: the response waits for the slowest fixture's latency.
        await before_answer(fault, Answer("", latency_ms=max(r.latency_ms for r in results)), exchange, receive)
        refusal = answers.every_prompt_failed(results)
        if refusal is not None:
            raise refusal
        if fault is not None and fault.interrupted:
            results = answers.interrupted(results)
        usage = answers.usage(accounted, results)
        body = render_multilook(results, usage, id=ids.multilook_id(), model=model)
        delivery = self.plain_delivery if fault is None else Delivery.of(fault, pacing=Pacing(), events_per_write=self.events_per_write)
        await send_completion(body, delivery, exchange, receive, send)
