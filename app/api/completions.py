"""``POST /v1/chat/completions``: the hot path, as a plain ASGI endpoint.

It only sequences the pipeline (authenticate, read, validate, account, choose, fault, render); each
step lives in its own module. It is mounted ahead of FastAPI's router because the framework's
per-request machinery would add about half the pipeline's cost again (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import time

from perceptron_mock.accounting.prompt import Prompt, account
from perceptron_mock.answers import pacing
from perceptron_mock.answers.answer import Answer, Pacing, fit, interrupt
from perceptron_mock.answers.choose import choose
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.answers.seed import seed_of
from perceptron_mock.asgi import Receive, Scope, Send
from perceptron_mock.exchange import Exchange, exchange_of
from perceptron_mock.files.store import FileStore
from perceptron_mock.guards.auth import BearerAuth
from perceptron_mock.guards.rate_limit import RateLimiter
from perceptron_mock.protocol import ids
from perceptron_mock.protocol.data_urls import Body
from perceptron_mock.protocol import model_rules
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.errors import model_not_found
from perceptron_mock.protocol.faults import Fault
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.protocol.test_ids import read_test_id
from perceptron_mock.protocol.validation import parse_request_lifting
from perceptron_mock.render.delivery import Delivery, StreamObserver, before_answer, send_completion
from perceptron_mock.render.json import render_completion
from perceptron_mock.render.sse import CompletionStream, stream_events
from perceptron_mock.render.ticker import Ticker
from perceptron_mock.settings import Settings
from perceptron_mock.toolkit.faults import Faults


# Bodies larger than this are validated and accounted for in a worker thread. Smaller ones take at most
# about 2 ms whatever they hold; a typical request, tens of microseconds: what the hop itself costs.
THREAD_ABOVE = 16 * 1024
# A body that may name uploaded files (file-id parts, content URLs): reading them is disk I/O.
FILE_MARKS = (b'_file_id"', b"/files/file-")


def off_loop(body: Body) -> bool:
    """Whether understanding ``body`` belongs in a worker thread: a large body, or one naming uploads."""
    # find, not ``in``: bytes' ``in`` first tries its operand as an int and formats a TypeError (~2k instructions).
    return len(body) > THREAD_ABOVE or body.find(FILE_MARKS[0]) >= 0 or body.find(FILE_MARKS[1]) >= 0


class ChatCompletions:
    def __init__(
        self,
        settings: Settings,
        *,
        faults: Faults,
        fixtures: FixtureStore,
        auth: BearerAuth,
        catalog: Catalog,
        limiter: RateLimiter | None = None,  # None: no rate limit
        files: FileStore | None = None,  # the uploads that file-id parts name
        observer: StreamObserver | None = None,  # the metrics' view of each stream
    ) -> None:
        self.files = files
        self.settings = settings
        self.fixtures = fixtures
        self.limiter = limiter
        self.faults = faults
        self.auth = auth
        self.catalog = catalog  # the served models, whose limits and capabilities each request follows
        self.reject_unknown = settings.unknown_fields == "reject"
        self.pacing = Pacing(
            settings.stream_first_token_ms,
            settings.stream_tokens_per_second or None,
            first_token_sd_ms=settings.stream_first_token_sd_ms,
            distribution=settings.stream_first_token_distribution,
            token_jitter_ms=settings.stream_token_jitter_ms,
            prefill_ms_per_1k=settings.stream_prefill_ms_per_1k_tokens,
        )
        self.pacing_seed = settings.stream_pacing_seed
        self.observer = observer
        self.ticker = Ticker(settings.stream_tick_ms / 1000) if settings.stream_tick_ms else None
        self.keepalive = settings.stream_keepalive_seconds
        self.events_per_write = settings.stream_events_per_write
        self.plain_delivery = Delivery.of(None, pacing=self.pacing, events_per_write=self.events_per_write)
        self.max_items = settings.max_json_items

    def understand(self, body: Body, exchange: Exchange | None = None) -> tuple[ChatCompletionRequest, Prompt]:
        """The body validated and accounted for: JSON → fields → model → its rules → images → context."""
        request, payloads = parse_request_lifting(body, reject_unknown=self.reject_unknown, max_items=self.max_items)
        if exchange is not None:
            exchange.model = request.model  # for the metrics, served or not
        model = self.catalog.get(request.model)
        if model is None:
            raise model_not_found(request.model)
        model_rules.check(request, model)  # output cap, unsupported parameters and inputs
        return request, account(request, self.settings, model, payloads, self.files)  # images and context: an invalid request keeps its 4xx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = exchange_of(scope)
        key = self.auth.check(scope)
        if self.limiter is not None:
            await self.limiter.admit(exchange, key)  # before the body is read: a 429 costs no upload
        body = await exchange.read_body(receive)
        if off_loop(body):
            # Off the event loop: bounded (JSON items, context) but up to a few hundred ms. pydantic and
            # base64 hold the GIL for stretches of at most a few tens of ms; the tokenizer, not at all.
            request, prompt = await asyncio.to_thread(self.understand, body, exchange)
        else:
            request, prompt = self.understand(body, exchange)
        del body
        controls = exchange.controls  # no X-Mock-* header (most requests): no test id, fault or pacing header to read
        test_id = read_test_id(scope) if controls else None  # X-Mock-Test-Id: this test's run-time fixtures and faults, and the shared
        answer = await self.choose(request, prompt, test_id)  # a bad schema or regex is refused here, using up no fault
        # The request's own header or queued fault wins over a fixture's.
        fault = (
            None
            if self.faults.none_for(controls)  # no header, nothing queued (most requests): no pick
            else await self.faults.pick(
                scope, exchange, stream=bool(request.stream), model=request.model, test_id=test_id, read_header=controls
            )
        ) or answer.fault
        chosen = pacing.from_header(scope) if controls else None  # refused if unreadable, streamed or not; only a stream is paced
        await before_answer(fault, answer, exchange, receive)
        if request.stream:
            delivery = self.delivery(fault, chosen or answer.pacing or self.pacing, request, prompt)
        elif fault is None:
            delivery = self.plain_delivery  # most answers: built once, not per request
        else:
            delivery = Delivery.of(fault, pacing=self.pacing, events_per_write=self.events_per_write)
        completion = fit(answer, budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens)
        if fault is not None and fault.interrupted:
            completion = interrupt(completion)
        completion_id, created = ids.completion_id(), int(time.time())
        if completion.tool_calls:  # for the journal: the calls this answer made
            exchange.tool_calls = [{"id": i, "name": n, "arguments": a} for i, n, a in completion.tool_calls]
        if request.stream:
            # Decided by the body alone: the openai SDK sends accept: application/json for streams too.
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            events = stream_events(
                completion, id=completion_id, created=created, model=request.model, include_usage=include_usage
            )
            await CompletionStream(events, delivery=delivery, keepalive=self.keepalive, exchange=exchange)(scope, receive, send)
            return
        body = render_completion(completion, id=completion_id, created=created, model=request.model)
        await send_completion(body, delivery, exchange, receive, send)

    def delivery(self, fault: Fault | None, paced: Pacing, request: ChatCompletionRequest, prompt: Prompt) -> Delivery:
        """A stream's delivery (the request's X-Mock-Pacing won over its fixture's pacing, which wins over
        the server's): a distribution is seeded by the request, so the same request draws the same."""
        seed = 0
        if paced.first_token_sd_ms or paced.token_jitter_ms:
            base = self.pacing_seed if paced.seed is None else paced.seed
            seed = pacing.stream_seed(base, seed_of(request, prompt))
        return Delivery.of(
            fault,
            pacing=paced,
            events_per_write=self.events_per_write,
            prompt_tokens=prompt.prompt_tokens,
            seed=seed,
            observer=self.observer,
            ticker=self.ticker,
        )

    async def choose(self, request: ChatCompletionRequest, prompt: Prompt, test_id: str | None = None) -> Answer:
        fixtures = self.fixtures if test_id is None else self.fixtures.scoped(test_id)
        if _searches_or_builds(request, self.fixtures):
            # Checking a schema (meta-schema, RE2 compiles) and building its answer may take up to ~a second
            # of pure Python for the largest accepted: in a worker thread, the event loop keeps serving.
            return await asyncio.to_thread(choose, request, prompt, fixtures)
        return choose(request, prompt, fixtures)


def _searches_or_builds(request, fixtures: FixtureStore) -> bool:
    """Whether choosing the answer may do more than a few microseconds of work: a json_schema or regex
    answer, a tool call's arguments (made from a schema), or fixtures that search the prompt's text (RE2 releases the GIL while it searches)."""
    fmt = request.response_format
    return (fmt is not None and fmt.type == "json_schema") or request.regex is not None or bool(request.tools) or fixtures.searches_text
