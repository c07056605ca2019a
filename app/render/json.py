"""The non-streaming answer: one ``chat.completion`` object, pretty-printed as the service sends it."""

from __future__ import annotations

import orjson

from perceptron_mock.answers.answer import Completion


def usage_of(completion: Completion) -> dict:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
    }


def tool_calls_of(completion: Completion) -> list[dict]:
    return [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        for call_id, name, arguments in completion.tool_calls
    ]


def completion_object(completion: Completion, *, id: str, created: int, model: str) -> dict:
    message = {"role": "assistant", "content": completion.content, "reasoning_content": completion.reasoning}
    if completion.tool_calls:
        # OpenAI's shape: content null beside the calls unless the model also wrote text
        message["content"] = completion.content or None
        message["tool_calls"] = tool_calls_of(completion)
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": usage_of(completion),
    }


def render_completion(completion: Completion, *, id: str, created: int, model: str) -> bytes:
    return orjson.dumps(completion_object(completion, id=id, created=created, model=model), option=orjson.OPT_INDENT_2)
