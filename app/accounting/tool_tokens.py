"""What tools cost in the prompt: the texts Qwen3's tool-calling chat template writes for them.

The definitions go into the system turn (one is made when the request has no system message first),
each call into its assistant turn, each result into a user turn (consecutive results share one).
"""

from __future__ import annotations

import json

from perceptron_mock.protocol.requests import ChatCompletionRequest, FunctionTool

_TOOLS_HEAD = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
_TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def tools_text(request: ChatCompletionRequest) -> str:
    """The tools block of the system turn ("" without function tools): each tool as ``tojson`` writes it."""
    tools = [tool for tool in request.tools or () if isinstance(tool, FunctionTool)]
    if not tools:
        return ""
    lines = "".join("\n" + json.dumps(tool.model_dump(exclude_none=True), ensure_ascii=False) for tool in tools)
    separator = "\n\n" if request.messages[0].role == "system" else ""
    return separator + _TOOLS_HEAD + lines + _TOOLS_TAIL


def calls_text(message) -> str:
    """An assistant message's calls as its turn writes them after its text."""
    out = []
    for i, call in enumerate(message.tool_calls or ()):
        out.append(("\n" if i else "") + f'<tool_call>\n{{"name": "{call.function.name}", "arguments": {call.function.arguments}}}\n</tool_call>')
    return ("\n" if message.content else "") + "".join(out) if out else ""


def result_text(text: str) -> str:
    """A tool message's text inside its user turn."""
    return f"\n<tool_response>\n{text}\n</tool_response>"
