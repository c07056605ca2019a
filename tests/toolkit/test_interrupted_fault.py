"""The ``interrupted`` fault on chat: the answer closes with ``finish_reason: interrupted`` (a force-closed
think budget), which the perceptron SDK counts as complete, in JSON and in a stream."""

from __future__ import annotations

import pytest

from perceptron_mock.protocol.faults import FaultSpecError, parse
from tests.helpers import MODEL

MESSAGES = [{"role": "user", "content": "Describe the scene."}]


def test_a_chat_answer_closes_as_interrupted_and_the_sdk_counts_it_complete(perceptron_mock, perceptron_sdk):
    perceptron_mock.fail_next("interrupted")
    completion = perceptron_sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    choice = completion.choices[0]
    assert choice.finish_reason == "interrupted" and choice.message.content
    assert completion.complete


def test_a_stream_ends_with_the_interrupted_finish_reason(perceptron_mock):
    client = perceptron_mock.openai_client(max_retries=0)
    perceptron_mock.fail_next("interrupted")
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["interrupted"]


def test_an_answer_cut_to_its_budget_stays_length(perceptron_mock):
    client = perceptron_mock.openai_client(max_retries=0)
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=2, extra_headers=perceptron_mock.fault_header("interrupted")
    )
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("spec", ["interrupted; 503", "interrupted; hang", "interrupted; reset", "interrupted=1"])
def test_interrupted_does_not_go_with_an_ending_or_a_value(spec):
    with pytest.raises(FaultSpecError):
        parse(spec)


def test_interrupted_combines_with_latency():
    fault = parse("interrupted; latency=5")
    assert fault.interrupted and fault.latency_ms == 5
