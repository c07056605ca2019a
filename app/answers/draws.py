"""The draws the plain answer rules make, exactly as ``random.Random``'s methods make them, minus their checks.

``randint`` is three Python frames of argument checks around ``_randbelow`` and ``choice`` two; these give
the same numbers from the same generator (its C ``getrandbits``) in one frame, on every request.
"""

from __future__ import annotations

import _random
import random
from typing import Sequence, TypeVar

T = TypeVar("T")
_new = random.Random.__new__
_seed = _random.Random.seed  # the C generator's own: random.Random.seed only checks the type on top


def seeded(seed: int) -> random.Random:
    """``random.Random(seed)`` for an int ``seed``: the same state, without the Python layer of ``seed``."""
    rng = _new(random.Random)
    _seed(rng, seed)
    rng.gauss_next = None  # as random.Random.__init__ leaves it
    return rng


def below(rng: random.Random, n: int) -> int:
    """``rng._randbelow(n)`` for ``n > 0``: a draw in [0, n), by rejection on ``n.bit_length()`` bits."""
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


def between(rng: random.Random, a: int, b: int) -> int:
    """``rng.randint(a, b)`` for ints: the same draw; an empty range raises as randint does."""
    n = b - a + 1
    if n <= 0:
        return rng.randint(a, b)
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return a + r


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice(seq)``: the same draw; an empty sequence raises as choice does."""
    n = len(seq)
    if not n:
        return rng.choice(seq)
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return seq[r]
