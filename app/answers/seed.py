"""A reproducible seed per request: same request, same answer; any change to the input, another one.

Stream flags and token limits are left out, so a streamed answer equals the JSON one and a cut answer
is a prefix of the uncut one; images enter by their sha256, never by their base64 text.
"""

from __future__ import annotations

import hashlib
import random

from perceptron_mock.accounting.prompt import Prompt
from perceptron_mock.answers.draws import seeded
from perceptron_mock.protocol.requests import ChatCompletionRequest

_EXCLUDED = {"messages", "stream", "stream_options", "max_completion_tokens", "max_tokens"}
_EXCLUDED_T0 = _EXCLUDED | {"temperature"}
_WITH_MODEL = {True: _EXCLUDED | {"model"}, False: _EXCLUDED_T0 | {"model"}}  # by "excluded is _EXCLUDED"


def seed_of(request: ChatCompletionRequest, prompt: Prompt) -> int:
    # temperature 0 is the service default, so sending it is the same request as leaving it out
    excluded = _EXCLUDED if request.temperature else _EXCLUDED_T0
    digest = hashlib.blake2b(digest_size=8)
    digest.update(_fields_json(request, excluded))
    images = iter(prompt.images)
    for message in request.messages:
        digest.update(b"\x00" + message.role.encode() + b"\x00")
        content = message.content
        if isinstance(content, str):
            digest.update(content.encode("utf-8", "surrogatepass"))
            continue
        for part in content or ():
            if part.type == "text":
                digest.update(b"\x01" + part.text.encode("utf-8", "surrogatepass"))
            elif part.type == "refusal":  # an assistant's earlier refusal, replayed
                digest.update(b"\x04" + part.refusal.encode("utf-8", "surrogatepass"))
            else:
                image = next(images)
                digest.update(b"\x02" + (image.sha256 or image.url).encode())
        if message.role == "assistant" and message.reasoning_content:
            digest.update(b"\x03" + message.reasoning_content.encode("utf-8", "surrogatepass"))
        if message.role == "assistant" and message.tool_calls:  # names and arguments: ids are fresh each answer
            for call in message.tool_calls:
                digest.update(b"\x05" + f"{call.function.name}\x00{call.function.arguments}".encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "big")


def _fields_json(request: ChatCompletionRequest, excluded: set[str]) -> bytes:
    """The request's fields but ``excluded``, as pydantic dumps them. Most requests set only the model
    among them, a served model's id (plain text): its dump is written out, at a tenth of the cost."""
    model = request.model
    if (
        request.__pydantic_fields_set__ <= _WITH_MODEL[excluded is _EXCLUDED]  # model_fields_set, model_extra
        and not request.__pydantic_extra__  # without their property calls
        and model.isascii()
        and model.isprintable()
        and '"' not in model
        and "\\" not in model
    ):
        return b'{"model":"' + model.encode() + b'"}'
    return request.model_dump_json(exclude=excluded, exclude_none=True, by_alias=True).encode()


def rng_for(request: ChatCompletionRequest, prompt: Prompt, sample: int = 0) -> random.Random:
    """``sample``: which of the request's ``n`` samples (a multilook's), each drawn from its own seed."""
    return seeded(seed_of(request, prompt) + (sample << 64))  # seed_of is 64 bits: no two collide
