"""The answer rules' draws give what random.Random's own methods give from the same seed: answers stay
the ones users have seen."""

from __future__ import annotations

import random

import pytest

from perceptron_mock.answers.draws import below, between, pick, sample, seeded


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5, 2**64 - 1, 2**70 + 3])
def test_a_seeded_generator_is_random_Random_of_that_seed(seed):
    assert seeded(seed).getstate() == random.Random(seed).getstate()


def test_between_pick_and_below_draw_what_randint_choice_and_randbelow_draw():
    ours, theirs = seeded(18), random.Random(18)
    for _ in range(2000):
        assert between(ours, 1, 7) == theirs.randint(1, 7)
        assert between(ours, -5, 999) == theirs.randint(-5, 999)
        assert between(ours, 3, 3) == theirs.randint(3, 3)
        assert pick(ours, "abcdefghij") == theirs.choice("abcdefghij")
        assert below(ours, 1000) == theirs._randbelow(1000)
    assert ours.getstate() == theirs.getstate()


@pytest.mark.parametrize(("n", "k"), [(0, 0), (1, 1), (11, 3), (14, 6), (21, 21), (22, 3), (30, 7), (100, 6), (1000, 12)])
def test_sample_draws_what_random_sample_draws_from_a_list_or_a_range(n, k):
    for seed in range(200):
        ours, theirs = seeded(seed), random.Random(seed)
        assert sample(ours, range(n), k) == theirs.sample(range(n), k)
        assert sample(ours, tuple(range(n)), k) == theirs.sample(tuple(range(n)), k)
        assert ours.getstate() == theirs.getstate()


def test_an_empty_range_or_sequence_raises_as_random_does():
    with pytest.raises(ValueError):
        between(seeded(1), 5, 4)
    with pytest.raises(IndexError):
        pick(seeded(1), ())
    with pytest.raises(ValueError):
        sample(seeded(1), "ab", 3)
