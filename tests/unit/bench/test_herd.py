"""The thundering-herd calculation: bucket counts, peak-to-mean, and SQS's whole-second visibility."""

from __future__ import annotations

import pytest

from bench.herd import as_delivered, first_retry_delays, histogram, peak_to_mean, visibility_timeouts
from shared.jobs.models import Jitter, RetrySpec


def test_histogram_counts_from_the_failure_instant_to_the_last_retry() -> None:
    assert histogram([0.05, 0.15, 0.19, 0.35], 0.1) == [1, 2, 0, 1]


def test_a_herd_that_retries_together_scores_the_buckets_it_could_have_used() -> None:
    # All of them at 1.0 s: buckets 0..10, one of them full.
    assert peak_to_mean([1.0] * 100, 0.1) == pytest.approx(11.0)


def test_an_even_spread_scores_one() -> None:
    assert peak_to_mean([i / 100 for i in range(100)], 0.1) == pytest.approx(1.0)


def test_default_policy_spreads_the_first_retries_evenly_over_one_second() -> None:
    delays = first_retry_delays(RetrySpec(), 10_000, seed=1)
    assert max(delays) < 1.0
    assert peak_to_mean(delays, 0.1) < 1.1
    plain = first_retry_delays(RetrySpec(jitter=Jitter.none), 10_000, seed=1)
    assert set(plain) == {1.0}


def test_sqs_visibility_rounds_down_and_the_worker_waits_out_the_rest() -> None:
    assert visibility_timeouts([0.2, 0.6, 1.4, 2.0]) == [0, 0, 1, 2]  # never later than the schedule
    assert as_delivered([0.2, 0.6, 1.4, 2.0]) == pytest.approx([0.2, 0.6, 1.4, 2.0])
