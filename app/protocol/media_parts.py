"""Content parts of the media the perceptron SDK sends besides ``image_url``: video, video frames, audio, file ids.

They are accepted without decoding (docs/validation.md, "Media parts"): a data URL must be of the
part's MIME family, an http(s) URL is never fetched; a file id is checked for its form here and
resolved to the upload by ``accounting.stored_files``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FILE_ID = r"^file-[A-Za-z0-9]{22}$"  # the perceptron SDK's own check (_lowering.py)
_VIDEO_URL = r"^(?:https?://|data:video/[^;,]+;base64,)"
_AUDIO_URL = r"^(?:https?://|data:audio/[^;,]+;base64,)"
_IMAGE_URL = r"^(?:https?://|data:image/[^;,]+;base64,)"


class Strict(BaseModel):
    """The base of every request sub-object: strict types, unknown fields refused, finite numbers."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class CacheBreakpoint(Strict):
    """OpenAI's ``prompt_cache_breakpoint`` on a part: accepted, and without effect here."""

    mode: Literal["explicit"]
    ttl: Literal["30m", "12h"] | None = None


class _Part(Strict):
    prompt_cache_breakpoint: CacheBreakpoint | None = None


class _VideoURL(Strict):
    url: Annotated[str, Field(pattern=_VIDEO_URL)]


class VideoURLPart(_Part):
    type: Literal["video_url"]
    video_url: _VideoURL


class _FrameImage(Strict):
    url: Annotated[str, Field(pattern=_IMAGE_URL)]


class _Frame(Strict):
    image_url: _FrameImage
    timestamp_ms: Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Frames(Strict):
    # The SDK sends 2 to 256 frames; the cap keeps a request's frame list bounded.
    frames: Annotated[list[_Frame], Field(min_length=1, max_length=256, fail_fast=True)]


class VideoFramesPart(_Part):
    type: Literal["video_frames"]
    video_frames: _Frames


class _AudioURL(Strict):
    url: Annotated[str, Field(pattern=_AUDIO_URL)]


class AudioURLPart(_Part):
    type: Literal["audio_url"]
    audio_url: _AudioURL


class _InputAudio(Strict):
    data: str
    format: Literal["wav", "mp3", "flac"]


class InputAudioPart(_Part):
    type: Literal["input_audio"]
    input_audio: _InputAudio


class _FileRef(Strict):
    file_id: Annotated[str, Field(pattern=FILE_ID)]


class ImageFileIdPart(_Part):
    type: Literal["image_file_id"]
    image_file_id: _FileRef


class VideoFileIdPart(_Part):
    type: Literal["video_file_id"]
    video_file_id: _FileRef


class AudioFileIdPart(_Part):
    type: Literal["audio_file_id"]
    audio_file_id: _FileRef


# Each media part type and the catalog modality it needs; every one is an asset for ``asset_idx``.
MODALITY = {
    "image_url": "image",
    "image_file_id": "image",
    "video_url": "video",
    "video_frames": "video",
    "video_file_id": "video",
    "audio_url": "audio",
    "input_audio": "audio",
    "audio_file_id": "audio",
}

MEDIA_PARTS = {
    "video_url": VideoURLPart,
    "video_frames": VideoFramesPart,
    "audio_url": AudioURLPart,
    "input_audio": InputAudioPart,
    "image_file_id": ImageFileIdPart,
    "video_file_id": VideoFileIdPart,
    "audio_file_id": AudioFileIdPart,
}
