"""Priorities with aging (shared.jobs.priority): a job moves up a level per `aging_s` waited, and the one
static rank orders jobs exactly as "effective level first, then who reached it first" would."""

from __future__ import annotations

import itertools
import random

import pytest

from shared.jobs.models import JobSpec, Priority
from shared.jobs.priority import effective_priority, rank

A = 300.0
H, N, L = Priority.high, Priority.normal, Priority.low


@pytest.mark.parametrize(("priority", "waited", "expected"), [
    (L, 0, L), (L, 299.9, L), (L, 300, N), (L, 599, N), (L, 600, H), (L, 10_000, H),
    (N, 0, N), (N, 300, H), (N, 1e9, H),
    (H, 0, H), (H, 1e9, H),
    (L, -5, L),  # a clock that stepped back never demotes
])
def test_a_waiting_job_moves_up_one_level_per_aging_period(priority: Priority, waited: float,
                                                          expected: Priority) -> None:
    assert effective_priority(priority, waited, A) is expected


def test_high_submitted_after_low_ranks_first_until_the_low_one_has_aged() -> None:
    low = rank(L, since=0, aging_s=A)
    assert rank(H, since=10, aging_s=A) < low           # a new high job goes first
    assert rank(N, since=10, aging_s=A) < low           # so does a new normal one
    assert rank(H, since=2 * A + 1, aging_s=A) > low    # after 2 periods the low one is high itself: FIFO
    assert rank(N, since=A + 1, aging_s=A) > low


def test_rank_order_is_effective_level_then_who_reached_it_first() -> None:
    # The claim in the module docstring, checked on random jobs at random moments.
    rng = random.Random(7)
    jobs = [(rng.choice([H, N, L]), rng.uniform(0, 3000)) for _ in range(60)]
    for now in (1000.0, 2000.0, 3100.0):
        waiting = [(p, since) for p, since in jobs if since <= now]
        for (p1, s1), (p2, s2) in itertools.combinations(waiting, 2):
            e1, e2 = effective_priority(p1, now - s1, A), effective_priority(p2, now - s2, A)
            lv = {L: 0, N: 1, H: 2}
            if lv[e1] != lv[e2]:
                assert (rank(p1, s1, A) < rank(p2, s2, A)) == (lv[e1] > lv[e2])


def test_priority_is_on_the_job_spec_with_normal_as_default() -> None:
    assert JobSpec.model_validate({"request": {"url": "https://example.com/x"}}).priority is N
    assert JobSpec.model_validate({"request": {"url": "https://example.com/x"}, "priority": "high"}).priority is H
    with pytest.raises(ValueError, match="priority"):
        JobSpec.model_validate({"request": {"url": "https://example.com/x"}, "priority": "urgent"})
