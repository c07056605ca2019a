"""An answer's text with its token ids, joined from pieces whose ids are kept, so ``fit`` need not encode it.

Pieces join only where no pre-token of Qwen's pattern can cross (``joins``); anywhere else, or for
a text the tokenizer reads specially, the whole text is encoded as ``fit`` would encode it.
"""

from __future__ import annotations

from perceptron_mock.accounting import tokens
from perceptron_mock.values import value

PIECE_IDS_ENTRIES = 4096  # pieces whose ids are kept; the rules' own vocabulary is a few hundred
PIECE_IDS_CHARS = 128  # a longer piece (a long quoted prompt) is encoded but not kept
PIECE_IDS_HELD = 65_536  # characters and ids of all kept pieces together (~3 MiB at most)
_IDS: dict[str, tuple[int, ...]] = {}
_held = 0


@value
class Said:
    text: str
    ids: tuple[int, ...]  # == tokens.encode(text), always


def joins(before: str, after: str) -> bool:
    """Whether no pre-token of the Qwen pattern holds both the character ``before`` and ``after`` next
    to it (so the ids of two texts meeting there are the ids of their join): a space after a non-space
    (no pre-token ends in a space after a non-space), an ASCII digit on either side after a non-space
    (a digit is a pre-token of its own), or a non-space after a line break (a line break ends a
    pre-token). ``isspace`` holds for every character of the pattern's ``\\s``, and a few more. For texts
    without special tokens (``said`` encodes any text holding ``<|`` whole)."""
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
            if len(_IDS) >= PIECE_IDS_ENTRIES or _held > PIECE_IDS_HELD:
                _IDS.clear()  # a flood of new pieces costs their encoding again, never more memory
                _held = 0
            _IDS[piece] = found
            _held += len(piece) + len(found)
    return found


def said(*pieces: str) -> Said:
    """The join of ``pieces`` and its token ids: each piece's kept ids where every join is safe, else
    the whole text encoded."""
    text = "".join(pieces)
    if "<|" in text or len(text) > tokens.PIECE_CHARS:  # special tokens; texts cut into pieces by tokens
        return Said(text, tuple(tokens.encode(text)))
    ids: list[int] = []
    last = ""
    for piece in pieces:
        if not piece:
            continue
        if last and not ((piece[0] == " " and not last.isspace()) or joins(last, piece[0])):
            return Said(text, tuple(tokens.encode(text)))
        ids += _ids(piece)
        last = piece[-1]
    return Said(text, tuple(ids))
