"""Each request's context window and output cap are its model's, from the catalog: perceptron-mk1.5 takes
a prompt the 8K Isaac models refuse; a max_completion_tokens above the cap is refused before the context
is looked at; --context-tokens, when set, is every model's window."""

from __future__ import annotations

import openai
import pytest

from perceptron_mock.accounting import tokens
from perceptron_mock.accounting.prompt import account, completion_budget
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.protocol.requests import ChatCompletionRequest
from perceptron_mock.settings import Settings
from tests.helpers import MODEL, OVERHEAD, chat, post

MK15 = "perceptron-mk1.5"  # 36,864 context, 8,192 output (docs/models.md)


def _prompt_of(prompt_tokens: int) -> str:
    """A user text whose request has exactly ``prompt_tokens`` prompt tokens."""
    text = "word " * (prompt_tokens - OVERHEAD - 1) + "end"
    assert tokens.count(text) + OVERHEAD == prompt_tokens
    return text


def test_a_20000_token_prompt_fits_perceptron_mk1_5_but_not_isaac_0_2(client):
    text = _prompt_of(20_000)
    answer = post(client, {**chat(text), "model": MK15})
    assert answer.status_code == 200 and answer.json()["usage"]["prompt_tokens"] == 20_000
    refused = post(client, chat(text))  # isaac-0.2-2b-preview, 8,192 tokens
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    # counted up to twice Isaac's window only (docs/limits.md), so "more than"
    assert error["message"].startswith("This model's maximum context length is 8192 tokens. However, your messages resulted in more than 16384 tokens.")


def test_a_prompt_past_mk1_5s_window_is_refused_naming_its_36864_tokens(client):
    error = post(client, {**chat(_prompt_of(36_865)), "model": MK15}).json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "maximum context length is 36864 tokens" in error["message"] and "resulted in 36865 tokens" in error["message"]


def test_without_a_limit_the_completion_gets_what_is_left_at_most_the_output_cap():
    catalog = Catalog.load()
    mk15, isaac = catalog.get(MK15), catalog.get(MODEL)
    # 36,864 - 20,000 are left in mk1.5's window, but it writes at most 8,192 tokens
    assert completion_budget(20_000, None, mk15.max_context_tokens, mk15.max_output_tokens) == 8192
    assert completion_budget(30_000, None, mk15.max_context_tokens, mk15.max_output_tokens) == 6864
    request = ChatCompletionRequest.model_validate({"model": MK15, "messages": [{"role": "user", "content": _prompt_of(100)}]})
    assert account(request, Settings(), mk15).completion_budget == 8192
    assert account(request, Settings(), isaac).completion_budget == 8192 - 100
    assert account(request, Settings(context_tokens=50_000), mk15).completion_budget == 8192


def test_max_completion_tokens_above_mk1_5s_output_cap_is_a_400_naming_it(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model=MK15, messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=9000)
    error = caught.value
    assert error.status_code == 400 and (error.code, error.param, error.type) == ("invalid_value", "max_completion_tokens", "invalid_request_error")
    assert error.body["message"] == (
        "max_completion_tokens is too large: 9000. This model supports at most 8192 completion tokens, whereas you provided 9000."
    )
    fits = openai_client.chat.completions.create(model=MK15, messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=8192)
    assert fits.choices[0].finish_reason == "stop"


def test_the_alias_max_tokens_is_named_as_sent(client):
    error = post(client, {**chat("Hi"), "model": MK15, "max_tokens": 10_000}).json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "max_tokens")
    assert error["message"].startswith("max_tokens is too large: 10000.")


def test_on_an_8k_isaac_the_output_cap_is_checked_before_the_context(client):
    """Isaac's window and cap are both 8,192: 9,000 is refused as too large, not as past the context,
    whatever the prompt (OpenAI checks the cap first)."""
    for text in ("Hi", _prompt_of(8_000)):
        error = post(client, chat(text, max_completion_tokens=9000)).json()["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "max_completion_tokens")
    # within the cap, prompt + limit past the window is still the context's refusal
    error = post(client, chat(_prompt_of(8_000), max_completion_tokens=8192)).json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")


@pytest.mark.perceptron_mock(context_tokens=30_000)
def test_context_tokens_when_set_is_every_models_window(client):
    text = _prompt_of(29_000)
    for model in (MODEL, MK15):
        answer = post(client, {**chat(text), "model": model})
        assert answer.status_code == 200 and answer.json()["usage"]["prompt_tokens"] == 29_000
    error = post(client, {**chat(_prompt_of(30_001)), "model": MK15}).json()["error"]
    assert error["code"] == "context_length_exceeded" and "maximum context length is 30000 tokens" in error["message"]


@pytest.mark.perceptron_mock(context_tokens=64)
def test_a_small_context_tokens_still_leaves_the_output_cap_checked_first(client):
    error = post(client, {**chat("Hi"), "model": MK15, "max_completion_tokens": 9000}).json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "max_completion_tokens")
    error = post(client, {**chat("Hi"), "model": MK15, "max_completion_tokens": 100}).json()["error"]
    assert error["code"] == "context_length_exceeded" and "maximum context length is 64 tokens" in error["message"]
