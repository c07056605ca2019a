"""Plain-function access to the answer rules: a request body in, the ``Answer`` ``choose`` picks out."""

from __future__ import annotations

import orjson

from perceptron_mock.accounting.prompt import account
from perceptron_mock.answers.answer import Answer, fit
from perceptron_mock.answers.choose import choose
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.protocol.validation import parse_request
from perceptron_mock.settings import Settings

SETTINGS = Settings()
MODEL = "isaac-0.2-2b-preview"
STUDIO_URL = (
    "https://raw.githubusercontent.com/perceptron-ai-inc/perceptron/main/cookbook/_shared/assets/capabilities/qna/"
    "studio_scene.webp"
)


def answer_for(body: dict, fixtures: FixtureStore | None = None) -> Answer:
    request = parse_request(orjson.dumps(body))
    return choose(request, account(request, SETTINGS), fixtures)


def completion_for(body: dict):
    request = parse_request(orjson.dumps(body))
    prompt = account(request, SETTINGS)
    return fit(choose(request, prompt), budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens)


def request_body(user_text: str, *, system: str | list | None = None, images: list[str] = (), **fields) -> dict:
    """A chat body: an optional system message (a string or text parts), then the images and the text."""
    messages: list[dict] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    if parts:
        parts.append({"type": "text", "text": user_text})
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": user_text})
    return {"model": MODEL, "messages": messages, **fields}
