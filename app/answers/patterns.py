"""Patterns matched in time linear in the text: Python's regex syntax, searched by RE2 (``google-re2``).

Fixtures and JSON schemas search text a client sends, where backtracking ``re`` can take exponential
time; a pattern is parsed by Python's own parser and written out in RE2's syntax, or refused by name.
"""

from __future__ import annotations

import re
from functools import cache
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]

import re2

from perceptron_mock.answers.caches import PATTERNS

MAX_PATTERN_CHARS = 4096
# RE2's bound on one compiled pattern: its program (compiling a larger one fails) and the DFA states it
# caches while searching (past it a search falls back to RE2's slower, still linear, NFA).
RE2_MAX_MEM = 4 << 20
RE2_BYTES_PER_INSTRUCTION = 256
_RE2_MAX_REPEAT = 1000  # RE2 refuses a count over 1,000, and nested counts whose product is over 1,000

UNSUPPORTED = {
    C.GROUPREF: "backreferences (\\1, (?P=name))",
    C.GROUPREF_EXISTS: "conditional groups ((?(1)...|...))",
    C.ASSERT: "lookaround assertions ((?=...), (?<=...))",
    C.ASSERT_NOT: "negative lookaround assertions ((?!...), (?<!...))",
    C.ATOMIC_GROUP: "atomic groups ((?>...))",
    C.POSSESSIVE_REPEAT: "possessive repeats (*+, ++, ?+, {m,n}+)",
}
# Python 3.11's \B never matches in an empty string (3.14's does); RE2's does. Asked of re, not of the version.
EMPTY_NON_BOUNDARY_FAILS = re.fullmatch(r"\B", "") is None


class PatternError(ValueError):
    """A pattern that cannot be used, with the API's error code for it."""

    def __init__(self, message: str, code: str = "invalid_regex") -> None:
        super().__init__(message)
        self.message, self.code = message, code


def parse(pattern: str) -> P.SubPattern:
    """Python's parse tree of ``pattern`` (what ``re.compile`` builds from), or ``PatternError``."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"The regex is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS} are accepted.", "regex_too_long")
    try:
        return P.parse(pattern, 0)
    except re.error as exc:
        raise PatternError(f"Invalid regex: {exc}.") from None
    except (RecursionError, OverflowError, ValueError) as exc:
        raise PatternError(f"Invalid regex: {type(exc).__name__}: the pattern is nested too deeply or too large.") from None


# --- Python's classes as code-point ranges ---------------------------------------------------------


@cache
def _unicode_ranges() -> dict[str, tuple[tuple[int, int], ...]]:
    """The code points Python's Unicode ``\\d``, ``\\s`` and ``\\w`` match, found by ``re`` itself (so
    they are its Unicode version's), as ranges; built on first use (about 0.1 s), the scan then dropped."""
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    found = {}
    for category in "dsw":
        merged: list[tuple[int, int]] = []
        for match in re.finditer(f"\\{category}+", every):
            low, high = ord(match.group()[0]), ord(match.group()[-1])
            if merged and low == 0xE000 and merged[-1][1] == 0xD7FF:  # a run split only by the surrogates
                merged[-1] = (merged[-1][0], high)
            else:
                merged.append((low, high))
        found[category] = tuple(merged)
    return found


_ASCII_RANGES = {
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0D), (0x20, 0x20)),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}
_CATEGORIES = {
    C.CATEGORY_DIGIT: ("d", False),
    C.CATEGORY_NOT_DIGIT: ("d", True),
    C.CATEGORY_SPACE: ("s", False),
    C.CATEGORY_NOT_SPACE: ("s", True),
    C.CATEGORY_WORD: ("w", False),
    C.CATEGORY_NOT_WORD: ("w", True),
}


def _complement(ranges) -> list[tuple[int, int]]:
    out, start = [], 0
    for low, high in ranges:
        if low > start:
            out.append((start, low - 1))
        start = high + 1
    if start <= 0x10FFFF:
        out.append((start, 0x10FFFF))
    return out


def _category_ranges(category, ascii_only: bool) -> list[tuple[int, int]]:
    name, negated = _CATEGORIES[category]
    ranges = _ASCII_RANGES[name] if ascii_only else _unicode_ranges()[name]
    return _complement(ranges) if negated else list(ranges)


def _merged(ranges) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


# --- writing RE2 syntax ------------------------------------------------------------------------------


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


_FLAG_LETTERS = ((C.SRE_FLAG_IGNORECASE, "i"), (C.SRE_FLAG_MULTILINE, "m"), (C.SRE_FLAG_DOTALL, "s"))


def _letters(flags: int) -> str:
    return "".join(letter for flag, letter in _FLAG_LETTERS if flags & flag)


class _Writer:
    """The parse tree in RE2 syntax. ``ascii_only``: read ``\\d \\w \\s`` as ``(?a)`` does, whatever the
    flags; ``empty_text``: the variant searched in an empty string, where Python's ``\\B`` fails and RE2's holds."""

    def __init__(self, *, ascii_only: bool = False, empty_text: bool = False) -> None:
        self.ascii_only = ascii_only
        self.empty_text = empty_text
        self.uses_non_boundary = False

    def sequence(self, items, flags: int, tail: bool) -> str:
        last = len(items) - 1
        return "".join(self.node(op, av, flags, tail and i == last) for i, (op, av) in enumerate(items))

    def node(self, op, av, flags: int, tail: bool) -> str:
        if op in UNSUPPORTED:
            raise PatternError(f"Unsupported regex construct: {UNSUPPORTED[op]}.", "unsupported_regex")
        if op == C.LITERAL:
            return _char(av)
        if op == C.NOT_LITERAL:
            return f"[^{_char(av)}]"
        if op == C.ANY:
            return "."
        if op == C.IN:
            return self.char_class(av, flags)
        if op == C.BRANCH:
            return "(?:" + "|".join(self.sequence(branch, flags, tail) for branch in av[1]) + ")"
        if op == C.SUBPATTERN:
            _group, add, remove, body = av
            on, off = _letters(add), _letters(remove)
            return f"(?{on}{'-' + off if off else ''}:{self.sequence(body, (flags | add) & ~remove, tail)})"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):  # lazy or greedy: the same strings match
            low, high, body = av
            return _repeat(f"(?:{self.sequence(body, flags, False)})", low, high)
        if op == C.AT:
            return self.anchor(av, flags, tail)
        raise PatternError(f"Unsupported regex construct: {op}.", "unsupported_regex")

    def char_class(self, items, flags: int) -> str:
        negated = bool(items) and items[0][0] == C.NEGATE
        ranges: list[tuple[int, int]] = []
        for op, av in items[1:] if negated else items:
            if op == C.LITERAL:
                ranges.append((av, av))
            elif op == C.RANGE:
                ranges.append(av)
            elif op == C.CATEGORY and av in _CATEGORIES:
                ranges += _category_ranges(av, self.ascii_only or bool(flags & C.SRE_FLAG_ASCII))
            else:
                raise PatternError(f"Unsupported character class item: {op} {av}.", "unsupported_regex")
        ranges = _merged(ranges)
        if not ranges:  # [] cannot be written; these mean no character, and any character
            return "[^\\x{0}-\\x{10ffff}]" if not negated else "[\\x{0}-\\x{10ffff}]"
        body = "".join(_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges)
        return f"[{'^' if negated else ''}{body}]"

    def anchor(self, at, flags: int, tail: bool) -> str:
        if at in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            return "^" if at == C.AT_BEGINNING else "\\A"
        if at == C.AT_END and flags & C.SRE_FLAG_MULTILINE:
            return "$"  # RE2's multi-line $ is Python's: before any newline, or at the end
        if at == C.AT_END:
            # Python's $ also holds before a final newline; where nothing follows it, the match may take
            # that newline (a search only asks whether there is a match). Elsewhere: the very end.
            return "(?:\\n?\\z)" if tail else "\\z"
        if at == C.AT_END_STRING:
            return "\\z"
        if at == C.AT_BOUNDARY:
            return "\\b"
        if at == C.AT_NON_BOUNDARY:
            self.uses_non_boundary = True
            return "[^\\x{0}-\\x{10ffff}]" if self.empty_text and EMPTY_NON_BOUNDARY_FAILS else "\\B"
        raise PatternError("Unsupported anchor in the regex.", "unsupported_regex")


def _repeat(atom: str, low: int, high: int) -> str:
    """``atom{low,high}`` with every count within RE2's 1,000: larger counts become a sequence."""
    parts = []
    while low > _RE2_MAX_REPEAT:
        parts.append(f"{atom}{{{_RE2_MAX_REPEAT}}}")
        low -= _RE2_MAX_REPEAT
        if high != C.MAXREPEAT:
            high -= _RE2_MAX_REPEAT
    if high == C.MAXREPEAT:
        parts.append(f"{atom}{{{low},}}")
    else:
        top = min(high, _RE2_MAX_REPEAT)
        parts.append(f"{atom}{{{low},{top}}}")
        spare = high - top
        while spare > 0:
            step = min(spare, _RE2_MAX_REPEAT)
            parts.append(f"{atom}{{0,{step}}}")
            spare -= step
    return "".join(parts)


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    options.never_capture = True
    return options


def _re2(text: str):
    try:
        compiled = re2.compile(text, _options())
    except re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "repetition" in why:
            raise PatternError(
                "Unsupported regex: RE2, which matches it in linear time, allows repeat counts (nested ones "
                f"multiplied together) of at most {_RE2_MAX_REPEAT:,}.",
                "unsupported_regex",
            ) from None
        if "too large" in why or "too big" in why:
            raise PatternError(f"The regex compiles to more than RE2's {RE2_MAX_MEM:,}-byte limit.", "regex_too_complex") from None
        raise PatternError(f"Unsupported regex: RE2 cannot compile it ({why}).", "unsupported_regex") from None
    finally:
        re2.purge()  # re2.compile keeps its own unbounded-in-bytes cache of 128; the one that counts is ours
    return compiled


class Matcher:
    """A pattern compiled for RE2: ``search`` answers as ``re.search(pattern, text)`` does (with ``(?a)``
    when ``ascii_only``), but for ``\\b`` and ``\\B``, which see only ASCII letters, digits and ``_`` as
    word characters (RE2's rule), and a non-multi-line ``$`` followed by more pattern, which holds only at
    the very end (Python's also holds before a final newline)."""

    __slots__ = ("pattern", "rewritten", "_regex", "_on_empty")

    def __init__(self, pattern: str, *, ascii_only: bool = False) -> None:
        tree = parse(pattern)
        writer = _Writer(ascii_only=ascii_only)
        flags = tree.state.flags
        try:
            body = writer.sequence(tree, flags, True)
            on_empty = _Writer(ascii_only=ascii_only, empty_text=True).sequence(tree, flags, True) if writer.uses_non_boundary else None
        except RecursionError:
            raise PatternError("Invalid regex: the pattern is nested too deeply.") from None
        prefix = f"(?{_letters(flags)})" if _letters(flags) else ""
        self.pattern = pattern
        self.rewritten = prefix + body
        self._regex = _re2(self.rewritten)
        self._on_empty = _re2(prefix + on_empty) if on_empty is not None and EMPTY_NON_BOUNDARY_FAILS else None

    def search(self, text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is kept, not an error
        regex = self._on_empty if not data and self._on_empty is not None else self._regex
        return regex.search(data) is not None

    @property
    def program_size(self) -> int:
        return self._regex.programsize + (self._on_empty.programsize if self._on_empty is not None else 0)

    @property
    def cost(self) -> int:
        """An estimate of the bytes this matcher holds, for the caches: RE2's program and the DFA states
        its searches cache (RSS grew ~210 bytes an instruction for 1,000-instruction patterns searched in
        1,000-character texts), at least 64 KiB; RE2 itself never lets one take more than ``RE2_MAX_MEM``."""
        return 65536 + RE2_BYTES_PER_INSTRUCTION * self.program_size + 8 * len(self.rewritten)


def compile(pattern: str, *, ascii_only: bool = False) -> Matcher:
    """The matcher for ``pattern``, from the pattern cache (JSON schemas repeat across requests)."""
    return PATTERNS.get_or_make(("re2", ascii_only, pattern), lambda: Matcher(pattern, ascii_only=ascii_only), lambda matcher: matcher.cost)
