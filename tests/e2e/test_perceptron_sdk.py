"""Perceptron's own SDK, pointed at the mock by base URL alone: its message API, a high-level helper,
and its error classes."""

from __future__ import annotations

import perceptron
import pytest
from PIL import Image

from tests.helpers import MODEL


def test_message_api_create(perceptron_sdk):
    completion = perceptron_sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}])
    assert completion.choices[0].message.content
    assert completion.request_id and completion.request_id.startswith("req_")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_message_api_with_an_image_node(perceptron_sdk):
    image = perceptron.image(Image.new("RGB", (120, 90), "green"))
    completion = perceptron_sdk.chat.completions.create(
        model="isaac-0.2-1b", messages=[{"role": "user", "content": [image, "What colour is this?"]}]
    )
    assert completion.choices[0].message.content


def test_question_helper(perceptron_sdk):
    result = perceptron.question(perceptron.image(Image.new("RGB", (100, 80), "blue")), "What is shown?", model=MODEL)
    assert result.text
    assert not result.errors


def test_caption_helper(perceptron_sdk):
    result = perceptron.caption(perceptron.image(Image.new("RGB", (100, 80), "blue")), model=MODEL)
    assert result.text


def test_validation_errors_map_to_the_sdk_error_class(perceptron_sdk):
    with pytest.raises(perceptron.errors.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], top_p=1.5)
    error = caught.value
    assert error.status_code == 400 and error.param == "top_p" and error.code == "above_max_value"
    assert error.request_id and error.request_id.startswith("req_")


def test_unknown_model_maps_to_not_found(perceptron_sdk):
    with pytest.raises(perceptron.errors.NotFoundError):
        perceptron_sdk.chat.completions.create(model="isaac-9-unreleased", messages=[{"role": "user", "content": "x"}])


@pytest.mark.perceptron_mock(api_keys=["right-key"])
def test_refused_key_maps_to_auth_error(perceptron_mock):
    client = perceptron_mock.perceptron_client(api_key="wrong-key")
    with pytest.raises(perceptron.errors.AuthError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 401
