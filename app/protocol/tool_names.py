"""The name the model sees for a declared tool, as the perceptron SDK 0.4.0 derives it (``chat.py:878-899``).

Quoted exactly, so that the names the SDK refuses as reserved or duplicate are the ones refused here.
"""

from __future__ import annotations

import re

# --- perceptron SDK 0.4.0, perceptron/chat.py (lines 878-899), verbatim -------------------------
_TOOL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_RESERVED_TOOL_RECIPIENT = "functions.parallel"


def _sanitize_tool_name_part(value: str) -> str:
    return _TOOL_NAME_UNSAFE.sub("_", value.strip()).strip("_") or "tool"


def tool_recipient(name: str) -> str:
    """The name the model sees for a declared function: ``ns.name`` for a dotted name, else ``functions.<name>``, with
    runs of characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``. Two tools may not share a recipient."""
    namespace, sep, rest = name.strip().partition(".")
    if sep and namespace and rest:
        return f"{_sanitize_tool_name_part(namespace)}.{_sanitize_tool_name_part(rest)}"
    return f"functions.{_sanitize_tool_name_part(name)}"
# --- end of the quote ------------------------------------------------------------------------------

RESERVED_RECIPIENT = _RESERVED_TOOL_RECIPIENT
