"""``POST /v1/chat/completions``: the hot path, as a plain ASGI endpoint.

It only sequences the pipeline (authenticate, read, validate, account, choose, fault, render); each
step lives in its own module. It is mounted ahead of FastAPI's router because the framework's
per-request machinery would add about half the pipeline's cost again (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import time

from perceptron_mock.accounting.prompt import Prompt, account
from perceptron_mock.answers.answer import Answer, Pacing, fit
from perceptron_mock.answers.choose import choose
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.asgi import Receive, Scope, Send
from perceptron_mock.exchange import exchange_of
from perceptron_mock.guards.auth import BearerAuth
from perceptron_mock.guards.rate_limit import RateLimiter
from perceptron_mock.protocol import ids
from perceptron_mock.protocol.data_urls import Body
from perceptron_mock.protocol import model_rules
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.errors import model_not_found
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.protocol.validation import parse_request_lifting
from perceptron_mock.render.delivery import Delivery, before_answer, send_completion
from perceptron_mock.render.json import render_completion
from perceptron_mock.render.sse import CompletionStream, stream_events
from perceptron_mock.settings import Settings
from perceptron_mock.toolkit.faults import Faults


# Bodies larger than this are validated and accounted for in a worker thread. Smaller ones take at most
# about 2 ms whatever they hold; a typical request, tens of microseconds: what the hop itself costs.
THREAD_ABOVE = 16 * 1024


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
    ) -> None:
        self.settings = settings
        self.fixtures = fixtures
        self.limiter = limiter
        self.faults = faults
        self.auth = auth
        self.catalog = catalog  # the served models, whose limits and capabilities each request follows
        self.reject_unknown = settings.unknown_fields == "reject"
        self.pacing = Pacing(settings.stream_first_token_ms, settings.stream_tokens_per_second or None)
        self.keepalive = settings.stream_keepalive_seconds
        self.events_per_write = settings.stream_events_per_write
        self.plain_delivery = Delivery.of(None, pacing=self.pacing, events_per_write=self.events_per_write)
        self.max_items = settings.max_json_items

    def understand(self, body: Body) -> tuple[ChatCompletionRequest, Prompt]:
        """The body validated and accounted for: JSON → fields → model → its rules → images → context."""
        request, payloads = parse_request_lifting(body, reject_unknown=self.reject_unknown, max_items=self.max_items)
        model = self.catalog.get(request.model)
        if model is None:
            raise model_not_found(request.model)
        model_rules.check(request, model)  # output cap, unsupported parameters and inputs
        return request, account(request, self.settings, model, payloads)  # images and context: an invalid request keeps its 4xx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = exchange_of(scope)
        key = self.auth.check(scope)
        if self.limiter is not None:
            await self.limiter.admit(exchange, key)  # before the body is read: a 429 costs no upload
        body = await exchange.read_body(receive)
        if len(body) > THREAD_ABOVE:
            # Off the event loop: bounded (JSON items, context) but up to a few hundred ms. pydantic and
            # base64 hold the GIL for stretches of at most a few tens of ms; the tokenizer, not at all.
            request, prompt = await asyncio.to_thread(self.understand, body)
        else:
            request, prompt = self.understand(body)
        del body
        answer = await self.choose(request, prompt)  # a bad schema or regex is refused here, using up no fault
        # The request's own header or queued fault wins over a fixture's.
        fault = await self.faults.pick(scope, exchange, stream=bool(request.stream), model=request.model) or answer.fault
        await before_answer(fault, answer, exchange, receive)
        if fault is None and answer.pacing is None:
            delivery = self.plain_delivery  # most answers: built once, not per request
        else:
            delivery = Delivery.of(fault, pacing=answer.pacing or self.pacing, events_per_write=self.events_per_write)
        completion = fit(answer, budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens)
        completion_id, created = ids.completion_id(), int(time.time())
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

    async def choose(self, request: ChatCompletionRequest, prompt: Prompt) -> Answer:
        if _searches_or_builds(request, self.fixtures):
            # Checking a schema (meta-schema, RE2 compiles) and building its answer may take up to ~a second
            # of pure Python for the largest accepted: in a worker thread, the event loop keeps serving.
            return await asyncio.to_thread(choose, request, prompt, self.fixtures)
        return choose(request, prompt, self.fixtures)


def _searches_or_builds(request, fixtures: FixtureStore) -> bool:
    """Whether choosing the answer may do more than a few microseconds of work: a json_schema or regex
    answer, or fixtures that search the prompt's text (RE2 releases the GIL while it searches)."""
    fmt = request.response_format
    return (fmt is not None and fmt.type == "json_schema") or request.regex is not None or fixtures.searches_text
