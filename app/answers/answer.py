"""The answer's types (``Answer`` as a rule or fixture says it, ``Pacing``, ``Completion`` once fitted) and ``fit``,
the one place where an answer is cut to the token budget."""

from __future__ import annotations

from perceptron_mock.accounting import tokens
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.faults import Fault
from perceptron_mock.values import value


@value
class Pacing:
    """How fast a streamed answer arrives: a delay before the first token, then a steady rate."""

    first_token_ms: float = 0.0
    tokens_per_second: float | None = None  # None: as fast as possible


@value
class Answer:
    """What the model "said", before limits are applied."""

    content: str
    reasoning: str | None = None
    finish_reason: str = "stop"
    pacing: Pacing | None = None  # None: the server's default pacing
    # What a fixture may script besides the text (perceptron_mock.answers.fixtures):
    error: APIError | None = None  # refuse with this instead of answering (after latency_ms)
    latency_ms: float = 0.0  # wait this long before the response starts
    prompt_tokens: int | None = None  # usage as the fixture states it, instead of counted
    completion_tokens: int | None = None
    fault: Fault | None = None  # to apply to this answer, as if sent in the X-Mock-Fault header


@value
class Completion:
    """An answer fitted to its budget, with the token counts the usage block reports."""

    content: str
    reasoning: str | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    # The token ids of reasoning and content as counted by fit(); empty when built elsewhere. A
    # stream sends one delta per id, so deltas and usage always agree.
    reasoning_ids: tuple[int, ...] = ()
    content_ids: tuple[int, ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def fit(answer: Answer, *, budget: int, prompt_tokens: int) -> Completion:
    """Cut ``answer`` to ``budget`` completion tokens: reasoning is generated first, so it is kept
    first; a cut answer finishes with ``length``."""
    reasoning = answer.reasoning
    reasoning_ids: list[int] = []
    cut = False
    if reasoning is not None:
        reasoning, reasoning_ids, cut = tokens.cut(reasoning, budget)
    content, content_ids, content_cut = tokens.cut(answer.content, budget - len(reasoning_ids))
    finish = "length" if cut or content_cut else answer.finish_reason
    counted = len(reasoning_ids) + len(content_ids)
    return Completion(
        content=content,
        reasoning=reasoning,
        finish_reason=finish,
        prompt_tokens=prompt_tokens if answer.prompt_tokens is None else answer.prompt_tokens,
        completion_tokens=counted if answer.completion_tokens is None else answer.completion_tokens,
        reasoning_ids=tuple(reasoning_ids),
        content_ids=tuple(content_ids),
    )
