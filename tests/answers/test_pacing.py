"""Latency models: seeded schedules repeat, distributions have the shape asked for, caps hold, and the
X-Mock-Pacing grammar reads what the docs show and refuses the rest (perceptron_mock.answers.pacing)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from perceptron_mock.answers.answer import Pacing
from perceptron_mock.answers.pacing import (
    MAX_FIRST_TOKEN_MS,
    MAX_GAP_MS,
    PacingSpecError,
    parse,
    schedule,
    stream_seed,
)

LOGNORMAL = Pacing(first_token_ms=300, first_token_sd_ms=80, distribution="lognormal", tokens_per_second=30, token_jitter_ms=6)


def gaps(plan, n: int = 50) -> list[float]:
    return list(itertools.islice(plan.gaps(), n))


def test_the_same_seed_draws_the_same_schedule_and_another_seed_another():
    first, again, other = (schedule(LOGNORMAL, seed=s) for s in (7, 7, 8))
    assert (first.first, gaps(first)) == (again.first, gaps(again))
    assert first.first != other.first and gaps(first) != gaps(other)


def test_a_request_seed_mixes_with_the_server_seed():
    assert stream_seed(0, 123) == stream_seed(0, 123)
    assert len({stream_seed(0, 123), stream_seed(1, 123), stream_seed(0, 124)}) == 3


def test_fixed_pacing_is_the_steady_schedule_whatever_the_seed():
    plan = schedule(Pacing(first_token_ms=300, tokens_per_second=30), seed=99)
    assert plan.first == 0.3 and gaps(plan, 3) == [1 / 30] * 3


@pytest.mark.parametrize("distribution", ["normal", "lognormal"])
def test_first_token_waits_follow_the_mean_and_spread_asked_for(distribution):
    pacing = Pacing(first_token_ms=300, first_token_sd_ms=60, distribution=distribution)
    draws = [schedule(pacing, seed=stream_seed(0, n)).first * 1000 for n in range(4000)]
    assert statistics.fmean(draws) == pytest.approx(300, rel=0.03)
    assert statistics.stdev(draws) == pytest.approx(60, rel=0.08)
    if distribution == "lognormal":
        assert min(draws) > 0 and statistics.median(draws) < statistics.fmean(draws)  # skewed right


def test_token_gaps_jitter_around_the_rate_and_never_go_below_zero():
    plan = schedule(Pacing(tokens_per_second=50, token_jitter_ms=5), seed=1)
    drawn = gaps(plan, 5000)
    assert statistics.fmean(drawn) == pytest.approx(0.02, rel=0.02)
    assert statistics.stdev(drawn) == pytest.approx(0.005, rel=0.08)
    wild = gaps(schedule(Pacing(tokens_per_second=50, token_jitter_ms=50), seed=1), 2000)
    assert min(wild) == 0.0


def test_prefill_stretches_the_first_token_by_prompt_length():
    pacing = Pacing(first_token_ms=100, prefill_ms_per_1k=40)
    assert schedule(pacing, prompt_tokens=0).first == pytest.approx(0.1)
    assert schedule(pacing, prompt_tokens=5000).first == pytest.approx(0.3)


def test_drawn_and_stretched_waits_stay_within_the_caps():
    huge = Pacing(first_token_ms=MAX_FIRST_TOKEN_MS, first_token_sd_ms=MAX_FIRST_TOKEN_MS, prefill_ms_per_1k=60_000,
                  tokens_per_second=0.001, token_jitter_ms=MAX_GAP_MS)
    for seed in range(200):
        plan = schedule(huge, prompt_tokens=1_000_000, seed=seed)
        assert 0 <= plan.first <= MAX_FIRST_TOKEN_MS / 1000
        assert all(0 <= gap <= MAX_GAP_MS / 1000 for gap in gaps(plan, 20))


# --- the X-Mock-Pacing grammar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, pacing",
    [
        ("ttft=300; tps=30", Pacing(first_token_ms=300, tokens_per_second=30)),
        ("ttft=300, ttft_sd=80, dist=lognormal, tps=30, jitter=6",
         Pacing(first_token_ms=300, first_token_sd_ms=80, distribution="lognormal", tokens_per_second=30, token_jitter_ms=6)),
        ("first_token_ms=50; gap=20; prefill=15; seed=42",
         Pacing(first_token_ms=50, tokens_per_second=50, prefill_ms_per_1k=15, seed=42)),
        ("TTFT = 10 ; SD=2", Pacing(first_token_ms=10, first_token_sd_ms=2)),
        ("none", Pacing()),
    ],
)
def test_pacing_specs_as_the_docs_write_them(spec, pacing):
    assert parse(spec) == pacing


@pytest.mark.parametrize(
    "spec, says",
    [
        ("", "empty"),
        ("ttft", "needs a value"),
        ("ttft=abc", "must be a number"),
        ("ttft=-1", "between 0 and 600000"),
        ("ttft=nan", "between"),
        ("ttft=1e9", "between"),
        ("tps=30; gap=20", "tps or gap"),
        ("ttft=1; ttft=2", "given twice"),
        ("dist=uniform", "normal or lognormal"),
        ("seed=-3", "seed"),
        ("seed=99999999999999999999", "seed"),
        ("jitter=5", "give a rate too"),
        ("none; ttft=5", "stands alone"),
        ("warp=9", "unknown pacing item"),
        ("ttft=1;" * 60, "characters long"),
    ],
)
def test_unreadable_specs_say_what_is_wrong(spec, says):
    with pytest.raises(PacingSpecError, match=says):
        parse(spec)
