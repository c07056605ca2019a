"""An answer's text with its token ids, joined from pieces whose ids are kept, so ``fit`` need not encode it.

Pieces join only where no pre-token of Qwen's pattern can cross (``joins``); two that meet anywhere
else are encoded as one, and a text the tokenizer reads specially is encoded whole.
"""

from __future__ import annotations

from perceptron_mock.accounting import tokens
from perceptron_mock.values import value

PIECE_IDS_ENTRIES = 4096  # pieces whose ids are kept; the rules' own vocabulary is a few hundred
PIECE_IDS_CHARS = 128  # a longer piece (a long quoted prompt) is encoded but not kept
PIECE_IDS_HELD = 262_144  # characters and ids of all kept pieces together (~6 MiB at most)
_IDS: dict[str, tuple[int, ...]] = {}
_KEPT: dict[str, tuple[int, ...]] = {}  # pieces a rule registered at import (``keep``): never dropped
_held = 0


@value
class Said:
    text: str
    ids: tuple[int, ...]  # == tokens.encode(text), always


def joins(before: str, after: str) -> bool:
    """Whether no pre-token of Qwen's pattern holds both ``before`` and the ``after`` next to it, so that
    two texts meeting there encode to their ids joined: a space, or an ASCII digit on either side (a
    digit is a pre-token alone), after a non-space; a non-space after a line break (which ends a
    pre-token). ``isspace`` covers the pattern's ``\\s`` and more. Texts holding ``<|`` are not
    covered (special tokens): ``said`` encodes them whole."""
    if before in "\r\n":
        return not after.isspace()
    if before.isspace():
        return False
    return after == " " or "0" <= after <= "9" or "0" <= before <= "9"


def _ids(piece: str) -> tuple[int, ...]:
    global _held
    found = _IDS.get(piece)
    if found is None:
        found = tuple(tokens.encode(piece))
        if len(piece) <= PIECE_IDS_CHARS:
            if len(_IDS) - len(_KEPT) >= PIECE_IDS_ENTRIES or _held > PIECE_IDS_HELD:
                _IDS.clear()  # a flood of new pieces costs their encoding again, never more memory
                _IDS.update(_KEPT)
                _held = 0
            _IDS[piece] = found
            _held += len(piece) + len(found)
    return found


def keep(pieces: list[str]) -> None:
    """Encode a rule's fixed ``pieces`` once, at import, and keep them for good."""
    for piece in pieces:
        _KEPT[piece] = _IDS[piece] = tuple(tokens.encode(piece))


def said(*pieces: str) -> Said:
    """The join of ``pieces`` and its token ids: each piece's kept ids, two pieces that meet where a
    token may cross (``joins``) encoded as one; a text holding ``<|``, or whose merged pieces grow past
    what is kept, encoded whole."""
    text = "".join(pieces)
    if "<|" in text or len(text) > tokens.PIECE_CHARS:  # special tokens; texts cut into pieces by tokens
        return Said(text, tuple(tokens.encode(text)))
    ids: list[int] = []
    start = 0  # where the ids of the piece before begin
    before = ""
    get = _IDS.get
    for piece in pieces:
        if not piece:
            continue
        first = piece[0]
        # The common joins tested inline (a space or a digit after a non-space), the rest by joins().
        if before and not ((first == " " or "0" <= first <= "9") and not before[-1].isspace()) and not joins(before[-1], first):
            piece = before + piece
            if len(piece) > PIECE_IDS_CHARS:
                return Said(text, tuple(tokens.encode(text)))
            del ids[start:]
        else:
            start = len(ids)
        found = get(piece)
        ids += found if found is not None else _ids(piece)
        before = piece
    return Said(text, tuple(ids))
