"""Image tokens follow the Isaac processor's resize rule, checked on sizes whose answer is known."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perceptron_mock.accounting.image_tokens import MAX_PATCHES, MIN_PATCHES, image_tokens, resized_size


@pytest.mark.parametrize(
    ("size", "resized", "tokens"),
    [
        ((640, 480), (640, 480), 300),  # Perceptron's tokenization guide, example 1: no resize
        ((1920, 1080), (1664, 928), 1508),  # the guide's example 2: 8,160 patches scaled down
        ((3840, 2160), (1664, 928), 1508),  # same aspect ratio, same result
        ((1024, 768), (1024, 768), 768),  # within bounds: sides already multiples of 32
        ((1000, 700), (1024, 704), 704),  # within bounds: sides rounded up to multiples of 32
        ((512, 512), (512, 512), 256),
        ((32, 32), (256, 256), 64),  # scaled up to the 256-patch minimum: 64 tokens
        ((64, 48), (320, 224), 70),  # scaled up until 256 patches are reached (280 after rounding)
        ((100_000, 1), (49152, 32), 1536),  # a sliver: one 32-pixel row, the 6,144-patch ceiling
    ],
)
def test_known_sizes(size, resized, tokens):
    assert resized_size(*size) == resized
    assert image_tokens(*size) == tokens


def test_the_processor_scales_up_at_most_100x():
    # A 1x1 image reaches only 100x100 -> 128x128 (64 patches, 16 tokens): below the nominal minimum,
    # because the processor's bisection searches scales up to 100 only. The mock does the same.
    assert resized_size(1, 1) == (128, 128)
    assert image_tokens(1, 1) == 16


def test_bisection_tolerance_is_reproduced():
    # The exact optimum for 6340x1737 is 2336x672 (6,132 patches), but it lies within the processor's
    # 1e-5 bisection tolerance of the scale that would overshoot, so the processor (and the mock)
    # settles one step lower.
    assert resized_size(6340, 1737) == (2336, 640)


def _exact_downscale(width: int, height: int) -> tuple[int, int]:
    """The largest size the scale-down could reach, found exactly over the scales where a side
    steps (an independent check of the bisection)."""

    def size(scale: Fraction) -> tuple[int, int]:
        return max(32, math.ceil(scale * width / 32) * 32), max(32, math.ceil(scale * height / 32) * 32)

    steps = {Fraction(32 * j, width) for j in range(1, math.ceil(width / 32) + 1)}
    steps |= {Fraction(32 * j, height) for j in range(1, math.ceil(height / 32) + 1)}
    best = max(s for s in steps if s <= 1 and (size(s)[0] // 16) * (size(s)[1] // 16) <= MAX_PATCHES)
    return size(best)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12_000), st.integers(1, 12_000))
def test_resized_sizes_obey_the_processor_bounds(width, height):
    w, h = resized_size(width, height)
    assert w % 32 == 0 and h % 32 == 0
    patches = (w // 16) * (h // 16)
    assert patches <= MAX_PATCHES
    if width * 100 >= 256 and height * 100 >= 256:  # reachable within the 100x scale-up
        assert patches >= MIN_PATCHES
    assert image_tokens(width, height) == patches // 4
    rounded_patches = math.ceil(width / 32) * math.ceil(height / 32) * 4
    if rounded_patches > MAX_PATCHES:
        exact_w, exact_h = _exact_downscale(width, height)
        # Equal to the exact optimum, or (where the bisection stops short) one 32-pixel step below it.
        assert (w, h) == (exact_w, exact_h) or (exact_w - w, exact_h - h) in {(32, 0), (0, 32)}
    elif rounded_patches >= MIN_PATCHES:
        assert (w, h) == (max(32, math.ceil(width / 32) * 32), max(32, math.ceil(height / 32) * 32))
