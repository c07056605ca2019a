"""What a validated request costs and carries: prompt tokens, images, the texts the answer rules read.

This is the "account" step of the pipeline: it runs once per request, after validation and before an
answer is chosen, and its result (``Prompt``) is all the answer rules and the renderers need to know
about the input.
"""

from __future__ import annotations

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.image_tokens import image_tokens
from perceptron_mock.accounting import media_tokens, tool_tokens
from perceptron_mock.accounting.images import ImageInfo, inspect_image_url
from perceptron_mock.accounting.stored_files import FILE_ID_PARTS, content_url_image, resolve
from perceptron_mock.files.store import FileStore
from perceptron_mock.protocol.catalog import ModelEntry
from perceptron_mock.protocol.errors import APIError, invalid
from perceptron_mock.protocol.media_parts import MODALITY
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.settings import Settings
from perceptron_mock.values import value


@value
class Prompt:
    prompt_tokens: int  # text, images and the chat template's overhead
    images: tuple[ImageInfo, ...]  # every asset (media part), by asset index; video and audio stand-ins
    system_texts: tuple[str, ...]  # every system message's text, in order (hints live here)
    user_text: str  # the text of the last user message
    completion_budget: int  # tokens the completion may use
    # The asset the question is about: the last media part of the last user message that has one.
    # In-context examples put exemplar images (and their answers) first and the query image last.
    query_image: int | None = None
    # Per asset (``images`` is numbered by asset index, as the SDK's asset_idx is): "image", "video" or
    # "audio", and a video's duration in seconds (None for the others).
    asset_kinds: tuple[str, ...] = ()
    durations: tuple[float | None, ...] = ()
    reasoning: str = "on_request"  # the model's: "never" (THINK ignored), "on_request" or "always"


def text_of(content: object) -> str:
    """A message's text: its string, or its text parts joined by newlines ("" for none)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text")


def counted_bound(window: int) -> int:
    """Prompt tokens counted exactly: up to twice the window. A prompt past that is refused whatever its
    size, so counting stops there and the refusal says "more than" this many."""
    return 2 * window


def context_length_exceeded(window: int, prompt_tokens: int, limit: int | None, *, beyond: bool = False) -> APIError:
    """OpenAI's wording (see the wire notes), naming the window and what was asked; ``beyond``: the
    prompt was not counted to its end, only past ``prompt_tokens``, so the numbers read "more than"."""
    more = "more than " if beyond else ""
    if limit is None:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{more}{prompt_tokens} tokens. Please reduce the length of the messages."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{more}{prompt_tokens + limit} tokens ({more}{prompt_tokens} in the messages, {limit} in the completion). "
            "Please reduce the length of the messages or completion."
        )
    return invalid(message, "messages", "context_length_exceeded")


def completion_budget(prompt_tokens: int, limit: int | None, window: int, output_cap: int | None = None) -> int:
    """Tokens the completion may use: ``limit`` when it fits beside the prompt, else what is left of
    the window (at most ``output_cap``) when no limit was asked; a 400 ``context_length_exceeded`` when
    neither fits. A limit above the cap is refused before, by ``protocol.model_rules``.

    Without a limit, a prompt that fills the whole window is refused too (as vLLM does): it leaves no
    room for a single completion token."""
    if limit is None:
        if prompt_tokens >= window:
            raise context_length_exceeded(window, prompt_tokens, None)
        left = window - prompt_tokens
        return left if output_cap is None else min(left, output_cap)
    if prompt_tokens + limit > window:
        raise context_length_exceeded(window, prompt_tokens, limit)
    return limit


def _unopened(part, assumed: tuple[int, int]) -> tuple[ImageInfo, int, float | None]:
    """An asset accepted without decoding: (its stand-in ImageInfo, its estimated tokens, a video's
    duration), by the assumptions of ``accounting.media_tokens``."""
    kind = part.type
    if kind == "image_file_id":
        return ImageInfo(part.image_file_id.file_id, *assumed), image_tokens(*assumed), None
    size = media_tokens.VIDEO_SIZE
    if kind == "video_frames":
        stamps = [frame.timestamp_ms for frame in part.video_frames.frames]
        info = ImageInfo(f"video_frames:{len(stamps)}", *size)
        return info, media_tokens.video_tokens(len(stamps)), media_tokens.frames_duration(stamps)
    if kind in ("video_url", "video_file_id"):
        ref = part.video_url.url if kind == "video_url" else part.video_file_id.file_id
        url = ref.split(",", 1)[0] if ref.startswith("data:") else ref
        return ImageInfo(url, *size), media_tokens.video_url_tokens(), media_tokens.VIDEO_SECONDS
    return ImageInfo(kind, *size), media_tokens.audio_tokens(), None


def window_of(model: ModelEntry, settings: Settings) -> int:
    """The model's context window, unless ``--context-tokens`` is set: then that, for every model."""
    return settings.context_tokens if settings.context_tokens is not None else model.max_context_tokens


def _reasoning_of(model: ModelEntry) -> str:
    if not model.reasoning.supported:
        return "never"
    return "always" if model.reasoning.always_enabled else "on_request"


def _plain_texts(request: ChatCompletionRequest, bound: int) -> tuple[int, tuple[str, ...], str] | None:
    """Most requests, read in one plain loop: (prompt tokens, system texts, user text) when every
    message is a system or user message of one short text and the count stays within ``bound``; None
    sends the request through ``account``'s general reading, which gives the same for these."""
    total = tokens.TOKENS_PER_REPLY
    systems: list[str] = []
    user = ""
    for message in request.messages:
        text = message.content
        if type(text) is not str or len(text) > tokens.PIECE_CHARS:
            return None
        role = message.role
        if role == "user":
            user = text
        elif role == "system":
            systems.append(text)
        else:
            return None
        total += tokens.TOKENS_PER_MESSAGE + tokens.count(text)
        if total > bound:
            return None
    return total, tuple(systems), user


_NOTHING_BEFORE = Prompt(tokens.TOKENS_PER_REPLY, (), (), "", 0)  # a request's own: the generation prompt only


def account(
    request: ChatCompletionRequest,
    settings: Settings,
    model: ModelEntry,
    payloads: dict[str, bytes] | None = None,
    files: FileStore | None = None,
    *,
    after: Prompt | None = None,
) -> Prompt:
    """``model``: the requested model's catalog entry, whose window (``window_of``) and output cap apply.
    ``payloads``: the images lifted out of the body (and decoded) before it was parsed, by the placeholder
    URL that stands for each in ``request`` (``perceptron_mock.protocol.validation.parse_request_lifting``). Each
    is taken out of ``payloads`` as its image is read, so that no view of the request body outlives
    this step (without a journal, the body is then freed before the answer is chosen). ``files``: the
    uploaded files that file-id parts name (``accounting.stored_files``); None estimates them unopened.

    The prompt is read in order, message by message, and reading stops as soon as its tokens pass
    ``counted_bound``: no more text is counted and no more images are opened (an invalid image past
    that point is not reported), so a 20 MB prompt costs what one just past the bound does.

    ``after``: the account of messages that come before ``request``'s (a multilook's shared context,
    counted once for all its prompts): the count and the assets go on from it."""
    window = window_of(model, settings)
    bound = counted_bound(window)
    plain = _plain_texts(request, bound) if after is None and not request.tools else None
    if plain is not None:  # most requests: text messages only
        total, system_texts, user_text = plain
        left = completion_budget(total, request.completion_limit, window, model.max_output_tokens)
        return Prompt(total, (), system_texts, user_text, left, reasoning=_reasoning_of(model))
    budget = tokens.Budget(bound)
    before = after or _NOTHING_BEFORE
    budget.add(before.prompt_tokens)
    images: list[ImageInfo] = list(before.images)
    systems: list[str] = list(before.system_texts)
    user_text = before.user_text
    query_image: int | None = before.query_image
    kinds: list[str] = list(before.asset_kinds)
    durations: list[float | None] = list(before.durations)
    assumed = (settings.url_image_width, settings.url_image_height)
    tools_block = tool_tokens.tools_text(request) if request.tools else ""
    if tools_block and request.messages[0].role != "system":
        budget.add(tokens.TOKENS_PER_MESSAGE)  # the template's own system turn for the tools
        budget.add_text(tools_block)
    for i, message in enumerate(request.messages):
        role = message.role
        if role == "tool":  # results in a user turn, consecutive ones sharing it
            if i == 0 or request.messages[i - 1].role != "tool":
                budget.add(tokens.TOKENS_PER_MESSAGE)
            budget.add_text(tool_tokens.result_text(text_of(message.content)))
            continue
        budget.add(tokens.TOKENS_PER_MESSAGE)
        content = message.content
        if isinstance(content, list):
            for j, part in enumerate(content):
                if budget.exceeded:
                    break
                if part.type == "image_url":
                    url = part.image_url.url
                    param = f"messages[{i}].content[{j}].image_url.url"
                    stored = content_url_image(url, param, files, max_pixels=settings.max_image_pixels) if files is not None else None
                    info = stored or inspect_image_url(
                        url,
                        param,
                        max_pixels=settings.max_image_pixels,
                        assumed_size=assumed,
                        decoded=payloads.pop(url, None) if payloads else None,
                    )
                    images.append(info)
                    budget.add(image_tokens(info.width, info.height))
                    kinds.append("image")
                    durations.append(None)
                elif part.type in MODALITY:
                    if files is not None and part.type in FILE_ID_PARTS:
                        where = f"messages[{i}].content[{j}]"
                        info, cost, duration = resolve(part, where, files, max_pixels=settings.max_image_pixels)
                    else:
                        info, cost, duration = _unopened(part, assumed)
                    images.append(info)
                    budget.add(cost)
                    kinds.append(MODALITY[part.type])
                    durations.append(duration)
                else:
                    continue
                if role == "user":
                    query_image = len(images) - 1
        if budget.exceeded:
            break
        text = text_of(content)
        budget.add_text(text)
        if role == "user":
            user_text = text
        elif role == "system":
            if i == 0 and tools_block:
                budget.add_text(tools_block)
            systems.append(text)
        elif role == "assistant":
            if message.reasoning_content:
                budget.add_text(message.reasoning_content)
            if message.tool_calls:
                budget.add_text(tool_tokens.calls_text(message))
    if budget.exceeded:
        raise context_length_exceeded(window, bound, request.completion_limit, beyond=True)
    return Prompt(
        prompt_tokens=budget.total,
        images=tuple(images),
        system_texts=tuple(systems),
        user_text=user_text,
        query_image=query_image,
        asset_kinds=tuple(kinds),
        durations=tuple(durations),
        completion_budget=completion_budget(budget.total, request.completion_limit, window, model.max_output_tokens),
        reasoning=_reasoning_of(model),
    )
