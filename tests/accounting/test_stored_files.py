"""File-id parts in chat: an uploaded image counts as the same image sent as a data URL; an unknown or
deleted id, or a file of another kind than the part says, is a 400 naming the part; the journal keeps
the id, never the bytes."""

from __future__ import annotations

import perceptron
import pytest

from perceptron_mock.accounting.image_tokens import image_tokens
from perceptron_mock.accounting.media_tokens import video_url_tokens
from tests.helpers import data_url, image_bytes

PNG = image_bytes("PNG", (300, 200))  # not the assumed 1024x768 of an unopened image: the real size must count
MP4 = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomavc1" + b"\x00\x00\x00\x08moov"
MODEL = "perceptron-mk1.5"


def asking(part: dict, text: str = "What is in the picture?") -> list[dict]:
    return [{"role": "user", "content": [part, {"type": "text", "text": text}]}]


def image_file(file_id: str) -> dict:
    return {"type": "image_file_id", "image_file_id": {"file_id": file_id}}


def test_an_image_uploaded_once_counts_and_answers_as_the_same_image_sent_inline(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG, filename="scene.png")
    inline = {"type": "image_url", "image_url": {"url": data_url(PNG)}}

    by_id = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(uploaded.id)))
    by_url = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(inline))

    assert by_id.usage.prompt_tokens == by_url.usage.prompt_tokens
    assert by_id.text == by_url.text  # the answer's seed is the image's digest, however it came
    unopened = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}))
    assert by_id.usage.prompt_tokens - unopened.usage.prompt_tokens == image_tokens(300, 200) - image_tokens(1024, 768)


def test_the_sdk_image_helper_sends_a_file_id_that_the_mock_resolves(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    result = perceptron.caption(perceptron.image(file_id=uploaded.id))
    assert result.text and not result.errors


def test_an_unknown_file_id_is_a_400_naming_the_part(perceptron_sdk):
    missing = "file-" + "Z" * 22
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(missing)))
    error = caught.value
    assert (error.status_code, error.param, error.code) == (400, "messages[0].content[0].image_file_id", "file_not_found")
    assert str(error) == f"No such File object: {missing}"


def test_a_deleted_file_is_refused_from_then_on(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    assert perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(uploaded.id))).text
    perceptron_sdk.files.delete(uploaded.id)
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(uploaded.id)))
    assert caught.value.code == "file_not_found"


def test_a_file_of_another_kind_than_the_part_says_is_refused(perceptron_sdk):
    video = perceptron_sdk.files.upload(MP4)
    image = perceptron_sdk.files.upload(PNG)
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(video.id)))
    assert (caught.value.param, caught.value.code) == ("messages[0].content[0].image_file_id", "file_type_mismatch")
    assert "video/mp4" in str(caught.value) and "video_file_id" in str(caught.value)
    part = {"type": "video_file_id", "video_file_id": {"file_id": image.id}}
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(part))
    assert caught.value.param == "messages[0].content[0].video_file_id"


def test_a_video_file_counts_as_a_video_of_the_assumed_length(perceptron_sdk):
    video = perceptron_sdk.files.upload(MP4)
    by_id = perceptron_sdk.chat.completions.create(
        model=MODEL, messages=asking({"type": "video_file_id", "video_file_id": {"file_id": video.id}}, "Describe it."))
    by_url = perceptron_sdk.chat.completions.create(
        model=MODEL, messages=asking({"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}, "Describe it."))
    assert by_id.usage.prompt_tokens == by_url.usage.prompt_tokens > video_url_tokens()


def test_a_model_without_the_modality_is_refused_before_the_file_is_looked_up(perceptron_sdk):
    video = perceptron_sdk.files.upload(MP4)
    part = {"type": "video_file_id", "video_file_id": {"file_id": video.id}}
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model="isaac-0.1", messages=asking(part))
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "messages[0].content[0]")


def test_the_journal_records_the_file_id_not_the_image(perceptron_mock, perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    perceptron_sdk.chat.completions.create(model=MODEL, messages=asking(image_file(uploaded.id)))
    [entry] = perceptron_mock.requests(path="/v1/chat/completions")
    assert entry.body["messages"][0]["content"][0] == image_file(uploaded.id)
    assert len(str(entry.body)) < 1000


def test_a_files_content_url_as_an_image_url_is_the_uploaded_image(perceptron_mock, perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    content_url = f"{perceptron_mock.base_url}/files/{uploaded.id}/content"  # as the service's docs allow
    by_url = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking({"type": "image_url", "image_url": {"url": content_url}}))
    inline = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking({"type": "image_url", "image_url": {"url": data_url(PNG)}}))
    assert by_url.usage.prompt_tokens == inline.usage.prompt_tokens
    # A content URL naming no stored file may be another server's: an unfetched URL of the assumed size.
    elsewhere = f"https://files.example/v1/files/file-{'Q' * 22}/content"
    unknown = perceptron_sdk.chat.completions.create(model=MODEL, messages=asking({"type": "image_url", "image_url": {"url": elsewhere}}))
    assert unknown.usage.prompt_tokens - inline.usage.prompt_tokens == image_tokens(1024, 768) - image_tokens(300, 200)
