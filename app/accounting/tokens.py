"""Text tokens: how many a text costs and where a completion is cut into stream deltas.

An approximation of a BPE tokenizer: words with their leading space, runs of up to three digits,
single punctuation marks and runs of whitespace each count as one token. One splitter serves
counting, truncation and streaming, so usage, ``max_completion_tokens`` cuts and deltas always agree.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]|\s+(?!\S)|\s+|_+")

# Chat-template overhead: each message is framed as "<|im_start|>role\n…<|im_end|>\n" (4 tokens),
# and the prompt ends with "<|im_start|>assistant\n" (3 tokens), as in Qwen-family templates.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3


def split(text: str) -> list[str]:
    """Token-sized pieces of ``text``; ``"".join(split(t)) == t``."""
    return _PIECE.findall(text)


def count(text: str) -> int:
    return len(_PIECE.findall(text))


def truncate(text: str, limit: int) -> tuple[str, int, bool]:
    """``text`` cut to at most ``limit`` tokens: (text, tokens, was_cut)."""
    pieces = _PIECE.findall(text)
    if len(pieces) <= limit:
        return text, len(pieces), False
    return "".join(pieces[:limit]), limit, True
