"""Token estimates for media parts that are accepted without decoding: video, video frames, audio, file ids.

Nothing is opened, so each estimate rests on an assumed duration and size (docs/limits.md, "Context");
video follows Mk1's documented rule (2 fps, 2..256 frames, ``ceil(frames/2)*ceil(w/32)*ceil(h/32)``).
"""

from __future__ import annotations

import math

VIDEO_SECONDS = 10.0  # assumed length of a video_url / video_file_id video
VIDEO_SIZE = (640, 360)  # assumed frame size of every video, video_frames included
VIDEO_FPS = 2
MIN_FRAMES, MAX_FRAMES = 2, 256
AUDIO_SECONDS = 10.0  # assumed length of every audio part
AUDIO_TOKENS_PER_SECOND = 25


def video_tokens(frames: int, width: int = VIDEO_SIZE[0], height: int = VIDEO_SIZE[1]) -> int:
    """Mk1's rule: frames clamped to 2..256 and rounded up to even, two frames per temporal patch."""
    frames = min(MAX_FRAMES, max(MIN_FRAMES, frames + frames % 2))
    return (frames // 2) * math.ceil(width / 32) * math.ceil(height / 32)


def video_url_tokens() -> int:
    """A video sent by URL or file id: ``VIDEO_SECONDS`` at ``VIDEO_FPS`` (2400 tokens)."""
    return video_tokens(math.ceil(VIDEO_SECONDS * VIDEO_FPS))


def frames_duration(timestamps_ms: list[int]) -> float:
    """The timeline of a ``video_frames`` part, in seconds: its last timestamp (at least half a second
    per frame when the timestamps are all zero)."""
    last = max(timestamps_ms) / 1000 if timestamps_ms else 0.0
    return last if last > 0 else len(timestamps_ms) / VIDEO_FPS


def audio_tokens() -> int:
    """Any audio part: ``AUDIO_SECONDS`` at ``AUDIO_TOKENS_PER_SECOND`` (250 tokens)."""
    return math.ceil(AUDIO_SECONDS * AUDIO_TOKENS_PER_SECOND)
