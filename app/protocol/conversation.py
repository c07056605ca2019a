"""The order a conversation with tool calls must keep: each ``tool`` message answers a call of the assistant
message before it, once, and every call is answered before the conversation goes on (docs/validation.md).

OpenAI's wording where it has one; ``param`` names the first message that breaks a rule.
"""

from __future__ import annotations

from perceptron_mock.protocol.errors import APIError, clip, invalid


def _unanswered(calls: dict[str, bool]) -> str:
    missing = [call_id for call_id, answered in calls.items() if not answered]
    shown = ", ".join(clip(call_id) for call_id in missing[:5])
    return shown + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")


def missing_responses(calls: dict[str, bool], param: str) -> APIError:
    return invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {_unanswered(calls)}",
        param,
        "missing_tool_response",
    )


def check_conversation(messages: list) -> None:
    """Raises the 400 for the first message that breaks the tool-call order; returns for a valid one."""
    if len(messages) == 1 and messages[0].role not in ("tool", "assistant"):  # most requests: no call, nothing to break
        return
    open_calls: dict[str, bool] | None = None  # the calls of the last assistant message: id → answered
    opened_at = 0
    for i, message in enumerate(messages):
        role = message.role
        if role == "tool":
            if open_calls is None:
                raise invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'.",
                    f"messages[{i}].role",
                    "invalid_tool_message",
                )
            call_id = message.tool_call_id
            if call_id not in open_calls:
                raise invalid(
                    f"Invalid parameter: 'tool_call_id' of '{clip(call_id)}' not found in 'tool_calls' of previous message.",
                    f"messages[{i}].tool_call_id",
                    "invalid_tool_call_id",
                )
            if open_calls[call_id]:
                raise invalid(
                    f"Invalid parameter: 'tool_call_id' of '{clip(call_id)}' was already answered by an earlier tool message.",
                    f"messages[{i}].tool_call_id",
                    "invalid_tool_call_id",
                )
            open_calls[call_id] = True
            continue
        if open_calls is not None and not all(open_calls.values()):
            raise missing_responses(open_calls, f"messages[{i}].role")
        open_calls = None
        calls = getattr(message, "tool_calls", None) if role == "assistant" else None
        if calls:
            open_calls = {}
            opened_at = i
            for j, call in enumerate(calls):
                if call.id in open_calls:
                    raise invalid(
                        f"Invalid parameter: the tool call id '{clip(call.id)}' appears twice in 'tool_calls'.",
                        f"messages[{i}].tool_calls[{j}].id",
                        "duplicate_tool_call_id",
                    )
                open_calls[call.id] = False
    if open_calls is not None and not all(open_calls.values()):
        raise missing_responses(open_calls, f"messages[{opened_at}].tool_calls")
