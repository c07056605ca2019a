"""The prompt reader: long or hostile prompts are read in bounded time, and the task kinds still come out
right for the prompts the SDK and users send."""

from __future__ import annotations

import pytest

from perceptron_mock.answers import tasks
from tests.answers.helpers import answer_for
from tests.helpers import chat


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("Extract the prices from this shelf", "ocr"),
        ("Please extract every product name and its price", "ocr"),
        ("What does the sign say?", "ocr"),
        ("what does the small sticker on the left door say", "ocr"),
        ("How many people are there?", "count"),
        ("Find the forklifts", "detect"),
        ("Describe the scene", "caption"),
        ("Is it raining?", "question"),
        ("Hello there", "chat"),
    ],
)
def test_task_kinds(prompt, kind):
    assert tasks.classify(prompt) == kind


# One prompt for each word of each task pattern: a prompt is searched only when it holds a word the
# pattern needs, so a word left out of those lists would misread these.
EVERY_TASK_WORD = [
    *[(p, "count") for p in ("How many cups?", "Count the cars", "counting sheep", "the number of birds", "Tally the votes")],
    *[(p, "ocr") for p in (
        "OCR this", "Transcribe it", "a transcription please", "Read the text", "read out every label",
        "Extract the names", "optical character recognition", "the words on the sign", "text from the page",
        "What does that banner say", "any readable text",
    )],
    *[(p, "detect") for p in (
        "Find the dog", "Detect cars", "Locate the keys", "Localise the cat", "localize it", "Point to the cup",
        "point out the exit", "Mark the signs", "Highlight trees", "Segment the road", "Outline the lake",
        "Identify birds", "Spot the difference", "Circle it", "Box the faces", "Trace the river", "Ground the phrase",
        "Where are the keys",
    )],
    *[(p, "caption") for p in ("Caption this", "Describe it", "A description please", "Summarise it", "summarize the scene")],
]


@pytest.mark.parametrize(("prompt", "kind"), EVERY_TASK_WORD)
def test_every_task_word_is_read_as_its_kind(prompt, kind):
    assert tasks.classify(prompt) == kind
    assert tasks.classify(prompt.upper()) == kind


def test_a_long_question_is_still_a_question():
    assert tasks.classify("Look closely. " + "The light is soft. " * 2000 + "Is the door open?") == "question"


# Each of these made the task regexes backtrack quadratically: seconds for 64 KB, minutes for more.
# (prompt, kind): "extract" names nothing to read, so it is chat; "what does" without "say" is a question.
HOSTILE_PROMPTS = [
    ("extract " * 40_000, "chat"),
    ("what does " * 30_000, "question"),
    ("what  does  x " * 20_000, "question"),
    (("find " + "a" * 50 + " ") * 6_000, "detect"),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("prompt", "kind"), HOSTILE_PROMPTS, ids=lambda p: p[:12].strip())
def test_hostile_prompts_are_read(prompt, kind):
    assert tasks.read(prompt, prompt).kind == kind


@pytest.mark.timeout(20)
def test_a_64_kb_extract_prompt_is_answered():
    answer = answer_for(chat("extract " * 8000))
    assert answer.content


def test_plurals():
    assert [tasks.plural(noun, 2) for noun in ("person", "box", "berry", "woman", "cup", "PPE")] == [
        "people", "boxes", "berries", "women", "cups", "PPE",
    ]
    assert tasks.plural("worker wearing a helmet", 3) == "workers wearing a helmet"
    assert tasks.plural("child", 1) == "child"


def test_json_schema_and_regex_answers_do_not_read_the_prompt(monkeypatch):
    def unread(*args, **kwargs):
        raise AssertionError("the prompt was read for an answer that does not use it")

    monkeypatch.setattr(tasks, "read", unread)
    monkeypatch.setattr(tasks, "mentions", unread)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    assert answer_for(chat("extract the numbers", response_format=fmt)).content.startswith("{")
    assert answer_for(chat("extract the code", regex=r"[A-Z]{3}")).content.isupper()


def test_mentions_are_worked_out_only_when_an_answer_names_them(monkeypatch):
    calls = []
    real = tasks.mentions
    monkeypatch.setattr(tasks, "mentions", lambda *args: calls.append(args) or real(*args))
    answer_for(chat("Describe the scene in detail"))
    assert calls == []
    assert "forklift" in answer_for(chat("Count the forklifts")).content
    assert calls


@pytest.mark.parametrize(
    ("prompt", "mentions"),
    [
        ("Find the safety helmet. Return only that element.", ("safety helmet",)),
        ("Find the safety helmet and only that element", ("safety helmet",)),
        ("Detect the safety helmet only.", ("safety helmet",)),
        ("Box the safety vest, nothing else.", ("safety vest",)),
        ("Find every safety helmet and safety vest in the image.", ("safety helmet", "safety vest")),
    ],
)
def test_a_mention_names_what_is_asked_for_not_the_instructions_around_it(prompt, mentions):
    assert tasks.mentions(prompt) == mentions


@pytest.mark.parametrize(
    "prompt",
    [
        "Find the safety helmet. Return only that element.", "Point to the forklift; one point.", "Box a single cup.",
        "Find the dog, just one.", "Detect exactly one cup.", "Box only one car.", "Find the cat: one object.",
        "Outline the lamp, only the polygon.",
    ],
)
def test_a_prompt_that_asks_for_one_element_gets_one(prompt):
    for seed in range(20):  # the seed varies the answer, not its count
        answer = answer_for(chat(f"{prompt} (take {seed})", system="<hint>BOX</hint>"))
        assert answer.content.count("<point_box") == 1, answer.content


def test_a_prompt_that_asks_for_no_particular_number_may_get_several():
    counts = {answer_for(chat(f"Find the cups. ({n})", system="<hint>BOX</hint>")).content.count("<point_box") for n in range(20)}
    assert max(counts) > 1


def test_a_mention_is_trimmed_the_same_whatever_the_case_or_the_script():
    # ASCII chunks are trimmed by case-sensitive patterns on their lowered copy; the case-insensitive
    # patterns themselves must cut the same.
    import random

    words = ["the", "THE", "All", "every", "a", "of", "these", "visible", "dog", "Dogs", "in", "on", "within",
             "image", "Picture", "scene", "shot", "are", "Is", "there", "you", "can", "see", "only", "alone",
             "and", "nothing", "else", "Were", "red", "workers", "wearing", ",", ":", "-"]
    rng = random.Random(18)
    for _ in range(3000):
        chunk = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
        by_case = tasks._TAIL.sub("", tasks._DETERMINERS.sub("", chunk)).strip(" ,:-")
        assert tasks._trim(chunk) == tasks._DETERMINERS.sub("", by_case), chunk
