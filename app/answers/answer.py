"""The answer's types (``Answer`` as a rule or fixture says it, ``Pacing``, ``Completion`` once fitted) and ``fit``,
the one place where an answer is cut to the token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from perceptron_mock.accounting import tokens
from perceptron_mock.answers.said import Said
from perceptron_mock.protocol import ids
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.faults import Fault
from perceptron_mock.values import value


@value
class Pacing:
    """How fast a streamed answer arrives: a wait before the first token, then a rate; fixed, or drawn
    from a seeded distribution (``perceptron_mock.answers.pacing`` draws each stream's schedule)."""

    first_token_ms: float = 0.0  # the mean wait before the first token
    tokens_per_second: float | None = None  # None: as fast as possible
    first_token_sd_ms: float = 0.0  # its standard deviation; 0: fixed
    distribution: str = "normal"  # of the first-token wait: "normal" or "lognormal"
    token_jitter_ms: float = 0.0  # standard deviation of each gap between tokens; 0: steady
    prefill_ms_per_1k: float = 0.0  # added to the first-token wait per 1,000 prompt tokens
    seed: int | None = None  # None: the server's --stream-pacing-seed

    @property
    def paced(self) -> bool:
        return bool(self.first_token_ms or self.tokens_per_second or self.first_token_sd_ms or self.prefill_ms_per_1k)


@dataclass(frozen=True)
class ToolCall:
    """A call the answer makes: ``arguments`` is JSON text, or None for "made from the tool's parameters"
    (a fixture that names a tool without arguments; ``answers.choose`` fills them in)."""

    name: str
    arguments: str | None


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
    tool_calls: tuple[ToolCall, ...] = ()
    # The content with its token ids, when a rule joined it from pieces (answers.said): used only while
    # it is this very content, so an answer copied with another content is encoded again.
    said: Said | None = None


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
    # (id, name, arguments) of each call, ids fresh for every answer; arguments cut by fit() if need be
    tool_calls: tuple[tuple[str, str, str], ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_NO_CALLS: tuple[tuple, int, bool] = ((), 0, False)  # what _fit_calls gives for no calls (most answers)


def fit(answer: Answer, *, budget: int, prompt_tokens: int) -> Completion:
    """Cut ``answer`` to ``budget`` completion tokens: reasoning is generated first, so it is kept
    first; a cut answer finishes with ``length``."""
    reasoning = answer.reasoning
    reasoning_ids: Sequence[int] = []
    cut = False
    if reasoning is not None:
        reasoning, reasoning_ids, cut = tokens.cut(reasoning, budget)
    said = answer.said
    known = said.ids if said is not None and said.text is answer.content else None
    content, content_ids, content_cut = tokens.cut(answer.content, budget - len(reasoning_ids), known)
    counted = len(reasoning_ids) + len(content_ids)
    calls, calls_tokens, calls_cut = _fit_calls(answer.tool_calls, budget - counted) if answer.tool_calls else _NO_CALLS
    finish = "length" if cut or content_cut or calls_cut else answer.finish_reason
    counted += calls_tokens
    return Completion(
        content=content,
        reasoning=reasoning,
        finish_reason=finish,
        prompt_tokens=prompt_tokens if answer.prompt_tokens is None else answer.prompt_tokens,
        completion_tokens=counted if answer.completion_tokens is None else answer.completion_tokens,
        reasoning_ids=tuple(reasoning_ids),
        content_ids=tuple(content_ids),
        tool_calls=calls,
    )


def interrupt(completion: Completion) -> Completion:
    """``completion`` closed as ``interrupted`` (the fault of that name): a force-closed think budget, which
    the perceptron SDK counts as a complete answer. One cut to its budget stays ``length``."""
    if completion.finish_reason == "length":
        return completion
    return replace(completion, finish_reason="interrupted")
def call_text(name: str, arguments: str) -> str:
    """A call as the Qwen3 chat template writes it in the assistant's turn: what it costs in tokens."""
    return f'<tool_call>\n{{"name": "{name}", "arguments": {arguments}}}\n</tool_call>'


def _fit_calls(calls: tuple[ToolCall, ...], budget: int) -> tuple[tuple[tuple[str, str, str], ...], int, bool]:
    """The calls that fit ``budget`` tokens, each with a fresh id: the first that does not fit keeps the
    arguments that do (a cut answer is visible, as the service's is), and later ones are left out."""
    out: list[tuple[str, str, str]] = []
    spent = 0
    for call in calls:
        arguments = call.arguments if call.arguments is not None else "{}"
        cost = tokens.count(call_text(call.name, arguments)) + (1 if out else 0)
        if spent + cost > budget:
            overhead = cost - tokens.count(arguments)
            kept, _ids, _cut = tokens.cut(arguments, max(0, budget - spent - overhead))
            if kept:
                out.append((ids.tool_call_id(), call.name, kept))
            return tuple(out), max(budget, spent), True
        out.append((ids.tool_call_id(), call.name, arguments))
        spent += cost
    return tuple(out), spent, False
