"""Video, audio and file-id inputs through the perceptron SDK: accepted without decoding on a model whose
catalog lists the modality, refused naming the part on one that lacks it; answers about a video are
what the SDK's video helpers parse (clips within the assumed duration, boxes with a time ``t``)."""

from __future__ import annotations

import perceptron
import pytest

from perceptron_mock.accounting.media_tokens import VIDEO_SECONDS
from tests.helpers import image_bytes

TINY_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 32  # the SDK labels it video/mp4
TINY_WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24  # the SDK sends it as input_audio, format wav
VIDEO_URL = {"type": "video_url", "video_url": {"url": "https://example.com/match.mp4"}}


def test_caption_of_a_video_on_the_default_model_is_text(perceptron_sdk):
    result = perceptron.caption(perceptron.video(TINY_MP4))
    assert result.text and not result.errors
    assert result.asset_count == 1


def test_a_clip_question_about_a_video_gets_clips_within_its_duration(perceptron_sdk):
    result = perceptron.question(perceptron.video(TINY_MP4), "When is the goal?", expects="clip")
    assert result.clips and not result.errors
    assert {clip.mention for clip in result.clips} == {"goal"}
    for clip in result.clips:
        start, end = clip.timestamp.at, clip.timestamp.until
        assert 0 <= start <= end <= VIDEO_SECONDS


def test_detect_in_a_video_gives_boxes_with_times_within_it(perceptron_sdk):
    result = perceptron.detect(perceptron.video(TINY_MP4), classes=["car"])
    assert result.boxes and not result.errors
    assert {box.mention for box in result.boxes} == {"car"}
    assert all(box.t is not None and 0 <= box.t <= VIDEO_SECONDS for box in result.boxes)


def test_boxes_on_an_image_carry_no_time(perceptron_sdk):
    messages = [
        {"role": "system", "content": "<hint>BOX</hint>"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"type": "text", "text": "Find the cup."}]},
    ]
    completion = perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=messages)
    assert ' t="' not in completion.text


def test_video_frames_clips_lie_within_the_frames_timeline(perceptron_sdk):
    frames = {"frames": [{"image_url": {"url": "https://example.com/f.png"}, "timestamp_ms": ms} for ms in (0, 500, 1000, 1500)]}
    messages = [
        {"role": "system", "content": "<hint>CLIP</hint>"},
        {"role": "user", "content": [{"type": "video_frames", "video_frames": frames}, {"type": "text", "text": "Clip the goal"}]},
    ]
    completion = perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=messages)
    clips = completion.annotations(expects="clip", strict=True).clips
    assert clips and all(0 <= c.timestamp.at <= c.timestamp.until <= 1.5 for c in clips)


def test_caption_of_audio_on_the_default_model_is_text(perceptron_sdk):
    result = perceptron.caption(perceptron.audio(TINY_WAV))
    assert result.text and not result.errors


def test_every_media_part_counts_as_an_asset_and_grounding_goes_to_the_last(perceptron_sdk):
    file_id = perceptron_sdk.files.upload(image_bytes("PNG", (64, 48))).id
    messages = [
        {"role": "system", "content": "<hint>BOX</hint>"},
        {"role": "user", "content": [
            {"type": "image_file_id", "image_file_id": {"file_id": file_id}},
            {"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64,AAAA"}},
            VIDEO_URL,
            {"type": "text", "text": "Find the car."},
        ]},
    ]
    completion = perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=messages)
    boxes = completion.annotations(expects="box", strict=True).boxes
    assert completion.asset_count == 3 and boxes
    assert {completion.resolve_asset_idx(box) for box in boxes} == {2}
    assert all(box.t is not None for box in boxes)


def test_a_video_on_isaac_0_2_is_refused_naming_the_part(perceptron_sdk):
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron.caption(perceptron.video(TINY_MP4), model="isaac-0.2-2b-preview")
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "messages[0].content[0]")
    assert "Model 'isaac-0.2-2b-preview' does not support video input" in str(caught.value)


def test_audio_on_perceptron_mk1_is_refused_naming_the_part(perceptron_sdk):
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron.caption(perceptron.audio(TINY_WAV), model="perceptron-mk1")
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "messages[0].content[0]")
    assert "Model 'perceptron-mk1' does not support audio input" in str(caught.value)


def test_a_video_on_perceptron_mk1_is_accepted(perceptron_sdk):
    assert perceptron.caption(perceptron.video(TINY_MP4), model="perceptron-mk1").text


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "video_file_id", "video_file_id": {"file_id": "file-short"}}, "messages[0].content[0].video_file_id.file_id"),
        ({"type": "image_file_id", "image_file_id": {"file_id": "img-" + "A" * 22}}, "messages[0].content[0].image_file_id.file_id"),
        ({"type": "video_url", "video_url": {"url": "data:audio/wav;base64,AAAA"}}, "messages[0].content[0].video_url.url"),
        ({"type": "audio_url", "audio_url": {"url": "ftp://example.com/a.wav"}}, "messages[0].content[0].audio_url.url"),
    ],
)
def test_a_malformed_file_id_or_a_url_of_the_wrong_kind_is_a_400_naming_it(perceptron_sdk, part, param):
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model="perceptron-mk1.5", messages=[{"role": "user", "content": [part]}])
    assert (caught.value.code, caught.value.param) == ("invalid_value", param)
