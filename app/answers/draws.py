"""The draws the plain answer rules make, exactly as ``random.Random``'s methods make them, minus their checks.

``randint`` is three Python frames of argument checks around ``_randbelow``, ``choice`` two and ``sample``
an ABC check and a frame per draw; these give the same numbers from the same generator (its C
``getrandbits``) in one frame, on every request. tests/answers/test_draws.py holds them to random's.
"""

from __future__ import annotations

import _random
import math
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


def sample(rng: random.Random, population: Sequence[T], k: int) -> list[T]:
    """``rng.sample(population, k)`` for a sequence: the same draws (its pool or its set of selections,
    chosen by the same sizes); a ``k`` out of range raises as sample does."""
    n = len(population)
    if not 0 <= k <= n:
        return rng.sample(population, k)
    getrandbits = rng.getrandbits
    result: list = [None] * k
    setsize = 21  # as random.sample sizes a small set against a list
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    if n <= setsize:
        pool = list(population)
        for i in range(k):
            m = n - i
            bits = m.bit_length()
            j = getrandbits(bits)
            while j >= m:
                j = getrandbits(bits)
            result[i] = pool[j]
            pool[j] = pool[m - 1]
        return result
    selected: set[int] = set()
    bits = n.bit_length()
    for i in range(k):
        j = getrandbits(bits)
        while j >= n or j in selected:
            j = getrandbits(bits)
        selected.add(j)
        result[i] = population[j]
    return result
