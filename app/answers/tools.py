"""The tool-calling rule: which offered tools the last user message names, and the text after their results.

The rule is written down exactly in docs/tools.md, since users script against it; arguments come from
``answers.tool_arguments``. Everything is read from the request's own messages: no state on the server.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from perceptron_mock.accounting.prompt import text_of
from perceptron_mock.answers.answer import Answer, ToolCall
from perceptron_mock.answers.tool_arguments import arguments_for
from perceptron_mock.protocol.requests import ChatCompletionRequest, FunctionTool

# Words of a tool's name that say nothing about what it is for: prompts use them for everything.
STOP_WORDS = frozenset(
    {
        "get", "set", "put", "add", "run", "use", "make", "call", "fetch", "find", "list", "show", "check", "create",
        "update", "delete", "remove", "search", "lookup", "query", "read", "write", "send", "the", "and", "for",
        "with", "from", "into", "out", "all", "new", "current", "tool", "tools", "function", "functions", "api",
        "data", "info",
    }
)
MIN_WORD = 3
MAX_TEXT = 100_000  # characters of the last user message searched for tool names
WHOLE_NAME_CHARS = 64  # a longer name is matched by its words only
QUOTED_RESULT_CHARS = 200  # of each tool result, in the answer that follows the results
MAX_QUOTED = 32  # results quoted in that answer; the rest are counted
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_\-.\s]+")
_TEXT_WORD = re.compile(r"[^\W_]+")


def name_words(name: str) -> frozenset[str]:
    """The words of a tool's name that call it: split at ``_ - .``, spaces and camelCase, lower-cased, of
    three letters or more and not stop words (``get_weather`` → {"weather"})."""
    words = (word.lower() for part in _SEPARATORS.split(name) for word in _CAMEL.split(part))
    return frozenset(word for word in words if len(word) >= MIN_WORD and word not in STOP_WORDS)


def _names_whole(text: str, name: str) -> bool:
    """Whether ``name`` (of at most ``WHOLE_NAME_CHARS``) appears in ``text`` (both lower-cased) with no
    letter, digit or ``_`` either side."""
    name = name.strip().lower()
    if not name or len(name) > WHOLE_NAME_CHARS:
        return False
    return re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text) is not None


def named_tools(tools: list[FunctionTool], text: str) -> list[FunctionTool]:
    """The tools the text (its first ``MAX_TEXT`` characters) names, in the order they are offered."""
    lowered = text[:MAX_TEXT].lower()
    words = set(_TEXT_WORD.findall(lowered))
    return [
        tool for tool in tools if name_words(tool.function.name) & words or _names_whole(lowered, tool.function.name)
    ]


def _since_last_user(request: ChatCompletionRequest) -> list:
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return list(messages[i + 1 :])
    return list(messages)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTED_RESULT_CHARS else text[: QUOTED_RESULT_CHARS - 3].rstrip() + "..."


def after_results(request: ChatCompletionRequest) -> str:
    """The text that ends the loop: each tool called since the last user message, with its result quoted."""
    names: dict[str, str] = {}
    lines: list[str] = []
    skipped = 0
    for message in _since_last_user(request):
        if message.role == "assistant" and message.tool_calls:
            names.update((call.id, call.function.name) for call in message.tool_calls)
        elif message.role == "tool":
            if len(lines) == MAX_QUOTED:
                skipped += 1
                continue
            name = names.get(message.tool_call_id, "the tool")
            lines.append(f'- {_clip(name)} returned: "{_clip(text_of(message.content))}"')
    if skipped:
        lines.append(f"- and {skipped} more result{'s' if skipped > 1 else ''}")
    return "Here is what the tools returned:\n" + "\n".join(lines)


def tool_answer(request: ChatCompletionRequest, user_text: str, rng: random.Random) -> Answer | None:
    """The calls the rule makes, or the text after the last results; None when neither applies (the
    other rules answer). See docs/tools.md, "When the mock calls a tool"."""
    last = request.messages[-1].role
    if last == "tool":
        pending = _pending(request, user_text) if request.tool_choice != "none" else []
        if not pending:
            return Answer(content=after_results(request))
        return _calls(request, pending, user_text, rng)
    if last != "user" or not request.tools or request.tool_choice == "none":
        return None
    offered = [tool for tool in request.tools if isinstance(tool, FunctionTool)]
    named = named_tools(offered, user_text)
    if not named:
        return None
    return _calls(request, named, user_text, rng)


def _pending(request: ChatCompletionRequest, user_text: str) -> list[FunctionTool]:
    """With ``parallel_tool_calls`` false, the named tools not yet called since the last user message."""
    if request.parallel_tool_calls is not False or not request.tools:
        return []
    called = {
        call.function.name
        for message in _since_last_user(request)
        if message.role == "assistant" and message.tool_calls
        for call in message.tool_calls
    }
    offered = [tool for tool in request.tools if isinstance(tool, FunctionTool)]
    return [tool for tool in named_tools(offered, user_text) if tool.function.name not in called]


def _calls(request: ChatCompletionRequest, tools: list[FunctionTool], user_text: str, rng: random.Random) -> Answer:
    if request.parallel_tool_calls is False:
        tools = tools[:1]
    index = {id(tool): i for i, tool in enumerate(request.tools or ())}
    calls = tuple(
        ToolCall(tool.function.name, arguments_for(tool.function, user_text, rng, f"tools[{index[id(tool)]}]"))
        for tool in tools
    )
    return Answer(content="", tool_calls=calls, finish_reason="tool_calls")


def scripted_calls(answer: Answer, request: ChatCompletionRequest, user_text: str, rng: random.Random) -> Answer:
    """A fixture's calls, the arguments it leaves out made from the offered tool's parameters (``{}`` for a
    tool not offered)."""
    offered = {tool.function.name: (i, tool) for i, tool in enumerate(request.tools or ()) if isinstance(tool, FunctionTool)}
    calls = []
    for call in answer.tool_calls:
        if call.arguments is None and call.name in offered:
            i, tool = offered[call.name]
            call = ToolCall(call.name, arguments_for(tool.function, user_text, rng, f"tools[{i}]"))
        calls.append(call)
    return replace(answer, tool_calls=tuple(calls))
