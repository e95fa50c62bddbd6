"""A flow-control key's waiting room on real Redis (shared.jobs.flow), with an injected clock: a freed slot goes
to the best-ranked fresh waiter (priority, then who became due first, with aging), the release names whom to
wake, a waiter that stopped asking stops blocking the line, and a forgotten one is dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from shared.jobs.flow import FlowLimiter
from shared.jobs.models import FlowControl, Priority

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("STEADFAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = FlowControl(key="k", parallelism=1)
H, N, L = Priority.high, Priority.normal, Priority.low


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def flow() -> Iterator[tuple[FlowLimiter, Clock]]:
    client, prefix, clock = redis.Redis.from_url(REDIS_URL), f"test-room-{uuid.uuid4().hex[:10]}:", Clock()
    yield FlowLimiter(client, prefix, clock=clock, aging_s=100), clock
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def ask(f: FlowLimiter, job: str, priority: Priority, since: float | None = None, lease_s: float = 30) -> bool:
    return f.acquire("t", KEY, f"owner-{job}", lease_s, job, priority, since).admitted


def test_the_slot_goes_to_the_best_ranked_waiter_and_the_release_names_it(flow: tuple[FlowLimiter, Clock]) -> None:
    f, clock = flow
    assert ask(f, "holder", N)
    # Given a low job waits, then a normal and a high one arrive later
    for job, p in (("low", L), ("normal", N), ("high", H)):
        clock.t += 1
        assert not ask(f, job, p, clock.t)
    assert f.waiting("t", KEY) == ["high", "normal", "low"]
    # When the holder's call ends, its release names the high job, and only the high job may take the slot
    assert f.release("t", KEY, "owner-holder", 30) == ["high"]
    assert not ask(f, "low", L) and not ask(f, "normal", N)
    gate = f.acquire("t", KEY, "owner-low", 30, "low", L)
    assert gate.verdict == "parallelism" and gate.ahead == 1
    assert ask(f, "high", H)
    assert f.waiting("t", KEY) == ["normal", "low"]


def test_aging_lets_a_long_waiting_low_job_outrank_new_high_ones(flow: tuple[FlowLimiter, Clock]) -> None:
    f, clock = flow
    assert ask(f, "holder", N, lease_s=1000)
    start = clock.t
    assert not ask(f, "old-low", L, start)
    # a high job due 150 s later (1.5 aging periods) still goes first; one due 201 s later no longer does
    clock.t = start + 150
    assert not ask(f, "high-150", H, clock.t)
    clock.t = start + 201
    assert not ask(f, "high-201", H, clock.t)
    assert f.waiting("t", KEY) == ["high-150", "old-low", "high-201"]


def test_a_waiter_that_stopped_asking_no_longer_blocks_the_line(flow: tuple[FlowLimiter, Clock]) -> None:
    f, clock = flow
    assert ask(f, "holder", N)
    assert not ask(f, "gone-high", H)  # e.g. cancelled while it waited: it never asks again
    clock.t += 1
    assert not ask(f, "low", L)
    f.release("t", KEY, "owner-holder", 30)
    assert not ask(f, "low", L)  # the high one is still fresh: it has the slot's turn
    # When it has not asked for `stale_s`, the low one takes the slot
    clock.t += f.stale_s + 1
    assert ask(f, "low", L)
    assert f.waiting("t", KEY) == ["gone-high"]  # it keeps its place, should it ask again
    # and a release wakes only fresh waiters
    assert f.release("t", KEY, "owner-low", 30) == []
    # one silent for `forget_s` is dropped from the room
    clock.t += f.forget_s + 1
    assert ask(f, "late", N)
    assert f.waiting("t", KEY) == []
