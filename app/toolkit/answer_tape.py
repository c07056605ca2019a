"""What the mock answered, read back from the chunks a journal entry kept as sent, with their times.

An entry (``perceptron_mock.toolkit.journal_entry``) holds references to the bytes already written;
``decode`` reads them when somebody looks (content, reasoning, tool calls, the error envelope, stream
events with their times).
"""

from __future__ import annotations

from typing import Any

import orjson


def decode(chunks: list[bytes], times: list[float], *, shortened: bool = False) -> dict[str, Any]:
    """The answer as the live view and ``GET /_admin/requests`` show it."""
    out: dict[str, Any] = {
        "content": None,
        "reasoning": None,
        "tool_calls": None,
        "finish_reason": None,
        "error": None,
        "events": None,
        "text": None,
        "results": None,
        "shortened": shortened,
    }
    body = b"".join(chunks)
    if not body:
        return out
    if body.startswith((b"data:", b":")):
        _decode_stream(chunks, times, out)
        return out
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        out["text"] = body.decode("utf-8", errors="replace")
        return out
    if isinstance(data, dict) and "error" in data:
        out["error"] = data["error"]
    elif isinstance(data, dict) and isinstance(data.get("choices"), list) and data["choices"]:
        choice = data["choices"][0] if isinstance(data["choices"][0], dict) else {}
        message = choice.get("message") or {}
        out["content"] = message.get("content")
        out["reasoning"] = message.get("reasoning_content")
        out["tool_calls"] = message.get("tool_calls")
        out["finish_reason"] = choice.get("finish_reason")
    elif isinstance(data, dict) and data.get("object") == "chat.completion.multilook":
        out["results"] = [_prompt_result(r) for r in data.get("results") or () if isinstance(r, dict)]
    else:
        out["text"] = body.decode("utf-8", errors="replace")
    return out


def _prompt_result(result: dict[str, Any]) -> dict[str, Any]:
    """One multilook prompt's answer: its completions' content and finish reason, or its error."""
    completions = [c for c in result.get("completions") or () if isinstance(c, dict)]
    return {
        "prompt_index": result.get("prompt_index"),
        "completions": [
            {"content": (c.get("message") or {}).get("content"), "finish_reason": c.get("finish_reason")} for c in completions
        ],
        "error": result.get("error"),
    }


def _decode_stream(chunks: list[bytes], times: list[float], out: dict[str, Any]) -> None:
    events: list[dict[str, Any]] = []
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    pending = b""
    for chunk, ms in zip(chunks, times):
        pending += chunk
        *blocks, pending = pending.split(b"\n\n")
        for block in blocks:
            for line in block.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue  # a ": ping" comment
                text = line[5:].strip()
                events.append({"ms": ms, "data": text.decode("utf-8", errors="replace")})
                if text == b"[DONE]":
                    continue
                try:
                    data = orjson.loads(text)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(data, dict):
                    continue
                if "error" in data:
                    out["error"] = data["error"]
                for choice in data.get("choices") or ():
                    if not isinstance(choice, dict):
                        continue
                    delta = choice.get("delta") or {}
                    if isinstance(delta.get("content"), str):
                        content.append(delta["content"])
                    if isinstance(delta.get("reasoning_content"), str):
                        reasoning.append(delta["reasoning_content"])
                    for call in delta.get("tool_calls") or ():
                        _merge_call(calls, call)
                    if choice.get("finish_reason"):
                        out["finish_reason"] = choice["finish_reason"]
    out["events"] = events
    out["content"] = "".join(content) if content else None
    out["reasoning"] = "".join(reasoning) if reasoning else None
    out["tool_calls"] = [calls[i] for i in sorted(calls)] if calls else None


def _merge_call(calls: dict[int, dict[str, Any]], call: Any) -> None:
    """A streamed tool call's pieces, joined as the openai SDK joins them (by ``index``)."""
    if not isinstance(call, dict):
        return
    index = call.get("index") if isinstance(call.get("index"), int) else len(calls)
    into = calls.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    if call.get("id"):
        into["id"] = call["id"]
    function = call.get("function") or {}
    if isinstance(function.get("name"), str):
        into["function"]["name"] += function["name"]
    if isinstance(function.get("arguments"), str):
        into["function"]["arguments"] += function["arguments"]
