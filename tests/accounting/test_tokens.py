"""Text tokens are Isaac's (Qwen3's) tokens, and one splitter serves counts, cuts and stream deltas."""

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.accounting import tokens

# Token ids and counts published for the Qwen2/Qwen3 vocabulary (shared by Isaac): "Hello" is 9707,
# " world" 1879, "<|im_start|>" 151644, "user" 872, "\n" 198, "<|im_end|>" 151645.
KNOWN = [
    ("Hello world", [9707, 1879]),
    ("<|im_start|>user\nHello<|im_end|>\n", [151644, 872, 198, 9707, 151645, 198]),
]


def test_the_qwen_vocabulary_gives_the_published_ids():
    for text, ids in KNOWN:
        assert tokens._encode(text) == ids
        assert tokens.count(text) == len(ids)


def test_special_tokens_written_in_text_count_as_one_token():
    assert tokens.count("<|im_end|>") == 1
    assert tokens.count("<|im_end") > 1  # not the special token: ordinary pieces


def test_count_normalises_to_nfc_like_the_qwen_tokenizer():
    composed = "café crème"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert tokens.count(decomposed) == tokens.count(composed)


def test_chat_template_overhead_matches_the_tokenizer():
    """5 tokens around each message and 3 for the generation prompt, measured on the rendered
    ChatML itself rather than assumed."""
    messages = [("system", "You are terse."), ("user", "What is in the image?"), ("assistant", "A cat."), ("user", "Sure?")]
    rendered = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    rendered += "<|im_start|>assistant\n"
    content_tokens = sum(tokens.count(content) for _, content in messages)
    overhead = tokens.TOKENS_PER_MESSAGE * len(messages) + tokens.TOKENS_PER_REPLY
    assert tokens.count(rendered) == content_tokens + overhead


def test_split_is_lossless_and_one_piece_per_token_on_mixed_scripts():
    text = "Deltas: naïve 東京 🏳️‍🌈 x² — done.\n\tok"
    pieces = tokens.split(text)
    assert "".join(pieces) == text
    assert len(pieces) == tokens.count(text)
    assert all("\ufffd" not in piece for piece in pieces)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_is_lossless_for_any_text(text):
    pieces = tokens.split(text)
    assert "".join(pieces) == text
    if unicodedata.is_normalized("NFC", text):
        assert len(pieces) == tokens.count(text)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=40))
def test_cut_keeps_a_prefix_of_exactly_limit_tokens_whose_pieces_join_to_it(text, limit):
    cut, ids, was_cut = tokens.cut(text, limit)
    assert text.startswith(cut)
    assert was_cut == (len(tokens._encode(text)) > limit)
    if was_cut:
        assert len(ids) == limit  # usage reports the tokens generated: exactly the limit
    else:
        assert (cut, ids) == (text, tokens._encode(text))
    assert "".join(tokens.pieces_of(ids)) == cut  # a stream's deltas are the cut text
    assert len(tokens._encode(cut)) <= len(ids)  # the cut text, counted again, fits the limit


def test_cut_reports_the_generated_tokens():
    text = "one two three four five six"
    cut, ids, was_cut = tokens.cut(text, 3)
    assert (cut, was_cut) == ("one two three", True)
    assert tokens.pieces_of(ids) == ["one", " two", " three"]
    assert tokens.cut(text, 100) == (text, tokens._encode(text), False)
    assert len(tokens._encode(text)) == 6
    assert tokens.cut(text, 0) == ("", [], True)
    assert tokens.cut("", 0) == ("", [], False)


def test_long_texts_count_exactly_as_one_encoding():
    """Long texts are encoded in pieces (for speed and safety); cut between words, the pieces give
    exactly the tokens of the whole."""
    words = ["alpha", "beta,", "  gamma", "\n\n", "δέλτα", "42", "1234567", "<|im_end|>", "\tx", "!!", "   "]
    text = " ".join(words[i * 7 % len(words)] for i in range(20_000))
    assert len(text) > 10 * tokens._PIECE_CHARS
    whole = tokens._ENCODING.encode(text, allowed_special="all")
    assert tokens._encode(text) == whole
    assert "".join(tokens.split(text)) == text


def test_pathological_runs_are_counted_without_crashing():
    # A million spaces overflow tiktoken's regex stack when encoded in one go; one giant word is
    # quadratic. In pieces both are counted, close to the exact figure.
    assert 7_000 < tokens.count(" " * 1_000_000) < 9_000
    assert 120_000 <= tokens.count("a" * 1_000_000) < 130_000


# --- the budgeted count: exact up to its limit, and no dearer past it than just past it -----------


def test_a_budget_counts_exactly_while_the_total_stays_within_its_limit():
    texts = ["Hello world", "café crème " * 2_000, unicodedata.normalize("NFD", "naïve résumé " * 900), "<|im_end|>"]
    budget = tokens.Budget(10**9)
    for text in texts:
        budget.add_text(text)
    budget.add(300)  # an image's tokens, say
    assert budget.total == sum(tokens.count(text) for text in texts) + 300
    assert not budget.exceeded


def test_a_budget_is_exceeded_only_past_its_limit():
    text = "word " * 10_000
    exact = tokens.count(text)
    at_limit, just_under = tokens.Budget(exact), tokens.Budget(exact - 1)
    at_limit.add_text(text)
    just_under.add_text(text)
    assert (at_limit.total, at_limit.exceeded) == (exact, False)
    assert just_under.exceeded


def test_a_budget_stops_encoding_once_past_its_limit():
    """What counting costs is the pieces it encodes: a 20 MB text costs the same pieces as one just
    past the limit, and no more than the limit's worth of tokens plus one piece."""
    text = "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 360_000  # 20.5 MB
    huge, small = tokens.Budget(16_384), tokens.Budget(16_384)
    huge.add_text(text)
    small.add_text(text[:100_000])  # about 23,000 tokens: just past the limit
    assert huge.exceeded and small.exceeded
    # 23 pieces of about 720 tokens pass 16,384; the whole text has over 5,000
    assert huge.pieces == small.pieces == 23 and len(text) // 4096 > 5_000
    assert huge.total == small.total < 16_384 + 720  # past the limit by less than one piece


def test_a_budget_past_its_limit_reads_no_further_text():
    budget = tokens.Budget(10)
    budget.add(11)
    budget.add_text("word " * 1_000_000)
    assert (budget.pieces, budget.total) == (0, 11)


def test_the_costliest_text_per_token_stays_within_a_few_hundred_pieces():
    # A 4,096-space run is one pre-token of 32 tokens (the longest Qwen token is 128 spaces): the
    # fewest tokens a piece can give, so the most pieces any text needs to pass the limit.
    budget = tokens.Budget(16_384)
    budget.add_text(" " * 20_000_000)
    assert budget.exceeded and budget.pieces == 16_384 // 32 + 1
