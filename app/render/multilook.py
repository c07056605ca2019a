"""The multilook answer: one ``chat.completion.multilook`` object, pretty-printed as chat's is.

The shape is the perceptron SDK's fixture (``tests/test_multilook.py``): no ``created``, per-prompt usage
holding ``completion_tokens`` only, and a failed prompt carrying ``error`` instead of completions.
"""

from __future__ import annotations

import orjson

from perceptron_mock.answers.answer import Completion
from perceptron_mock.answers.multilook import MultilookUsage, PromptResult


def _completion(index: int, completion: Completion) -> dict:
    message: dict = {"role": "assistant", "content": completion.content}
    if completion.reasoning is not None:
        message["reasoning_content"] = completion.reasoning
    return {"index": index, "message": message, "finish_reason": completion.finish_reason}


def _result(result: PromptResult) -> dict:
    if result.error is not None:
        return {"prompt_index": result.index, "error": result.error.envelope()["error"]}
    return {
        "prompt_index": result.index,
        "completions": [_completion(j, completion) for j, completion in enumerate(result.completions)],
        "usage": {"completion_tokens": result.completion_tokens},
    }


def multilook_object(results: list[PromptResult], usage: MultilookUsage, *, id: str, model: str) -> dict:
    return {
        "id": id,
        "object": "chat.completion.multilook",
        "model": model,
        "results": [_result(result) for result in results],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": usage.audio_tokens},
        },
    }


def render_multilook(results: list[PromptResult], usage: MultilookUsage, *, id: str, model: str) -> bytes:
    return orjson.dumps(multilook_object(results, usage, id=id, model=model), option=orjson.OPT_INDENT_2)
