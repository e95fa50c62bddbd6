"""The contention simulator reproduces the published shape of "Exponential Backoff And Jitter"."""

from __future__ import annotations

import random

from bench.jitter import run_policy, simulate
from shared.jobs.backoff import NoJitter
from shared.jobs.models import Jitter


def test_every_client_commits_once_and_the_first_round_has_every_client_writing() -> None:
    # Given capped exponential backoff and 10 clients on one row
    trial = simulate(NoJitter(0.005, 2.0), 10, random.Random(1))
    # Then there is at least one write per client, and more than that: the first round all collide
    assert trial.calls > 10
    assert trial.time_ms > 0


def test_a_single_client_writes_once() -> None:
    trial = simulate(NoJitter(0.005, 2.0), 1, random.Random(1))
    assert trial.calls == 1


def test_no_jitter_loses_and_full_jitter_needs_less_than_half_the_calls_at_100_clients() -> None:
    none = run_policy(Jitter.none, 100, trials=20, seed=11)
    full = run_policy(Jitter.full, 100, trials=20, seed=11)
    equal = run_policy(Jitter.equal, 100, trials=20, seed=11)
    # The published shape: no jitter is the clear loser in calls and in time; full ≈ 40–45 % of its calls.
    assert full["calls"] < equal["calls"] < none["calls"]
    assert full["time_ms"] < none["time_ms"]
    assert 0.35 < full["calls"] / none["calls"] < 0.5


def test_runs_are_deterministic_for_a_seed() -> None:
    assert run_policy(Jitter.full, 20, trials=5, seed=3) == run_policy(Jitter.full, 20, trials=5, seed=3)
