"""The value every answer rule returns, and the one place where it is cut to the token budget."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounting import tokens


@dataclass(frozen=True)
class Pacing:
    """How fast a streamed answer arrives: a delay before the first token, then a steady rate."""

    first_token_ms: float = 0.0
    tokens_per_second: float | None = None  # None: as fast as possible


@dataclass(frozen=True)
class Answer:
    """What the model "said", before limits are applied."""

    content: str
    reasoning: str | None = None
    finish_reason: str = "stop"
    pacing: Pacing | None = None  # None: the server's default pacing


@dataclass(frozen=True)
class Completion:
    """An answer fitted to its budget, with the token counts the usage block reports."""

    content: str
    reasoning: str | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def fit(answer: Answer, *, budget: int, prompt_tokens: int) -> Completion:
    """Cut ``answer`` to ``budget`` completion tokens: reasoning is generated first, so it is kept
    first; a cut answer finishes with ``length``."""
    reasoning = answer.reasoning
    used = 0
    cut = False
    if reasoning is not None:
        reasoning, used, cut = tokens.truncate(reasoning, budget)
    content, content_tokens, content_cut = tokens.truncate(answer.content, budget - used)
    finish = "length" if cut or content_cut else answer.finish_reason
    return Completion(
        content=content,
        reasoning=reasoning,
        finish_reason=finish,
        prompt_tokens=prompt_tokens,
        completion_tokens=used + content_tokens,
    )
