"""Reading a prompt like the model would: its kind of task, what it is about, and the text each kind gets.

Kinds: count, detect, ocr, caption, question and chat (``reply.reply``). Only the first ``READ_CHARS``
of each text are read, so a long or hostile prompt costs no more than a short one.
"""

from __future__ import annotations

import random
import re
from functools import cached_property

from perceptron_mock.answers.draws import between, pick, sample
from perceptron_mock.values import value

READ_CHARS = 4096
# The task patterns are written in lower case and run on the lowered prompt: case-insensitive
# matching made each search ~2x slower, and classify() runs on every request.
_COUNT = re.compile(r"\bhow\s+many\b|\bcount(?:ing)?\b|\bnumber\s+of\b|\btally\b")
_DETECT = re.compile(
    r"\b(?:find|detect|locate|locali[sz]e|point\s+(?:to|at|out)|mark|highlight|segment|outline|identify|"
    r"spot|circle|box|trace|ground|where\s+(?:is|are))\b",
)
_OCR = re.compile(
    r"\b(?:ocr|transcribe|transcription|read\s+(?:out\s+)?(?:the\s+|all\s+|every\s+)?(?:text|words|sign|label)|"
    r"extract\b[^\n]{0,200}?\b(?:text|labels?|prices?|words|names?|numbers?|values?)|optical\s+character|"
    r"(?:text|words?)\s+(?:in|on|from)\s+the|what\s+does\s+[^\n]{0,200}?\bsay|readable\s+(?:text|word))",
)
_CAPTION = re.compile(r"\b(?:caption|describe|description|summari[sz]e)\b")
_QUESTION_OPENER = re.compile(
    r"^\s*(?:what|which|who|whom|whose|where|when|why|how|is|are|was|were|do|does|did|can|could|should|"
    r"would|will|has|have|had)\b",
)
# Words one of which every match of each pattern above holds: a prompt with none of them is not
# searched (a substring test costs a tenth of a search), and the answer is the same.
_COUNT_WORDS = ("many", "count", "number", "tally")
_DETECT_WORDS = (
    "find", "detect", "loca", "point", "mark", "highlight", "segment", "outline", "identify", "spot", "circle",
    "box", "trace", "ground", "where",
)
_OCR_WORDS = ("ocr", "transcri", "read", "extract", "optical", "text", "word", "say")
_CAPTION_WORDS = ("caption", "descri", "summari")


def _search(pattern: re.Pattern, words: tuple[str, ...], text: str) -> re.Match | None:
    """``pattern.search(text)``, where every match of ``pattern`` holds one of ``words``."""
    for word in words:
        if word in text:
            return pattern.search(text)
    return None


_YES_NO = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|should|would|will|has|have|had)\b", re.I)
_COLOUR_WORD = re.compile(r"\bcolou?rs?\b")


def asks_for_one_each(text: str) -> bool:
    """Whether the prompt asks for one element per thing it names, and no more."""
    return _search(_ONE_EACH, _ONE_EACH_WORDS, text[:READ_CHARS].lower()) is not None


def classify(prompt: str) -> str:
    """The kind of task ``prompt`` asks for (see the module docstring)."""
    ends_in_question = prompt.rstrip().endswith("?")
    prompt = prompt[:READ_CHARS].lower()
    if _search(_COUNT, _COUNT_WORDS, prompt):
        return "count"
    if _search(_OCR, _OCR_WORDS, prompt):
        return "ocr"
    if _search(_DETECT, _DETECT_WORDS, prompt):
        return "detect"
    if _search(_CAPTION, _CAPTION_WORDS, prompt):
        return "caption"
    if ends_in_question or _QUESTION_OPENER.match(prompt):
        return "question"
    return "chat"


# --- the subject of a grounding prompt: the mention ------------------------------------------------

_VERB_THEN_OBJECT = re.compile(
    r"\b(?:how\s+many|count(?:\s+up)?|number\s+of|find|detect|locate|locali[sz]e|point\s+(?:to|at|out)|"
    r"mark|highlight|segment(?:\s+out)?|outline|identify|spot|circle|box|trace|ground|show(?:\s+me)?|"
    r"where\s+(?:is|are)|when\s+(?:is|are|was|were)|clip(?:\s+the\s+moment(?:\s+of)?)?)\s+(?P<object>[^.?!;\n]+)",
    re.I,
)
_CATEGORIES = re.compile(r"categories\s*:\s*(?P<list>[^.\n]+)", re.I)
_DETERMINERS = re.compile(r"^(?:(?:all|every|each|any|the|a|an|of|these|those|this|that|visible|individual)\s+)+", re.I)
_TAIL = re.compile(
    r"\s+(?:(?:that\s+(?:are|is|you\s+can\s+see)|you\s+(?:can\s+)?see|visible|there)\b.*|"
    r"(?:in|on|from|within|across)\s+(?:(?:the|this|these|each|both|every)\s+)?(?:\w+\s+)?"
    r"(?:image|images|picture|photo|photograph|scene|frame|shot|view)\b.*|are\s+there\b.*|is\s+there\b.*|"
    r"(?:are|is|do|does|can|could|were|was)\b.*|(?:only|alone|exclusively|and\s+nothing\s+else|nothing\s+else)\b.*)$",
    re.I,
)
_STOP_WORDS = {
    "and", "box", "mark", "label", "explain", "tell", "give", "describe", "count", "return", "then", "show",
    "list", "output", "draw", "each", "one", "them", "it", "point", "outline", "segment", "please", "with",
    # the start of an instruction about the answer, not a thing to find ("only that element", "nothing else")
    "only", "nothing", "just", "exactly", "ignore", "skip", "exclude", "none", "no",
}
# A prompt that asks for one element per thing named ("Return only that element", "a single box").
_ONE_EACH = re.compile(
    r"\b(?:only\s+(?:that|this|the|one)\s+(?:element|object|item|one|box|point|polygon)|only\s+one|just\s+one|"
    r"exactly\s+one|a\s+single|one\s+(?:element|object|item|box|point|polygon)\b)",
)
_ONE_EACH_WORDS = ("only", "one", "single")  # every match of _ONE_EACH holds one (see _search)
_GENERIC = {"object", "objects", "thing", "things", "item", "items", "everything", "anything", "all", "stuff", "it", "them"}
_QUOTES_AND_BRACKETS = re.compile(r"[\"'`()\[\]{}<>]")
_LIST_SEPARATOR = re.compile(r",\s*|\s+(?:and|or|&)\s+")
_CONNECTORS = re.compile(r"\s+(?:wearing|with|holding|carrying|on|in|near|under|over|behind|that|who|which|of|without)\s+", re.I)
_IRREGULAR = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse", "feet": "foot",
    "teeth": "tooth", "geese": "goose", "knives": "knife", "leaves": "leaf", "shelves": "shelf", "wolves": "wolf",
}
_PLURAL_IRREGULAR = {v: k for k, v in _IRREGULAR.items()}
FALLBACK_NOUNS = ("person", "chair", "table", "lamp", "window", "plant", "bottle", "cup", "bag", "sign", "box", "door")
MAX_MENTION_CHARS = 60


def singular(word: str) -> str:
    lower = word.lower()
    if lower in _IRREGULAR:
        return _IRREGULAR[lower] if word.islower() else word
    if len(word) > 4 and lower.endswith("ies"):
        return word[:-3] + "y"
    if lower.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if lower.endswith(("ss", "us", "is", "ous")) or len(word) <= 3 or not lower.endswith("s") or word.isupper():
        return word
    return word[:-1]


def _singular_phrase(phrase: str) -> str:
    """Singularise the head noun: the last word before a connector ("workers wearing PPE")."""
    match = _CONNECTORS.search(phrase)
    head, rest = (phrase[: match.start()], phrase[match.start() :]) if match else (phrase, "")
    words = head.split()
    if not words:
        return phrase
    words[-1] = singular(words[-1])
    return " ".join(words) + rest


# Their case-sensitive twins, for an ASCII chunk: searched in its lowered copy (the same spans, since
# lowering ASCII keeps every position), they cost half what case-insensitive searches do.
_DETERMINERS_LOWER = re.compile(_DETERMINERS.pattern)
_TAIL_LOWER = re.compile(_TAIL.pattern)


def _trim(chunk: str) -> str:
    """``chunk`` without its leading determiners and its tail (``_DETERMINERS`` and ``_TAIL``)."""
    if not chunk.isascii():
        chunk = _DETERMINERS.sub("", chunk)
        chunk = _TAIL.sub("", chunk).strip(" ,:-")
        return _DETERMINERS.sub("", chunk)
    found = _DETERMINERS_LOWER.match(chunk.lower())
    if found:
        chunk = chunk[found.end() :]
    found = _TAIL_LOWER.search(chunk.lower())  # anchored at the end: the one match is what sub() cuts
    if found:
        chunk = chunk[: found.start()]
    chunk = chunk.strip(" ,:-")
    found = _DETERMINERS_LOWER.match(chunk.lower())
    return chunk[found.end() :] if found else chunk


def _clean(chunk: str) -> str | None:
    chunk = _QUOTES_AND_BRACKETS.sub(" ", chunk)
    chunk = " ".join(chunk.split()).strip(" ,:-")
    chunk = _trim(chunk)
    if not chunk or chunk.lower() in _GENERIC:
        return None
    words = chunk.split()[:6]
    if words[0].lower() in _STOP_WORDS:
        return None
    return _singular_phrase(" ".join(words))[:MAX_MENTION_CHARS].strip() or None


def _split_list(text: str) -> list[str]:
    """``"cats, dogs and birds and box each one"`` → the items, stopping at the first one that is an
    instruction rather than a thing."""
    items: list[str] = []
    for chunk in _LIST_SEPARATOR.split(text):
        words = chunk.strip().split()
        if not words:
            continue
        if words[0].lower() in _STOP_WORDS:
            break
        items.append(chunk)
    return items


def mentions(user_text: str, instructions: str = "") -> tuple[str, ...]:
    """What a grounding prompt asks to find, as mention strings; empty when it names nothing specific."""
    for text in (user_text[:READ_CHARS], instructions[:READ_CHARS]):
        categories = _CATEGORIES.search(text)
        if categories:
            found = [m for m in (_clean(item) for item in _split_list(categories.group("list"))) if m]
            if found:
                return tuple(dict.fromkeys(found))
        match = _VERB_THEN_OBJECT.search(text)
        if match:
            found = [m for m in (_clean(item) for item in _split_list(match.group("object"))) if m]
            if found:
                return tuple(dict.fromkeys(found))[:6]
    return ()


def plural(noun_phrase: str, count: int) -> str:
    if count == 1:
        return noun_phrase
    match = _CONNECTORS.search(noun_phrase)
    head, rest = (noun_phrase[: match.start()], noun_phrase[match.start() :]) if match else (noun_phrase, "")
    words = head.split()
    if not words:
        return noun_phrase
    last = words[-1]
    lower = last.lower()
    if lower in _PLURAL_IRREGULAR:
        words[-1] = _PLURAL_IRREGULAR[lower]
    elif last.isupper():
        words[-1] = last
    elif lower.endswith("y") and len(last) > 2 and lower[-2] not in "aeiou":
        words[-1] = last[:-1] + "ies"
    elif lower.endswith(("s", "x", "ch", "sh", "z")):
        words[-1] = last + "es"
    else:
        words[-1] = last + "s"
    return " ".join(words) + rest


# --- plain-text answers ---------------------------------------------------------------------------

_PRODUCE = (
    "Bananas", "Gala Apples", "Roma Tomatoes", "Avocados", "Red Grapes", "Lemons", "Carrots", "Broccoli",
    "Strawberries", "Yellow Onions", "Cucumbers", "Blueberries", "Russet Potatoes", "Limes", "Green Peppers",
)
_UNITS = ("/lb", " each", "/kg", " per bunch", "/pint", " 2 for")
_SIGN_LINES = (
    "OPEN", "EXIT", "Fresh Daily", "Please pay at the counter", "No parking", "Welcome", "Sale", "Aisle 4",
    "Thank you for shopping", "Staff only", "Mon-Fri 8am-6pm", "Best before 12/08", "Keep right", "Caution: wet floor",
)
_SCENE_NOUNS = (
    "a wooden table", "a softbox light", "a person in a dark jacket", "a potted plant", "a large window",
    "a camera on a tripod", "a white backdrop", "a stack of books", "a red chair", "a coffee cup", "a laptop",
)
_ADJECTIVES = ("warm", "soft", "even", "bright", "muted", "natural", "diffuse")
_PLACES = ("near the centre", "on the left", "on the right", "in the foreground", "in the background", "at the top", "at the bottom")
_COLOURS = ("red", "blue", "green", "white", "black", "grey", "yellow", "brown")


def ocr_text(prompt: str, rng: random.Random) -> list[str]:
    """Text lines, as a transcription: label-and-price lines when the prompt asks for prices. In pieces
    (``said`` joins them): a price's dollars and cents apart, so that a few hundred pieces make them all."""
    count = between(rng, 3, 6)
    lower = prompt.lower()
    if "price" in lower or "produce" in lower or "cost" in lower:
        items = sample(rng, _PRODUCE, count)
        lines = []
        for item in items:
            unit = pick(rng, _UNITS)
            dollars, cents = between(rng, 0, 5), between(rng, 0, 99)
            if unit != " 2 for":
                lines.append([f"{item} - ${dollars}", f".{cents:02d}", unit])
            else:
                lines.append([f"{item} - 2 for ${dollars}", f".{cents:02d}"])
    else:
        lines = [[line] for line in sample(rng, _SIGN_LINES, count)]
    if "markdown" in lower:
        return ["# ", *lines[0], "\n\n", *_lines(lines[1:], "- ", "")]
    if "html" in lower:
        return ["<h1>", *lines[0], "</h1>\n", *_lines(lines[1:], "<p>", "</p>")]
    return _lines(lines, "", "")


def _lines(lines: list[list[str]], before: str, after: str) -> list[str]:
    pieces: list[str] = []
    for line in lines:
        if pieces:
            pieces.append("\n")
        if before:
            pieces.append(before)
        pieces += line
        if after:
            pieces.append(after)
    return pieces


def caption(prompt: str, rng: random.Random) -> list[str]:
    """The caption in pieces (``said`` joins them)."""
    first, second, third = sample(rng, _SCENE_NOUNS, 3)
    # In pieces that join where no token crosses (answers.said), in the order of the draws.
    pieces = [f"{first[0].upper()}{first[1:]}", f" {pick(rng, _PLACES)}, with", f" {second}"]
    pieces += (f" {pick(rng, _PLACES)} under", f" {pick(rng, _ADJECTIVES)} light.")
    if "detail" in prompt.lower():
        pieces += (f" {third[0].upper()}{third[1:]} sits", f" {pick(rng, _PLACES)}, and the composition draws the eye to")
        pieces += (f" {first}. The palette is mostly", f" {pick(rng, _COLOURS)} and", f" {pick(rng, _COLOURS)}.")
    return pieces


def answer_question(question: str, rng: random.Random) -> list[str]:
    """The answer in pieces (``said`` joins them)."""
    lower = question.lower()
    subject, other = sample(rng, _SCENE_NOUNS, 2)
    if _YES_NO.match(lower):
        if rng.random() < 0.5:
            return ["Yes.", f" {subject[0].upper()}{subject[1:]} is clearly visible", f" {pick(rng, _PLACES)}."]
        return ["No. The image shows", f" {subject}", f" {pick(rng, _PLACES)}, but nothing like that."]
    if _COLOUR_WORD.search(lower):
        return ["It is mostly", f" {pick(rng, _COLOURS)}, with some", f" {pick(rng, _COLOURS)} details."]
    if lower.lstrip().startswith("where"):
        return ["It is", f" {pick(rng, _PLACES)}, next to", f" {subject}."]
    if lower.lstrip().startswith("who"):
        return ["A person in a", f" {pick(rng, _COLOURS)} jacket,", f" {pick(rng, _PLACES)}."]
    if lower.lstrip().startswith("why"):
        return ["Most likely because", f" {subject} is placed to catch the", f" {pick(rng, _ADJECTIVES)} light."]
    return [
        f"{subject[0].upper()}{subject[1:]}", f" {pick(rng, _PLACES)} stands out most, set against",
        f" {other} and lit by", f" {pick(rng, _ADJECTIVES)} light.",
    ]


@value
class Reading:
    """A prompt, read once: what ``choose`` and the rules work from."""

    kind: str
    user_text: str
    instructions: str  # the system texts with hint tags removed

    @cached_property
    def mentions(self) -> tuple[str, ...]:
        """What the prompt asks to find; worked out only by the answers that name it (count, detect)."""
        return mentions(self.user_text, self.instructions)

    @property
    def text(self) -> str:
        return f"{self.user_text}\n{self.instructions}".strip()


def read(user_text: str, instructions: str) -> Reading:
    user = user_text.strip()
    kind = classify(user) if user else "chat"
    if kind == "chat" and instructions:
        kind = classify(instructions)
    return Reading(kind=kind, user_text=user, instructions=instructions)
