"""Plain-function access to the answer rules: a request body in, the ``Answer`` ``choose`` picks out."""

from __future__ import annotations

import orjson

from perceptron_mock.accounting.prompt import account
from perceptron_mock.answers.answer import Answer, fit
from perceptron_mock.answers.choose import choose
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.protocol.validation import parse_request
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.settings import Settings
from tests.helpers import MODEL

SETTINGS = Settings()
ENTRY = Catalog.load().get(MODEL)  # the catalog entry of tests.helpers.MODEL: its window and capabilities


def answer_for(body: dict, fixtures: FixtureStore | None = None) -> Answer:
    request = parse_request(orjson.dumps(body))
    return choose(request, account(request, SETTINGS, ENTRY), fixtures)


def completion_for(body: dict):
    request = parse_request(orjson.dumps(body))
    prompt = account(request, SETTINGS, ENTRY)
    return fit(choose(request, prompt), budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens)
