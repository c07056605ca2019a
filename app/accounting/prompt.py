"""What a validated request costs and carries: prompt tokens, images, the texts the answer rules read.

This is the "account" step of the pipeline: it runs once per request, after validation and before an
answer is chosen, and its result (``Prompt``) is all the answer rules and the renderers need to know
about the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.accounting import tokens
from app.accounting.image_tokens import image_tokens
from app.accounting.images import ImageInfo, inspect_image_url
from app.protocol.errors import APIError, invalid
from app.protocol.requests import ChatCompletionRequest
from app.settings import Settings


@dataclass(frozen=True)
class Prompt:
    prompt_tokens: int  # text, images and the chat template's overhead
    images: tuple[ImageInfo, ...]
    system_texts: tuple[str, ...]  # every system message's text, in order (hints live here)
    user_text: str  # the text of the last user message
    completion_budget: int  # tokens the completion may use


def _text_of(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text")


def context_length_exceeded(window: int, prompt_tokens: int, limit: int | None) -> APIError:
    # OpenAI's wording (see the wire notes), naming the window and what was asked.
    if limit is None:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{prompt_tokens} tokens. Please reduce the length of the messages."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt_tokens + limit} tokens ({prompt_tokens} in the messages, {limit} in the completion). "
            "Please reduce the length of the messages or completion."
        )
    return invalid(message, "messages", "context_length_exceeded")


def completion_budget(prompt_tokens: int, limit: int | None, window: int) -> int:
    """Tokens the completion may use: ``limit`` when it fits beside the prompt, else what is left of
    the window when no limit was asked; a 400 ``context_length_exceeded`` when neither fits.

    Without a limit, a prompt that fills the whole window is refused too (as vLLM does): it leaves no
    room for a single completion token."""
    if limit is None:
        if prompt_tokens >= window:
            raise context_length_exceeded(window, prompt_tokens, None)
        return window - prompt_tokens
    if prompt_tokens + limit > window:
        raise context_length_exceeded(window, prompt_tokens, limit)
    return limit


def account(
    request: ChatCompletionRequest, settings: Settings, payloads: dict[str, bytes] | None = None
) -> Prompt:
    """``payloads``: the images lifted out of the body (and decoded) before it was parsed, by the placeholder
    URL that stands for each in ``request`` (``app.protocol.validation.parse_request_lifting``). Each
    is taken out of ``payloads`` as its image is read, so that no view of the request body outlives
    this step (without a journal, the body is then freed before the answer is chosen)."""
    text_tokens = 0
    image_total = 0
    images: list[ImageInfo] = []
    systems: list[str] = []
    user_text = ""
    assumed = (settings.url_image_width, settings.url_image_height)
    for i, message in enumerate(request.messages):
        content = message.content
        if isinstance(content, list):
            for j, part in enumerate(content):
                if part.type == "image_url":
                    url = part.image_url.url
                    info = inspect_image_url(
                        url,
                        f"messages[{i}].content[{j}].image_url.url",
                        max_pixels=settings.max_image_pixels,
                        assumed_size=assumed,
                        decoded=payloads.pop(url, None) if payloads else None,
                    )
                    images.append(info)
                    image_total += image_tokens(info.width, info.height)
        text = _text_of(content)
        text_tokens += tokens.count(text)
        if message.role == "assistant" and message.reasoning_content:
            text_tokens += tokens.count(message.reasoning_content)
        if message.role == "system":
            systems.append(text)
        elif message.role == "user":
            user_text = text
    template_tokens = tokens.TOKENS_PER_MESSAGE * len(request.messages) + tokens.TOKENS_PER_REPLY
    prompt_tokens = text_tokens + image_total + template_tokens
    return Prompt(
        prompt_tokens=prompt_tokens,
        images=tuple(images),
        system_texts=tuple(systems),
        user_text=user_text,
        completion_budget=completion_budget(prompt_tokens, request.completion_limit, settings.context_tokens),
    )
