"""Priorities on the local cloud, through the public API, under a flow-control key of parallelism 1 and a slow
loopback target: high jobs submitted after low ones run before them; and, on a stack of its own with a short
STEADFAST_PRIORITY_AGING_S, a low job is not starved by a stream of high jobs (aging promotes it)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from local.launch import start_stack, stop_stack
from local.stack import StackState
from shared.jobs.flow import FlowLimiter
from shared.jobs.models import FlowControl
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
TERMINAL = {"completed", "failed", "dead", "cancelled"}
AGING_S = 2


def submit(api: httpx.Client, url: str, priority: str, key: str) -> dict[str, Any]:
    r = api.post("/v1/jobs", json={"request": {"url": url}, "priority": priority,
                                   "flow_control": {"key": key, "parallelism": 1}})
    assert r.status_code == 202, r.text
    assert r.json()["priority"] == priority
    return dict(r.json())


def finished(api: httpx.Client, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    return dict(wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] in TERMINAL, timeout_s))


def starts(target: str, group: str) -> dict[str, float]:
    """When the target saw each job's call begin (by its Idempotency-Key, the job id)."""
    calls = httpx.get(f"{target}/_overlap", params={"group": group}).json()["calls"]
    return {c["key"]: c["start"] for c in calls}


def deferred(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """Wait until the job was refused by its key once (it is in the key's waiting room)."""
    job = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(),
                   lambda j: j["status"] == "pending" and j["updated_at"] != j["created_at"], 30, 0.1)
    assert job["status"] == "pending" and job["updated_at"] != job["created_at"], job
    return dict(job)


def test_high_jobs_submitted_after_low_ones_run_before_them(api: httpx.Client, stack: StackState) -> None:
    key, group = f"prio-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    target = stack.demo_target_url
    # Given another worker holds the key's only slot (the local cloud runs one worker invocation at a time, so
    # a job of its own holding the slot would keep the worker from parking the others meanwhile)
    flow = FlowLimiter(redis.Redis.from_url(stack.redis_url), stack.redis_keys().prefix)
    spec = FlowControl(key=key, parallelism=1)
    assert flow.acquire("dev", spec, "other-worker", 60).admitted
    # and low jobs are parked waiting for it
    lows = [submit(api, f"{target}/overlap?ms=300&group={group}", "low", key) for _ in range(3)]
    for job in lows:
        assert deferred(api, job["id"])["attempts"] == 0
    # When high jobs are submitted after them, and the slot is given back
    highs = [submit(api, f"{target}/overlap?ms=300&group={group}", "high", key) for _ in range(3)]
    for job in highs:
        deferred(api, job["id"])
    assert set(flow.waiting("dev", spec)) == {j["id"] for j in [*lows, *highs]}
    flow.release("dev", spec, "other-worker", 60)
    # Then every high job's call starts before any low job's
    assert all(finished(api, j["id"])["status"] == "completed" for j in [*lows, *highs])
    seen = starts(target, group)
    assert max(seen[j["id"]] for j in highs) < min(seen[j["id"]] for j in lows), seen
    # and the key never ran two at once, no attempt was spent on waiting, and the room is empty again
    assert httpx.get(f"{target}/_overlap", params={"group": group}).json()["max_in_flight"] == 1
    assert all(api.get(f"/v1/jobs/{j['id']}").json()["attempts"] == 1 for j in [*lows, *highs])
    assert flow.waiting("dev", spec) == []


@pytest.fixture(scope="module")
def aging_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("aging-stack")
    proc, state = start_stack(home, {
        "STEADFAST_PRIORITY_AGING_S": str(AGING_S), "STEADFAST_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
        "STEADFAST_VISIBILITY_S": "20", "STEADFAST_LEASE_S": "15", "STEADFAST_TENANT_RATE": "1000/s",
        "STEADFAST_TENANT_BURST": "5000"})
    try:
        yield state
    finally:
        stop_stack(proc)


def test_a_low_job_is_not_starved_by_a_stream_of_high_jobs(aging_stack: StackState) -> None:
    key, group = f"aging-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    target = aging_stack.demo_target_url
    url = f"{target}/overlap?ms=300&group={group}"
    flow = FlowLimiter(redis.Redis.from_url(aging_stack.redis_url), aging_stack.redis_keys().prefix)
    spec = FlowControl(key=key, parallelism=1)
    with httpx.Client(base_url=aging_stack.api_url, timeout=30,
                      headers={"authorization": f"Bearer {aging_stack.dev_api_key}"}) as api:
        # Given high jobs wait for a busy key, and a low job behind them
        assert flow.acquire("dev", spec, "other-worker", 60).admitted
        highs = [(time.time(), submit(api, url, "high", key)) for _ in range(3)]
        low = submit(api, url, "low", key)
        low_at = time.time()
        deferred(api, low["id"])
        # When the key frees and high jobs keep arriving faster than it serves them, for several aging periods
        flow.release("dev", spec, "other-worker", 60)
        while time.time() < low_at + 6 * AGING_S:
            highs.append((time.time(), submit(api, url, "high", key)))
            time.sleep(0.2)
        assert all(finished(api, j["id"], 180)["status"] == "completed" for _, j in highs)
        assert finished(api, low["id"])["status"] == "completed"
    seen = starts(target, group)
    # Then high jobs submitted after the low one ran before it (it was low, they were high) ...
    assert any(seen[j["id"]] < seen[low["id"]] for at, j in highs if at > low_at)
    # ... but it ran before every high job submitted two aging periods (plus a margin) after it: by then it had
    # aged to high itself and was first in line.
    late = [j for at, j in highs if at > low_at + 2 * AGING_S + 1]
    assert late, "the stream should outlast two aging periods"
    assert seen[low["id"]] < min(seen[j["id"]] for j in late), (seen[low["id"]] - low_at, len(late))
    # and it was not simply last: high jobs ran after it
    assert max(seen.values()) > seen[low["id"]]
