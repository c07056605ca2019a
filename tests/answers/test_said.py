"""Answers joined from pieces carry exactly the token ids the tokenizer gives their whole text, so ``fit``
counts, cuts and streams them as before without encoding them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.instructions import variants
from perceptron_mock.accounting import tokens
from perceptron_mock.answers.answer import fit
from perceptron_mock.answers.said import joins, said
from perceptron_mock.protocol.errors import APIError
from tests.answers.helpers import answer_for, completion_for


def test_every_answer_to_the_bench_pool_and_its_variants_carries_the_ids_of_its_whole_text():
    joined = 0
    for body in variants():
        try:
            answer = answer_for(body)
        except APIError:
            continue  # the variant with a temperature out of range
        if answer.said is not None:
            joined += 1
            assert answer.said.text == answer.content
            assert list(answer.said.ids) == tokens.encode(answer.content), answer.content
    assert joined > 800  # captions, questions, counts, detections and chat of the pool's 1,000


_BITS = list("ab Z9 0.,:\"'<>/()\n\r\t-$é\u0301\u00a0\u2003\u3000\x1c漢") + ["'s", "'ll", "<|extra_10|>", "<think>"]
_TEXT = st.lists(st.sampled_from(_BITS), min_size=1, max_size=10).map("".join)


@settings(max_examples=3000, deadline=None)
@given(_TEXT, _TEXT)
def test_texts_meeting_where_joins_says_so_encode_to_the_join_of_their_ids(before, after):
    if joins(before[-1], after[0]) and "<|" not in before + after:  # special tokens: said() encodes the whole
        assert tokens.encode(before + after) == tokens.encode(before) + tokens.encode(after)


def test_pieces_that_meet_inside_a_word_or_a_special_token_are_encoded_whole():
    assert list(said("light", "house").ids) == tokens.encode("lighthouse")
    assert list(said("a <|im_end|>", " <think>").ids) == tokens.encode("a <|im_end|> <think>")
    assert list(said("a <|extra_1", "0|>").ids) == tokens.encode("a <|extra_10|>")
    assert list(said("word", "\n", "\n next").ids) == tokens.encode("word\n\n next")


def test_an_answer_given_another_content_is_counted_by_its_own_text():
    answer = answer_for({"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": "Describe the kitchen"}]})
    assert answer.said is not None
    other = replace(answer, content="Something else entirely.")
    completion = fit(other, budget=100, prompt_tokens=1)
    assert list(completion.content_ids) == tokens.encode("Something else entirely.")


def test_a_joined_answer_cut_by_max_completion_tokens_keeps_its_first_tokens():
    body = {"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": "Describe the kitchen in detail"}]}
    whole, cut = completion_for(body), completion_for(dict(body, max_completion_tokens=5))
    assert cut.finish_reason == "length" and cut.completion_tokens == 5
    assert cut.content_ids == whole.content_ids[:5]
    assert whole.content.startswith(cut.content)


def test_a_flood_of_new_pieces_keeps_the_kept_ids_within_their_bounds():
    from perceptron_mock.answers import said as module

    for i in range(module.PIECE_IDS_ENTRIES + 500):
        piece = f" mention{i} " + "x" * (i % 120)
        assert list(said("Found", piece.rstrip()).ids) == tokens.encode("Found" + piece.rstrip())
        assert len(module._IDS) - len(module._KEPT) <= module.PIECE_IDS_ENTRIES
        assert module._held <= module.PIECE_IDS_HELD + 2 * module.PIECE_IDS_CHARS
    assert " " + "y" * 200 not in module._IDS and said("a", " " + "y" * 200).text.endswith("y")
    assert " " + "y" * 200 not in module._IDS and set(module._KEPT) <= set(module._IDS)  # the kept pieces stay


@pytest.mark.parametrize("prompt", ["Read the prices in markdown", "Read the produce prices as html", "Extract the prices", "Transcribe the sign in html"])
def test_transcriptions_in_every_layout_carry_the_ids_of_their_whole_text(prompt):
    for n in range(20):
        answer = answer_for({"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": f"{prompt} {n}"}]})
        assert answer.said is not None and list(answer.said.ids) == tokens.encode(answer.content), answer.content
