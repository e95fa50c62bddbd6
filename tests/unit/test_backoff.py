"""Backoff policies stay within their bounds, grow as documented, and honour Retry-After up to the cap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.jobs import backoff
from shared.jobs.models import Jitter


def test_no_jitter_doubles_until_the_cap() -> None:
    p = backoff.NoJitter(base=1, cap=10)
    assert [p.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize("jitter", [Jitter.full, Jitter.equal, Jitter.decorrelated])
def test_jittered_delays_stay_within_base_and_cap(jitter: Jitter) -> None:
    p = backoff.policy(jitter, base=0.5, cap=30, rng=random.Random(7))
    previous = None
    for n in range(1, 40):
        d = p.delay(n, previous)
        assert 0 <= d <= 30
        previous = d


def test_full_jitter_spreads_over_the_whole_window() -> None:
    p = backoff.FullJitter(base=1, cap=1000, rng=random.Random(1))
    samples = [p.delay(5) for _ in range(2000)]  # window 0..16 s
    assert min(samples) < 1 and max(samples) > 15
    assert 7 < sum(samples) / len(samples) < 9


def test_equal_jitter_never_retries_before_half_the_window() -> None:
    p = backoff.EqualJitter(base=1, cap=1000, rng=random.Random(2))
    assert all(8 <= p.delay(5) <= 16 for _ in range(500))


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    p = backoff.DecorrelatedJitter(base=1, cap=1000, rng=random.Random(3))
    assert all(1 <= p.delay(1, previous=10) <= 30 for _ in range(500))


def test_seeded_randomness_is_reproducible() -> None:
    a = backoff.FullJitter(1, 60, random.Random(42))
    b = backoff.FullJitter(1, 60, random.Random(42))
    assert [a.delay(n) for n in range(1, 10)] == [b.delay(n) for n in range(1, 10)]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert backoff.NoJitter(1, 3600).delay(10_000) == 3600


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert backoff.parse_retry_after("120", now) == 120
    assert backoff.parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert backoff.parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert backoff.parse_retry_after("soon", now) is None
    assert backoff.parse_retry_after(None, now) is None


def test_retry_after_wins_when_longer_but_never_passes_the_cap() -> None:
    p = backoff.NoJitter(1, 3600)
    assert backoff.next_delay(p, 1, None, retry_after=30, cap=3600) == 30
    assert backoff.next_delay(p, 3, None, retry_after=1, cap=3600) == 4
    assert backoff.next_delay(p, 1, None, retry_after=99999, cap=600) == 600
