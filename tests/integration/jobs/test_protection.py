"""Target protection against the machine's real Redis (a unique key prefix per test, a test clock): the
circuit breaker's state machine, the retry budget, flow control's rate and parallelism (slots freed
when their lease ends), and the engine-facing facade failing open when Redis is unreachable."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from shared.jobs.breaker import BreakerPolicy, DestinationGuard, RetryBudgetPolicy, Verdict, destination
from shared.jobs.flow import FlowLimiter
from shared.jobs.models import FlowControl, JobSpec, Outcome, Status, utcnow
from shared.jobs.protection import BREAKER_OPEN, FLOW_PARALLELISM, RETRY_BUDGET, Protection
from shared.jobs.record import JobRecord

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
REDIS_URL = os.environ.get("STEADFAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEST = "http://target.test:80"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    def tick(self, s: float) -> None:
        self.t += s


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL)
    yield c
    c.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    p = f"test-{uuid.uuid4().hex[:10]}:"
    yield p
    keys = list(client.scan_iter(match=f"{p}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def guard(client: redis.Redis, prefix: str, clock: Clock, **budget: float) -> DestinationGuard:
    return DestinationGuard(client, prefix, BreakerPolicy(window_s=10, min_calls=4, failure_rate=0.5, cooldown_s=5),
                            RetryBudgetPolicy(**budget) if budget else None, clock=clock)


def calls(g: DestinationGuard, healthy: list[bool]) -> list[str]:
    events = []
    for i, ok in enumerate(healthy):
        assert g.admit(DEST, f"w{i}", 0, 30).verdict is Verdict.go
        events.append(g.record(DEST, f"w{i}", ok, 0).event)
    return events


def job(url: str = "http://target.test/hook", **spec: object) -> JobRecord:
    now = utcnow()
    return JobRecord(id=f"job_{uuid.uuid4().hex}", tenant="t1", spec=JobSpec.model_validate({"request": {"url": url},
                     **spec}), status=Status.running, created_at=now, updated_at=now)


# -- destination -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "dest"), [
    ("https://API.example.com/a/b?x=1", "https://api.example.com:443"),
    ("http://example.com:8080/x", "http://example.com:8080"),
    ("http://127.0.0.1:9/status/500", "http://127.0.0.1:9"),
    ("http://[::1]:81/", "http://[::1]:81"),
])
def test_destination_is_the_origin(url: str, dest: str) -> None:
    assert destination(url) == dest


# -- breaker -----------------------------------------------------------------------------------------
def test_breaker_opens_at_the_failure_rate_once_min_calls_are_reached(client: redis.Redis, prefix: str,
                                                                       clock: Clock) -> None:
    g = guard(client, prefix, clock)
    # Three failures are below min_calls (4): still closed
    assert calls(g, [False, False, False]) == ["", "", ""]
    assert g.admit(DEST, "x", 0, 30).verdict is Verdict.go
    # The fourth failure (4 calls, 100 % failed) opens it, and calls are refused for the cool-down
    assert g.record(DEST, "x", False, 0).event == "opened"
    gate = g.admit(DEST, "y", 0, 30)
    assert gate.verdict is Verdict.open and gate.wait_s == pytest.approx(5)
    clock.tick(3)
    assert g.admit(DEST, "y", 0, 30).wait_s == pytest.approx(2)


def test_breaker_stays_closed_below_the_failure_rate(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock)
    # never 50 % once 4 calls are in: 1/4, 2/5, 2/6, 3/7 failed
    assert "opened" not in calls(g, [True, True, False, True, False, True, False])
    # one more failure makes 4 of 8 = 50 %
    assert calls(g, [False]) == ["opened"]


def test_old_failures_slide_out_of_the_window(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock)
    calls(g, [False, False, False])
    clock.tick(11)  # past the 10 s window
    assert calls(g, [False]) == [""]  # 1 call in the window: below min_calls
    assert g.record(DEST, "z", True, 0).calls == 2


def test_permanent_answers_count_as_healthy(client: redis.Redis, prefix: str, clock: Clock) -> None:
    # A 404 is a server that answers: the facade reports it healthy, so the breaker stays closed.
    g = guard(client, prefix, clock)
    p = Protection(g, FlowLimiter(client, prefix, clock=clock))
    r = job("http://target.test/missing")
    for i in range(6):
        adm = p.admit(r, f"w{i}", 30)
        assert adm.go
        p.settle(r, f"w{i}", adm, Outcome.permanent, 30)
    assert g.snapshot(DEST).get("state", "closed") == "closed"


def test_half_open_lets_exactly_one_probe_through_and_closes_on_success(client: redis.Redis, prefix: str,
                                                                        clock: Clock) -> None:
    g = guard(client, prefix, clock)
    calls(g, [False] * 4)
    clock.tick(5.01)
    # After the cool-down one caller gets the probe, every other one is refused meanwhile
    assert g.admit(DEST, "probe", 0, 30).verdict is Verdict.probe
    assert {g.admit(DEST, f"other{i}", 0, 30).verdict for i in range(5)} == {Verdict.half_open}
    # A straggler admitted before the breaker opened does not decide anything
    assert g.record(DEST, "w0", True, 0).event == ""
    # The probe succeeds: closed, with an empty window
    assert g.record(DEST, "probe", True, 0).event == "closed"
    assert g.admit(DEST, "next", 0, 30).verdict is Verdict.go
    assert g.record(DEST, "next", False, 0).calls == 1


def test_a_failed_probe_opens_the_breaker_again(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock)
    calls(g, [False] * 4)
    clock.tick(5.01)
    assert g.admit(DEST, "probe", 0, 30).verdict is Verdict.probe
    assert g.record(DEST, "probe", False, 0).event == "reopened"
    gate = g.admit(DEST, "later", 0, 30)
    assert gate.verdict is Verdict.open and gate.wait_s == pytest.approx(5)
    clock.tick(5.01)
    assert g.admit(DEST, "probe2", 0, 30).verdict is Verdict.probe


def test_a_probe_whose_worker_died_frees_the_slot_after_its_lease(client: redis.Redis, prefix: str,
                                                                 clock: Clock) -> None:
    g = guard(client, prefix, clock)
    calls(g, [False] * 4)
    clock.tick(5.01)
    assert g.admit(DEST, "dies", 0, 12).verdict is Verdict.probe
    clock.tick(11)
    assert g.admit(DEST, "waits", 0, 12).verdict is Verdict.half_open
    clock.tick(1.01)
    assert g.admit(DEST, "takes-over", 0, 12).verdict is Verdict.probe
    # and a probe released without an outcome frees it at once
    g.release_probe(DEST, "takes-over")
    assert g.admit(DEST, "third", 0, 12).verdict is Verdict.probe


def test_breaker_on_redis_time(client: redis.Redis, prefix: str) -> None:
    # The production path: no test clock, Redis's TIME decides the cool-down.
    g = DestinationGuard(client, prefix, BreakerPolicy(window_s=10, min_calls=2, failure_rate=0.5, cooldown_s=0.5))
    for i in range(2):
        g.admit(DEST, f"w{i}", 0, 30)
        g.record(DEST, f"w{i}", False, 0)
    assert g.admit(DEST, "a", 0, 30).verdict is Verdict.open
    time.sleep(0.6)
    assert g.admit(DEST, "b", 0, 30).verdict is Verdict.probe


# -- retry budget ------------------------------------------------------------------------------------
def test_retries_spend_the_budget_and_successes_refund_it(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock, capacity=20, retry_cost=5, timeout_cost=10, success_refund=1, refill_per_s=0.5)
    # 20 tokens: a timeout retry (10) and two retries (5 each), then nothing left
    assert g.admit(DEST, "a", 10, 30).verdict is Verdict.go
    assert g.admit(DEST, "b", 5, 30).verdict is Verdict.go
    assert g.admit(DEST, "c", 5, 30).verdict is Verdict.go
    refused = g.admit(DEST, "d", 5, 30)
    assert refused.verdict is Verdict.budget and refused.wait_s == pytest.approx(10)  # 5 tokens at 0.5/s
    # First attempts never pay and are never refused by the budget
    assert g.admit(DEST, "first", 0, 30).verdict is Verdict.go
    # A successful retry refunds its cost: the next retry goes
    g.record(DEST, "c", True, 5)
    assert g.admit(DEST, "d", 5, 30).verdict is Verdict.go
    # Time refills it slowly: 5 tokens take 10 s
    assert g.admit(DEST, "e", 5, 30).verdict is Verdict.budget
    clock.tick(10)
    assert g.admit(DEST, "e", 5, 30).verdict is Verdict.go


def test_facade_defers_a_retry_when_the_budget_is_spent(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock, capacity=5, retry_cost=5, refill_per_s=0.1)
    p = Protection(g, FlowLimiter(client, prefix, clock=clock))
    retry = job().model_copy(update={"attempts": 1, "target_attempts": 1, "last_error": "HTTP 503"})
    first = p.admit(retry, "w1", 30)
    assert first.go and first.retry_cost == 5
    second = p.admit(retry, "w2", 30)
    assert not second.go and second.reason == RETRY_BUDGET and second.wait_s >= 50
    # a timeout's retry costs more, and a success refunds what the retry paid
    assert g.retry_cost(True) == 10
    p.settle(retry, "w1", first, Outcome.success, 30)
    assert p.admit(retry, "w3", 30).go


# -- flow control ------------------------------------------------------------------------------------
def test_rate_lets_a_burst_through_then_spaces_calls(client: redis.Redis, prefix: str, clock: Clock) -> None:
    f = FlowLimiter(client, prefix, clock=clock)
    flow = FlowControl(key="k", rate=2)
    assert [f.acquire("t1", flow, f"w{i}", 30).admitted for i in range(3)] == [True, True, False]
    gate = f.acquire("t1", flow, "w9", 30)
    assert gate.verdict == "rate" and gate.wait_s == pytest.approx(0.5)
    clock.tick(0.5)
    assert f.acquire("t1", flow, "w9", 30).admitted
    # another tenant's key of the same name has its own bucket
    assert f.acquire("t2", flow, "x", 30).admitted


def test_parallelism_holds_slots_until_released(client: redis.Redis, prefix: str, clock: Clock) -> None:
    f = FlowLimiter(client, prefix, clock=clock)
    flow = FlowControl(key="k", parallelism=2)
    assert f.acquire("t1", flow, "a", 30).admitted and f.acquire("t1", flow, "b", 30).admitted
    refused = f.acquire("t1", flow, "c", 30)
    assert refused.verdict == "parallelism" and 0 < refused.wait_s <= 30
    clock.tick(2)
    f.release("t1", flow, "a", 30)
    assert f.acquire("t1", flow, "c", 30).admitted
    assert f.in_flight("t1", flow) == 2
    # the hold-time estimate learnt from the release (2 s) becomes the wait told to the next refused job
    assert f.acquire("t1", flow, "d", 30).wait_s == pytest.approx(2)


def test_a_crashed_workers_slot_is_freed_when_its_lease_ends(client: redis.Redis, prefix: str,
                                                            clock: Clock) -> None:
    f = FlowLimiter(client, prefix, clock=clock)
    flow = FlowControl(key="k", parallelism=1)
    assert f.acquire("t1", flow, "crashes", 15).admitted  # never released
    clock.tick(14.9)
    assert not f.acquire("t1", flow, "waits", 15).admitted
    clock.tick(0.2)
    assert f.acquire("t1", flow, "waits", 15).admitted


def test_a_refused_job_takes_neither_token_nor_slot(client: redis.Redis, prefix: str, clock: Clock) -> None:
    f = FlowLimiter(client, prefix, clock=clock)
    flow = FlowControl(key="k", rate=1, parallelism=1)
    assert f.acquire("t1", flow, "a", 30).admitted
    clock.tick(5)  # a token is back, but the slot is taken
    assert f.acquire("t1", flow, "b", 30).verdict == "parallelism"
    f.release("t1", flow, "a", 30)
    assert f.acquire("t1", flow, "b", 30).admitted  # b's earlier refusal spent no token


def test_flow_slot_is_given_back_when_the_breaker_refuses(client: redis.Redis, prefix: str, clock: Clock) -> None:
    g = guard(client, prefix, clock)
    f = FlowLimiter(client, prefix, clock=clock)
    p = Protection(g, f)
    calls(g, [False] * 4)  # breaker open
    r = job(flow_control={"key": "k", "parallelism": 1})
    adm = p.admit(r, "w1", 30)
    assert not adm.go and adm.reason == BREAKER_OPEN and adm.wait_s >= 5
    assert f.in_flight("t1", r.spec.flow_control) == 0  # type: ignore[arg-type]


def test_facade_defers_on_parallelism_and_settle_releases(client: redis.Redis, prefix: str, clock: Clock) -> None:
    p = Protection(guard(client, prefix, clock), FlowLimiter(client, prefix, clock=clock))
    r = job(flow_control={"key": "k", "parallelism": 1})
    first = p.admit(r, "w1", 30)
    assert first.go and first.flow
    blocked = p.admit(r, "w2", 30)
    assert not blocked.go and blocked.reason == FLOW_PARALLELISM and blocked.wait_s > 0
    p.settle(r, "w1", first, Outcome.retryable, 30)
    assert p.admit(r, "w2", 30).go


# -- Redis down ----------------------------------------------------------------------------------------
def test_fail_open_when_redis_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    p = Protection.on_redis(down, "x:")
    r = job(flow_control={"key": "k", "parallelism": 1})
    started = time.monotonic()
    adm = p.admit(r, "w1", 30)
    # The job goes, unprotected; the warning names the job and the destination
    assert adm.go and not adm.guarded and not adm.flow
    warned = [rec for rec in caplog.records if "target protection unavailable" in rec.getMessage()]
    assert warned and warned[0].job_id == r.id and warned[0].destination == "http://target.test:80"  # type: ignore[attr-defined]
    p.settle(r, "w1", adm, Outcome.success, 30)
    # For the hold period this process does not try Redis again: a hundred admissions cost no timeout
    for i in range(100):
        assert p.admit(r, f"w{i}", 30).go
    assert time.monotonic() - started < 5
    assert len([rec for rec in caplog.records if "target protection unavailable" in rec.getMessage()]) == 1
    assert p._down_until > time.monotonic() + timedelta(seconds=1).total_seconds()
