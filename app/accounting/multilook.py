"""What a multilook request costs: its shared context accounted once, then each prompt after it.

A fault in the context fails every prompt, so it refuses the request; a prompt's own (an image that
cannot be read, a conversation over the window, a modality the model lacks) fails that prompt only.
"""

from __future__ import annotations

from dataclasses import dataclass

from perceptron_mock.accounting import media_tokens, tokens
from perceptron_mock.accounting.prompt import Prompt, account
from perceptron_mock.files.store import FileStore
from perceptron_mock.protocol import model_rules
from perceptron_mock.protocol.catalog import ModelEntry
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.protocol.multilook import MultilookRequest, context_request, in_context, in_prompt, prompt_request
from perceptron_mock.settings import Settings


@dataclass(frozen=True)
class Accounted:
    request: MultilookRequest
    context: Prompt  # the context alone; its prompt_tokens hold the generation prompt's too
    prompts: tuple[Prompt | APIError, ...]  # each prompt after the context, or why it fails

    @property
    def context_tokens(self) -> int:
        """The context's own tokens: what the shared prefill serves every prompt after the first."""
        return self.context.prompt_tokens - tokens.TOKENS_PER_REPLY


def audio_tokens(prompt: Prompt) -> int:
    """The audio parts' share of a conversation's prompt tokens."""
    return prompt.asset_kinds.count("audio") * media_tokens.audio_tokens()


def account_multilook(
    request: MultilookRequest,
    settings: Settings,
    model: ModelEntry,
    payloads: dict[str, bytes] | None = None,
    files: FileStore | None = None,
) -> Accounted:
    """``payloads``: the images lifted out of the body (``protocol.multilook.parse_multilook``);
    ``files``: the uploaded files that file-id parts name, as in chat."""
    shared = context_request(request)
    try:
        model_rules.check(shared, model)  # the output cap, reasoning_effort and the context's modalities
        context = account(shared, settings, model, payloads, files)
    except APIError as error:
        raise in_context(error) from None
    prompts: list[Prompt | APIError] = []
    for index in range(len(request.prompts)):
        alone = prompt_request(request, index, alone=True)
        try:
            model_rules.check(alone, model)  # its own parts' modalities
            prompts.append(account(alone, settings, model, payloads, files, after=context))
        except APIError as error:
            prompts.append(in_prompt(error, index))
    return Accounted(request=request, context=context, prompts=tuple(prompts))
