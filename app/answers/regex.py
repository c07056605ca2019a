"""``regex``: content that fully matches a pattern, made by walking the pattern, never by searching.

Nothing backtracks, so the time is bounded by the parse tree and the output whatever the pattern;
constructs that make a language not regular are refused by name (docs: "Answers", "Limits").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from re import _constants as C  # type: ignore[attr-defined]

from perceptron_mock.answers import patterns
from perceptron_mock.answers.caches import PATTERNS
from perceptron_mock.answers.patterns import EMPTY_NON_BOUNDARY_FAILS, PatternError
from perceptron_mock.protocol.errors import APIError

MAX_OUTPUT_CHARS = 4096
COMPILED_BYTES_PER_CHAR = 256
MAX_STEPS = 100_000
ATTEMPTS = 25
MAX_EMPTY_REPEATS = 1000
SPREADS = (6, 3, 1, 0)  # extra repeats above the minimum, by how deep the repeat is nested

_PRINTABLE = [chr(c) for c in range(32, 127)]
_EXOTIC = ["é", "ß", "ñ", "ø", "Ж", "λ", "中", "☃", "€", "\t"]
_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ANY = _LETTERS * 2 + "  .,-0123456789ABCDEFGHIJ"
_CATEGORY_POOLS = {
    C.CATEGORY_DIGIT: "0123456789",
    C.CATEGORY_WORD: _LETTERS * 3 + _WORD,
    C.CATEGORY_SPACE: " ",
}


def _bad(message: str, code: str = "invalid_regex") -> APIError:
    return APIError(400, message, param="regex", code=code)


class _Retry(Exception):
    """This walk broke an anchor or boundary; another walk may not."""


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_ascii_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _category_match(category, ch: str) -> bool:
    if category in (C.CATEGORY_DIGIT, C.CATEGORY_UNI_DIGIT):
        return ch.isdecimal()
    if category in (C.CATEGORY_NOT_DIGIT, C.CATEGORY_UNI_NOT_DIGIT):
        return not ch.isdecimal()
    if category in (C.CATEGORY_SPACE, C.CATEGORY_UNI_SPACE):
        return ch.isspace()
    if category in (C.CATEGORY_NOT_SPACE, C.CATEGORY_UNI_NOT_SPACE):
        return not ch.isspace()
    if category in (C.CATEGORY_WORD, C.CATEGORY_UNI_WORD):
        return _is_word(ch)
    if category in (C.CATEGORY_NOT_WORD, C.CATEGORY_UNI_NOT_WORD):
        return not _is_word(ch)
    return False


def _in_set(items, ch: str, ignorecase: bool) -> bool:
    """Whether ``ch`` is in a character class given as the parser's item list (without NEGATE)."""
    variants = {ch, ch.lower(), ch.upper()} if ignorecase else {ch}
    for op, av in items:
        if op == C.LITERAL:
            if chr(av) in variants:
                return True
        elif op == C.RANGE:
            if any(av[0] <= ord(v) <= av[1] for v in variants if len(v) == 1):
                return True
        elif op == C.CATEGORY:
            if _category_match(av, ch):
                return True
    return False


def _safe_char(code: int) -> bool:
    return not 0xD800 <= code <= 0xDFFF


def _pool(accept) -> list[str]:
    """The characters a class may produce: the printable ASCII it accepts, else the exotic ones (empty:
    the class excludes everything the mock produces)."""
    return [ch for ch in _PRINTABLE if accept(ch)] or [ch for ch in _EXOTIC if accept(ch)]


# \d \w \s keep their weighted pools; every other category (\D \S \W, their Unicode forms, locale and
# linebreak ones) gets the pool of what it accepts, built here once.
_POSITIVE = {
    C.CATEGORY_UNI_DIGIT: C.CATEGORY_DIGIT,
    C.CATEGORY_UNI_WORD: C.CATEGORY_WORD,
    C.CATEGORY_UNI_SPACE: C.CATEGORY_SPACE,
}
_CATEGORY_PICK = {
    category: _CATEGORY_POOLS.get(_POSITIVE.get(category, category)) or _pool(lambda ch, c=category: _category_match(c, ch))
    for category in (getattr(C, name) for name in dir(C) if name.startswith("CATEGORY_"))
}


class Steps:
    """A step count shared by several ``generate`` calls (every pattern in a JSON schema, over all its
    attempts), so that ``MAX_STEPS`` bounds the work of the whole request, not of one string."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


class _Walk:
    """One attempt at a string: the output so far, the pending anchor constraints, a step budget."""

    def __init__(self, rng: random.Random, compiled: Compiled, max_chars: int, steps: int, ascii_words: bool) -> None:
        self.rng = rng
        self.ascii_words = ascii_words
        self.min_lengths = compiled.min_lengths  # id(repeat body) -> the fewest characters it produces
        self.pools = compiled.pools
        self.out: list[str] = []
        self.length = 0
        self.steps = steps  # carried over from earlier attempts: the budget is for the whole request
        self.max_chars = max_chars
        self.must_end = False  # after $ or \Z: nothing may follow
        self.need_newline = False  # after a MULTILINE $: only a newline may follow
        # After \b (True) or \B (False): whether the next character must switch between word and
        # non-word, and whether "word" is ASCII's ((?a)); several may stand at one position.
        self.boundaries: list[tuple[bool, bool]] = []
        self.depth = 0  # how many repeats the walk is inside

    # -- output ------------------------------------------------------------------------------
    def emit(self, ch: str) -> None:
        if self.must_end:
            raise _Retry
        if self.need_newline:
            if ch != "\n":
                raise _Retry
            self.need_newline = False
        if self.boundaries:
            self.check_boundaries(ch)
            self.boundaries.clear()
        self.out.append(ch)
        self.length += 1
        if self.length > self.max_chars:
            raise _Retry

    def finish(self) -> str:
        if self.boundaries:
            if not self.out and EMPTY_NON_BOUNDARY_FAILS and not all(switch for switch, _ in self.boundaries):
                raise _Retry  # re's \B fails in an empty string, whatever the pattern around it
            self.check_boundaries(None)
        return "".join(self.out)

    def check_boundaries(self, after: str | None) -> None:
        """Each pending ``\\b`` or ``\\B`` holds between the last character and ``after`` (None: the end)."""
        for switch, ascii_only in self.boundaries:
            is_word = _is_ascii_word if ascii_only else _is_word
            before = bool(self.out) and is_word(self.out[-1])
            if (before != (after is not None and is_word(after))) != switch:
                raise _Retry

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _bad("The pattern is too complex to generate from within the time limit.", "regex_too_complex")

    # -- the walk ----------------------------------------------------------------------------
    def run(self, items, flags: int) -> None:
        for op, av in items:
            self.node(op, av, flags)

    def node(self, op, av, flags: int) -> None:
        self.step()
        ignorecase = bool(flags & C.SRE_FLAG_IGNORECASE)
        if op == C.LITERAL:
            self.emit(chr(av))
        elif op == C.NOT_LITERAL:
            self.emit(self.pick(self.not_literal_pool(av, ignorecase)))
        elif op == C.ANY:  # never a newline, so DOTALL makes no difference
            self.emit(self.rng.choice(_ANY))
        elif op == C.IN:
            self.emit(self.pick_in(av, ignorecase))
        elif op == C.BRANCH:
            self.run(self.rng.choice(av[1]), flags)
        elif op == C.SUBPATTERN:
            _group, add, remove, body = av
            self.run(body, (flags | add) & ~remove)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, body = av
            count = self.repeat_count(low, high, body)
            self.depth += 1
            for _ in range(count):
                self.step()
                self.run(body, flags)
            self.depth -= 1
        elif op == C.AT:
            self.anchor(av, flags)
        else:  # filtered out by _check; kept as a guard
            raise _bad(f"Unsupported regex construct: {op}.", "unsupported_regex")

    def repeat_count(self, low: int, high: int, body) -> int:
        # Fewer extra repeats the deeper the nesting, so that nested repeats stay within the output limit.
        widest = SPREADS[min(self.depth, len(SPREADS) - 1)]
        spread = widest if high == C.MAXREPEAT else min(high - low, widest)
        room = self.max_chars - self.length
        body_min = self.min_lengths[id(body)]
        count = low + self.rng.randint(0, max(0, spread))
        if body_min and count > low:
            count = max(low, min(count, low + max(0, room - low * body_min) // max(body_min, 1)))
        return count

    def anchor(self, at, flags: int) -> None:
        multiline = bool(flags & C.SRE_FLAG_MULTILINE)
        if at in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            at_start = not self.out or (multiline and at == C.AT_BEGINNING and self.out[-1] == "\n")
            if not at_start:
                raise _Retry
        elif at in (C.AT_END, C.AT_END_STRING):
            if multiline and at == C.AT_END:
                self.need_newline = True  # a newline next, or the end
            else:
                self.must_end = True
        elif at in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
            self.boundaries.append((at == C.AT_BOUNDARY, self.ascii_words or bool(flags & C.SRE_FLAG_ASCII)))
        else:
            raise _bad("Unsupported anchor in the pattern.", "unsupported_regex")

    def pick(self, pool: Sequence[str]) -> str:
        if not pool:
            raise _bad("A negated character class in the pattern excludes every character the mock can produce.", "unsupported_regex")
        return self.rng.choice(pool)

    # A negated class's pool depends only on the pattern: it is worked out on first use and kept with
    # the compiled pattern, not rebuilt for every character.
    def not_literal_pool(self, code: int, ignorecase: bool) -> list[str]:
        key = (C.NOT_LITERAL, code, ignorecase)
        pool = self.pools.get(key)
        if pool is None:
            ch = chr(code)
            excluded = {ch, ch.lower(), ch.upper()} if ignorecase else {ch}
            pool = self.pools[key] = _pool(lambda c: c not in excluded)
        return pool

    def negated_pool(self, items, ignorecase: bool) -> list[str]:
        key = (id(items), ignorecase)  # items is held by the compiled pattern, so its id stays its own
        pool = self.pools.get(key)
        if pool is None:
            rest = items[1:]
            pool = self.pools[key] = _pool(lambda ch: not _in_set(rest, ch, ignorecase))
        return pool

    def pick_in(self, items, ignorecase: bool) -> str:
        if items and items[0][0] == C.NEGATE:
            return self.pick(self.negated_pool(items, ignorecase))
        op, av = self.rng.choice(items)
        if op == C.LITERAL:
            return chr(av)
        if op == C.RANGE:
            low, high = av
            first, last = max(low, 32), min(high, 126)
            if first <= last:  # its printable part; randint draws what rng.choice over a list of it would
                return chr(self.rng.randint(first, last))
            for _ in range(20):
                code = self.rng.randint(low, high)
                if _safe_char(code):
                    return chr(code)
            raise _Retry
        if op == C.CATEGORY:
            return self.pick(_CATEGORY_PICK[av])
        raise _bad("Unsupported character class in the pattern.", "unsupported_regex")


def _check(items, min_lengths: dict) -> int:
    """Refuse what a walk cannot honour, naming the construct; note the fewest characters each repeat's
    body produces (in ``min_lengths``, by the body's id: a walk reads it on every repeat); return the
    fewest characters ``items`` produce."""
    total = 0
    for op, av in items:
        if op in patterns.UNSUPPORTED:
            raise _bad(f"Unsupported regex construct: {patterns.UNSUPPORTED[op]}.", "unsupported_regex")
        literals = [av] if op == C.LITERAL else [v for o, v in av if o == C.LITERAL] if op == C.IN else []
        if any(not _safe_char(code) for code in literals):
            # A lone surrogate (\ud800) can be written in a pattern but not sent: JSON text cannot carry it.
            raise _bad("Unsupported regex: it asks for a lone surrogate (\\ud800-\\udfff), which JSON text cannot carry.", "unsupported_regex")
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            total += 1
        elif op == C.BRANCH:
            total += min([_check(branch, min_lengths) for branch in av[1]])
        elif op == C.SUBPATTERN:
            total += _check(av[3], min_lengths)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            body_min = min_lengths[id(av[2])] = _check(av[2], min_lengths)
            total += av[0] * body_min
            if av[0] > MAX_EMPTY_REPEATS and body_min == 0:
                # re itself runs out of memory matching (?:){999999999}; no client could check the answer.
                raise _bad(
                    f"Pathological regex: a group that can match the empty string is repeated at least {av[0]} times.",
                    "pathological_regex",
                )
    return total


def _plain(items) -> list:
    """The parse tree with every ``SubPattern`` made a plain list: a walk iterates them on every repeat,
    and a list iterates in C where a ``SubPattern`` goes through its Python ``__getitem__``."""
    out = []
    for op, av in items:
        if op == C.SUBPATTERN:
            av = (av[0], av[1], av[2], _plain(av[3]))
        elif op == C.BRANCH:
            av = (av[0], [_plain(branch) for branch in av[1]])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            av = (av[0], av[1], _plain(av[2]))
        out.append((op, av))
    return out


class Compiled:
    """A checked pattern: its parse tree (plain lists), the fewest characters each repeat's body
    produces, and the pools of its negated classes as walks fill them."""

    __slots__ = ("items", "flags", "min_lengths", "pools", "cost")

    def __init__(self, items: list, flags: int, min_lengths: dict, pattern_chars: int) -> None:
        self.items = items  # held: min_lengths and pools are keyed by the ids of its nodes
        self.flags = flags
        self.min_lengths = min_lengths
        self.pools: dict = {}
        # What the pattern cache counts it as: its tree, its repeats' lengths and the pools its negated
        # classes fill as walks use them; tracemalloc measured at most 112 bytes a character of the
        # pattern (100 nested groups), 17 to 64 for 4,000-character ones.
        self.cost = 4096 + COMPILED_BYTES_PER_CHAR * pattern_chars


def compile_pattern(pattern: str) -> Compiled:
    """``pattern`` parsed and checked once (patterns repeat across requests, so this is cached, in the
    pattern cache that ``perceptron_mock.answers.caches`` bounds by bytes)."""
    return PATTERNS.get_or_make(("walk", pattern), lambda: _compile(pattern), lambda compiled: compiled.cost)


def _compile(pattern: str) -> Compiled:
    try:
        tree = patterns.parse(pattern)
    except PatternError as exc:
        raise _bad(exc.message, exc.code) from None
    min_lengths: dict = {}
    try:
        items = _plain(tree)
        needed = _check(items, min_lengths)
    except RecursionError:
        raise _bad("Invalid regex: the pattern is nested too deeply.") from None
    if needed > MAX_OUTPUT_CHARS:
        raise _bad(f"The regex needs at least {needed} characters; at most {MAX_OUTPUT_CHARS} are produced.", "regex_too_long")
    return Compiled(items, tree.state.flags, min_lengths, len(pattern))


def generate(
    pattern: str, rng: random.Random, *, max_chars: int = MAX_OUTPUT_CHARS, accept=None, steps: Steps | None = None, ascii_words: bool = False
) -> str:
    """A string that ``re.fullmatch(pattern, …)`` accepts; ``accept`` may add a condition (a JSON
    schema's length bounds); ``steps`` is the budget to count into when it is shared with other calls;
    ``ascii_words``: ``\\b`` and ``\\B`` see only ASCII word characters (as a schema's patterns are
    checked). Raises ``APIError`` (400) when none can be made."""
    compiled = compile_pattern(pattern)
    flags = compiled.flags
    if steps is None:
        steps = Steps()
    for _ in range(ATTEMPTS):
        walk = _Walk(rng, compiled, max_chars, steps.used, ascii_words)
        try:
            walk.run(compiled.items, flags)
            text = walk.finish()
        except _Retry:
            continue
        except RecursionError:
            raise _bad("Invalid regex: the pattern is nested too deeply.") from None
        finally:
            steps.used = walk.steps  # kept when the walk is refused too: a later call starts over budget
        if accept is None or accept(text):
            return text
    raise _bad(
        "Could not produce a string matching the regex: its anchors or word boundaries (or the limits around it) "
        "cannot be satisfied together.",
        "unsatisfiable_regex",
    )
