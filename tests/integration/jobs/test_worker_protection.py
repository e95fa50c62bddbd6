"""The worker under target protection, in process (moto's mock_aws, real Redis): a job refused by an open
breaker, a spent retry budget or flow control is put back unattempted (pending or retrying, with
`next_attempt_at`, its message hidden for the wait) and runs once allowed; with Redis unreachable the
worker delivers anyway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from shared.jobs import engine, protection
from shared.jobs.breaker import BreakerPolicy, DestinationGuard, RetryBudgetPolicy, Verdict
from shared.jobs.flow import FlowLimiter
from shared.jobs.models import FlowControl, Status, utcnow
from shared.jobs.protection import Protection
from shared.jobs.record import JobRecord
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"
DEST = "http://target.test:80"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def guarded(w: World, cooldown_s: float = 1.0, **budget: float) -> Protection:
    guard = DestinationGuard(w.redis, w.prefix, BreakerPolicy(window_s=10, min_calls=2, cooldown_s=cooldown_s),
                             RetryBudgetPolicy(**budget) if budget else None)
    return Protection(guard, FlowLimiter(w.redis, w.prefix))


def open_breaker(p: Protection) -> None:
    assert p.guard is not None
    for i in range(2):
        p.guard.admit(DEST, f"x{i}", 0, 30)
        p.guard.record(DEST, f"x{i}", False, 0)
    assert p.guard.admit(DEST, "check", 0, 30).verdict is Verdict.open


async def test_open_breaker_delays_the_job_without_spending_an_attempt(w: World) -> None:
    # Given the destination's breaker is open
    p = guarded(w, cooldown_s=1.5)
    worker = w.worker(p)
    open_breaker(p)
    job = w.submit(f"{URL}/hook")
    # When the worker receives the job
    [(_, disposition)] = await w.pump(worker)
    # Then it is put back, pending, no attempt made or recorded, due again after the cool-down
    assert not disposition.ack and disposition.retry_in_s >= 1
    waiting = w.store.get_record(job.id)
    assert waiting is not None
    assert (waiting.status, waiting.attempts, waiting.lease_owner, waiting.claims) == (Status.pending, 0, None, 0)
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > utcnow()
    assert w.target.calls == [] and w.store.attempts(TENANT, job.id) == []
    assert w.messages() == []  # hidden for the wait, not lost
    # When the cool-down has passed, the job is the probe, completes, and closes the breaker
    await asyncio.sleep((waiting.next_attempt_at - utcnow()).total_seconds() + 0.1)
    done = await _pump_until(w, worker, job.id, {Status.completed})
    assert done.attempts == 1 and len(w.target.calls) == 1
    assert p.guard is not None and p.guard.snapshot(DEST)["state"] == "closed"


async def test_spent_retry_budget_defers_the_retry_and_never_fails_it(w: World) -> None:
    # Given a budget with room for no retry at all (5 tokens, all spent elsewhere)
    p = guarded(w, capacity=5, retry_cost=5, refill_per_s=0.1)
    assert p.guard is not None and p.guard.admit(DEST, "spender", 5, 30).verdict is Verdict.go
    worker = w.worker(p)
    w.target.answer = None
    job = w.submit(f"{URL}/status/503", retry={"base_delay_s": 0, "max_attempts": 3})
    # When the first attempt fails and the retry falls due at once
    await w.pump(worker)
    assert w.store.get_record(job.id).status == Status.retrying  # type: ignore[union-attr]
    await w.pump(worker)
    # Then the retry is deferred: still retrying with one attempt, due in the budget's refill time
    waiting = w.store.get_record(job.id)
    assert waiting is not None and (waiting.status, waiting.attempts) == (Status.retrying, 1)
    assert waiting.next_attempt_at is not None and (waiting.next_attempt_at - utcnow()).total_seconds() > 20
    assert len(w.target.calls) == 1
    assert protection.metrics.metric_set["RetryBudgetExhausted"]["Value"] == [1.0]


async def test_flow_control_parks_a_job_while_its_key_is_busy(w: World) -> None:
    # Given another worker holds the only slot of key "acct-1"
    p = guarded(w)
    flow = FlowControl(key="acct-1", parallelism=1)
    assert p.flow is not None and p.flow.acquire(TENANT, flow, "other-worker", 30).admitted
    job = w.submit(f"{URL}/hook", flow_control=flow.model_dump())
    # When its job arrives, it waits (pending), no call made
    [(_, disposition)] = await w.pump(w.worker(p))
    assert not disposition.ack
    assert w.store.get_record(job.id).status == Status.pending  # type: ignore[union-attr]
    assert w.target.calls == []
    # and once the slot is free it runs, and gives its slot back
    p.flow.release(TENANT, flow, "other-worker", 30)
    await asyncio.sleep(1.1)
    await _pump_until(w, w.worker(p), job.id, {Status.completed})
    assert p.flow.in_flight(TENANT, flow) == 0


async def test_worker_delivers_when_redis_is_unreachable(w: World) -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    worker = w.worker(Protection.on_redis(down, w.prefix))
    job = w.submit(f"{URL}/hook", flow_control={"key": "k", "parallelism": 1})
    await w.pump(worker)
    done = w.store.get_record(job.id)
    assert done is not None and done.status == Status.completed and len(w.target.calls) == 1
    assert sum(protection.metrics.metric_set["ProtectionFailOpen"]["Value"]) >= 1


async def _pump_until(w: World, worker: engine.Worker, job_id: str, statuses: set[Status],
                      timeout_s: float = 10) -> JobRecord:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await w.pump(worker)
        record = w.store.get_record(job_id)
        assert record is not None
        if record.status in statuses or asyncio.get_running_loop().time() > deadline:
            return record
        await asyncio.sleep(0.3)


async def test_a_freed_flow_slot_goes_to_the_best_ranked_waiter_and_wakes_it(w: World) -> None:
    # Given another worker holds key "acct-2"'s only slot, a low job and then a high one wait for it
    p = guarded(w)
    flow = FlowControl(key="acct-2", parallelism=1)
    assert p.flow is not None and p.flow.acquire(TENANT, flow, "other-worker", 30).admitted
    low = w.submit(f"{URL}/hook", flow_control=flow.model_dump(), priority="low")
    high = w.submit(f"{URL}/hook", flow_control=flow.model_dump(), priority="high")
    worker = w.worker(p)
    await w.pump(worker)
    # they wait in the key's line, high first, and stay due (so that a wake-up can claim them at once)
    assert p.flow.waiting(TENANT, flow) == [high.id, low.id]
    for job in (low, high):
        parked = w.store.get_record(job.id)
        assert parked is not None and parked.status == Status.pending and parked.attempts == 0
        assert parked.next_attempt_at is not None and parked.next_attempt_at <= utcnow()
    # When the slot is freed, the high job runs first, and its release wakes the low one with a fresh message
    assert p.flow.release(TENANT, flow, "other-worker", 30) == [high.id]
    w.queue.send(high.id, TENANT)  # the wake-up the releasing worker would have sent
    await _pump_until(w, worker, high.id, {Status.completed})
    assert [c.headers["idempotency-key"] for c in w.target.calls] == [high.id]
    assert low.id in w.queued_job_ids()
    await _pump_until(w, worker, low.id, {Status.completed})
    assert p.flow.waiting(TENANT, flow) == [] and p.flow.in_flight(TENANT, flow) == 0
