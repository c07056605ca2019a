"""The shape of an answer (status, headers clients read, JSON keys and types, SSE framing), and the drift
between two shapes.

The recorder stores the upstream's shape in each recording; ``verify`` computes the shape of a fresh
answer and names every difference. Text never counts, only what a client's parser and logic depend on.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import orjson

# Headers clients read: the SDKs' request ids, their retry logic and the body's parser.
READ_HEADERS = ("x-request-id", "x-trace-id", "retry-after", "retry-after-ms")
RATE_LIMIT_PREFIX = "x-ratelimit-"


def json_type(value: Any) -> Any:
    """The type tree of a JSON value: objects keep their keys, arrays the merged type of their items."""
    if isinstance(value, dict):
        return {key: json_type(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = json_type(item) if merged is None else _merge(merged, json_type(item))
        return [] if merged is None else [merged]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _merge(a: Any, b: Any) -> Any:
    if a == b:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        return {key: _merge(a[key], b[key]) if key in a and key in b else a.get(key, b.get(key)) for key in {**a, **b}}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(a[0], b[0])] if a and b else (a or b)
    names = set(_kinds(a)) | set(_kinds(b))
    return "|".join(sorted(names))


def _kinds(tree: Any) -> list[str]:
    if isinstance(tree, dict):
        return ["object"]
    if isinstance(tree, list):
        return ["array"]
    return tree.split("|")


def sse_data(body: bytes) -> list[bytes]:
    """The ``data`` of each event of an SSE body, in order (comments and empty events left out)."""
    out = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = event_data(block)
        if data is not None:
            out.append(data)
    return out


def event_data(block: bytes) -> bytes | None:
    """The ``data`` of one SSE event (its lines split by ``\\n``), or None when it has none."""
    lines = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _event_kind(data: bytes, parsed: Any) -> str:
    if data.strip() == b"[DONE]":
        return "[DONE]"
    if not isinstance(parsed, dict):
        return "not-json"
    if "error" in parsed:
        return "error"
    parts = []
    choices = parsed.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
    if not choices:
        parts.append("no-choices")
    if "role" in delta:
        parts.append("role")
    for field in ("reasoning_content", "content", "tool_calls"):
        if delta.get(field) and "role" not in delta:
            parts.append(field)
    if choice.get("finish_reason"):
        parts.append("finish_reason")
    if parsed.get("usage"):
        parts.append("usage")
    return "+".join(parts) or "empty"


def _usage(usage: Any) -> dict[str, Any]:
    if not isinstance(usage, dict):
        return {"present": False}
    fields = sorted(k for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage)
    numbers = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    adds_up = all(isinstance(n, int) for n in numbers) and numbers[0] + numbers[1] == numbers[2]
    return {"present": True, "fields": fields, "adds_up": adds_up}


def shape(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """What ``verify`` compares of one answer; ``headers`` with lower-case names."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    read = sorted(name for name in headers if name in READ_HEADERS or name.startswith(RATE_LIMIT_PREFIX))
    out: dict[str, Any] = {"status": status, "content_type": media, "headers": read}
    if media == "text/event-stream":
        kinds: list[str] = []
        chunk: Any = None
        finishes: list[str] = []
        usage: dict[str, Any] = {"present": False}
        for data in sse_data(body):
            try:
                parsed = orjson.loads(data) if data.strip() != b"[DONE]" else None
            except orjson.JSONDecodeError:
                parsed = None
            kind = _event_kind(data, parsed)
            if not kinds or kinds[-1] != kind:  # a run of token chunks is one step of the framing
                kinds.append(kind)
            if isinstance(parsed, dict) and "error" not in parsed:
                tree = json_type(parsed)
                chunk = tree if chunk is None else _merge(chunk, tree)
                for choice in parsed.get("choices") or []:
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        finishes.append(choice["finish_reason"])
                if parsed.get("usage"):
                    usage = _usage(parsed["usage"])
            elif isinstance(parsed, dict):
                out["error"] = _error_fields(parsed)
        out.update(framing=kinds, chunk=chunk, finish_reasons=finishes, usage=usage)
        return out
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        out["body"] = "not-json"
        return out
    out["body"] = json_type(parsed)
    if isinstance(parsed, dict) and "error" in parsed:
        out["error"] = _error_fields(parsed)
    elif isinstance(parsed, dict):
        out["finish_reasons"] = [c.get("finish_reason") for c in parsed.get("choices") or [] if isinstance(c, dict)]
        out["usage"] = _usage(parsed.get("usage"))
    return out


def _error_fields(parsed: dict) -> dict[str, Any]:
    error = parsed.get("error")
    if not isinstance(error, dict):
        return {"envelope": False}
    return {key: error.get(key) for key in ("type", "code", "param")}


# --- drift -----------------------------------------------------------------------------------------


def drift(recorded: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Every way ``fresh`` differs from ``recorded`` in shape, as lines a person reads."""
    out: list[str] = []
    for key, what in (("status", "status"), ("content_type", "content-type")):
        if recorded.get(key) != fresh.get(key):
            out.append(f"{what} {recorded.get(key)!r} -> {fresh.get(key)!r}")
    missing = sorted(set(recorded.get("headers", ())) - set(fresh.get("headers", ())))
    added = sorted(set(fresh.get("headers", ())) - set(recorded.get("headers", ())))
    if missing:
        out.append(f"headers missing: {', '.join(missing)}")
    if added:
        out.append(f"headers new: {', '.join(added)}")
    old_error, new_error = recorded.get("error"), fresh.get("error")
    if old_error != new_error:
        if old_error is None or new_error is None:
            out.append(f"error {'appeared' if old_error is None else 'gone'}: {new_error or old_error}")
        else:
            for key in sorted(set(old_error) | set(new_error)):
                if old_error.get(key) != new_error.get(key):
                    out.append(f"error.{key} {old_error.get(key)!r} -> {new_error.get(key)!r}")
    if (old_error is None) != (new_error is None):
        return out  # an answer where an error was, or the reverse: its body's details would only repeat that
    if recorded.get("framing") != fresh.get("framing"):
        out.append(f"SSE framing {_steps(recorded.get('framing'))} -> {_steps(fresh.get('framing'))}")
    for key in ("body", "chunk"):
        if key in recorded or key in fresh:
            out.extend(f"{key}: {line}" for line in _tree_drift(recorded.get(key), fresh.get(key), ""))
    if recorded.get("finish_reasons") != fresh.get("finish_reasons"):
        out.append(f"finish_reason {recorded.get('finish_reasons')} -> {fresh.get('finish_reasons')}")
    old_usage, new_usage = recorded.get("usage"), fresh.get("usage")
    if old_usage != new_usage and not (old_usage is None and new_usage is None):
        old_usage, new_usage = old_usage or {}, new_usage or {}
        if old_usage.get("present") != new_usage.get("present"):
            out.append(f"usage {'gone' if old_usage.get('present') else 'appeared'}")
        elif old_usage.get("fields") != new_usage.get("fields"):
            out.append(f"usage fields {old_usage.get('fields')} -> {new_usage.get('fields')}")
        elif not new_usage.get("adds_up"):
            out.append("usage total_tokens is no longer prompt_tokens + completion_tokens")
    return out


def _steps(framing: Any) -> str:
    return " > ".join(framing) if isinstance(framing, list) else repr(framing)


def _tree_drift(old: Any, new: Any, path: str) -> Iterator[str]:
    where = path or "(top)"
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                yield f"{path}.{key} missing".lstrip(".")
            else:
                yield from _tree_drift(old[key], new[key], f"{path}.{key}")
        for key in new:
            if key not in old:
                yield f"{path}.{key} is new".lstrip(".")
        return
    if isinstance(old, list) and isinstance(new, list):
        if old and new:
            yield from _tree_drift(old[0], new[0], f"{path}[]")
        return
    if old != new:
        yield f"{where.lstrip('.')} type {_kind(old)} -> {_kind(new)}"


def _kind(tree: Any) -> str:
    return "|".join(_kinds(tree)) if tree is not None else "absent"
