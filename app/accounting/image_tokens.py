"""Image tokens from pixel size, by the Isaac image processor's resize rule.

The rule is ``get_image_size_for_max_num_patches`` of the Isaac processor, bisection tolerance
included, so sizes near a rounding step come out exactly as the model's (docs: "Context").
"""

from __future__ import annotations

import math
from functools import lru_cache

PATCH = 16
SHUFFLE = 2
MIN_PATCHES = 256
MAX_PATCHES = 6144
_STEP = PATCH * SHUFFLE  # sides are multiples of 32
_EPS = 1e-5  # the processor's bisection tolerance


def _scaled(scale: float, side: int) -> int:
    return max(_STEP, math.ceil(scale * side / _STEP) * _STEP)


def _patches(height: int, width: int) -> float:
    return (height / PATCH) * (width / PATCH)


@lru_cache(maxsize=4096)
def resized_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the image as the model sees it."""
    adjusted_h, adjusted_w = _scaled(1.0, height), _scaled(1.0, width)
    patches = _patches(adjusted_h, adjusted_w)
    if patches < MIN_PATCHES:
        low, high = 1.0, 100.0
        while high - low >= _EPS:
            mid = (low + high) / 2
            if _patches(_scaled(mid, height), _scaled(mid, width)) >= MIN_PATCHES:
                high = mid
            else:
                low = mid
        return _scaled(high, width), _scaled(high, height)
    if patches <= MAX_PATCHES:
        return adjusted_w, adjusted_h
    low, high = _EPS / 10, 1.0
    while high - low >= _EPS:
        mid = (low + high) / 2
        if _patches(_scaled(mid, height), _scaled(mid, width)) <= MAX_PATCHES:
            low = mid
        else:
            high = mid
    return _scaled(low, width), _scaled(low, height)


def image_tokens(width: int, height: int) -> int:
    resized_w, resized_h = resized_size(width, height)
    return (resized_w // _STEP) * (resized_h // _STEP)
