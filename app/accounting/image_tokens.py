"""Image tokens from pixel size.

Orientation from the Isaac processor config: 16-pixel patches, a 2x2 pixel shuffle, and between
256 and 6,144 patches per image after resizing, so 64 to 1,536 tokens an image.
"""

from __future__ import annotations

import math

PATCH = 16
SHUFFLE = 2
MIN_PATCHES = 256
MAX_PATCHES = 6144


def image_tokens(width: int, height: int) -> int:
    patches = math.ceil(width / PATCH) * math.ceil(height / PATCH)
    patches = max(MIN_PATCHES, min(MAX_PATCHES, patches))
    return math.ceil(patches / (SHUFFLE * SHUFFLE))
