"""Each multilook prompt answered as chat answers it (rules and fixtures, ``n`` samples), and the usage.

The arithmetic follows the perceptron SDK's fixture: the context counts once per prompt in
``prompt_tokens``, and ``cached_tokens`` is the context for every prompt after the first (docs/multilook.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from perceptron_mock.accounting.multilook import Accounted, audio_tokens
from perceptron_mock.accounting.prompt import Prompt
from perceptron_mock.answers.answer import Completion, fit, interrupt
from perceptron_mock.answers.choose import choose_samples
from perceptron_mock.answers.fixtures import FixtureStore
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.faults import Fault
from perceptron_mock.protocol.multilook import prompt_request


@dataclass(frozen=True)
class PromptResult:
    """One prompt's outcome: its completions and counted tokens, or its error."""

    index: int
    completions: tuple[Completion, ...] = ()
    error: APIError | None = None
    prompt_tokens: int = 0  # the whole conversation's (context included), as counted or a fixture states
    audio_tokens: int = 0
    fault: Fault | None = None  # a fixture's, for the whole response (it has one delivery)
    latency_ms: float = 0.0  # a fixture's

    @property
    def completion_tokens(self) -> int:
        return sum(completion.completion_tokens for completion in self.completions)


@dataclass(frozen=True)
class MultilookUsage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    audio_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def answer_prompt(accounted: Accounted, index: int, prompt: Prompt, fixtures: FixtureStore | None) -> PromptResult:
    request = prompt_request(accounted.request, index)
    try:
        answers = choose_samples(request, prompt, fixtures, accounted.request.samples)
    except APIError as error:
        return PromptResult(index, error=error)
    first = answers[0]  # a fixture's fields (error, latency, fault, usage) are the same in every sample
    if first.error is not None:
        return PromptResult(index, error=first.error, fault=first.fault, latency_ms=first.latency_ms)
    if first.tool_calls:  # a chat fixture's calls: multilook's wire has no place for them
        return PromptResult(index, error=_no_tool_calls(index), fault=first.fault, latency_ms=first.latency_ms)
    completions = tuple(fit(a, budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens) for a in answers)
    return PromptResult(
        index,
        completions=completions,
        prompt_tokens=completions[0].prompt_tokens,
        audio_tokens=audio_tokens(prompt),
        fault=first.fault,
        latency_ms=first.latency_ms,
    )


def _no_tool_calls(index: int) -> APIError:
    return APIError(
        400,
        "A fixture answered this prompt with tool calls; multilook has no tool calling.",
        param=f"prompts[{index}]",
        code="unsupported_parameter",
    )


def answer_prompts(accounted: Accounted, fixtures: FixtureStore | None = None) -> list[PromptResult]:
    """Every prompt's result, in prompt order: a prompt refused by accounting keeps that error."""
    return [
        PromptResult(index, error=prompt) if isinstance(prompt, APIError) else answer_prompt(accounted, index, prompt, fixtures)
        for index, prompt in enumerate(accounted.prompts)
    ]


def every_prompt_failed(results: list[PromptResult]) -> APIError | None:
    """The request's own refusal when no prompt succeeded: the first prompt's error, status and all."""
    return results[0].error if all(result.error is not None for result in results) else None


def fixture_fault(results: list[PromptResult]) -> Fault | None:
    """The fault the first prompt's fixture scripts, if any (in prompt order)."""
    return next((result.fault for result in results if result.fault is not None), None)


def interrupted(results: list[PromptResult]) -> list[PromptResult]:
    """Every finished completion closed as ``interrupted`` (a force-closed think budget); a cut one stays ``length``."""
    return [replace(result, completions=tuple(interrupt(c) for c in result.completions)) for result in results]


def usage(accounted: Accounted, results: list[PromptResult]) -> MultilookUsage:
    """A failed prompt counts the shared context only (it was prefilled); a prompt that succeeded, its
    whole conversation. The context is served from the prefill to every prompt after the first."""
    context = accounted.context_tokens
    failed = [result for result in results if result.error is not None]
    answered = [result for result in results if result.error is None]
    prompt_tokens = sum(result.prompt_tokens for result in answered) + context * len(failed)
    context_audio = audio_tokens(accounted.context)
    return MultilookUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=sum(result.completion_tokens for result in answered),
        cached_tokens=min(context * (len(results) - 1), prompt_tokens),
        audio_tokens=sum(result.audio_tokens for result in answered) + context_audio * len(failed),
    )
