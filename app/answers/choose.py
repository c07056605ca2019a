"""The one function that decides what the mock answers.

Order: a fault (later), a matching fixture (later), then the rules; the first that claims the
request answers it. Every branch returns an ``Answer``; ``fit`` then applies the token budget.
"""

from __future__ import annotations

from app.accounting.prompt import Prompt
from app.answers import text
from app.answers.answer import Answer
from app.answers.seed import rng_for
from app.protocol.requests import ChatCompletionRequest


def choose(request: ChatCompletionRequest, prompt: Prompt) -> Answer:
    rng = rng_for(request)
    return Answer(content=text.reply(prompt, rng))
