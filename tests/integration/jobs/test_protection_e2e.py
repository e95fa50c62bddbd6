"""Target protection and callbacks end to end on the local cloud, through the public API: callbacks reach
a receiver with the final job JSON (on completion, on failure, again after a manual retry); flow control
with parallelism 1 never lets two calls of one key overlap at the target; and, on a stack of its own
with a small breaker, a job whose destination's breaker is open waits (pending, no attempt) and
completes after the cool-down."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.launch import start_stack, stop_stack
from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
TERMINAL = {"completed", "failed", "dead", "cancelled"}
COOLDOWN_S = 6


def submit(api: httpx.Client, url: str, **spec: Any) -> dict[str, Any]:
    r = api.post("/v1/jobs", json={"request": {"url": url}, **spec})
    assert r.status_code == 202, r.text
    return dict(r.json())


def finished(api: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    return dict(wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] in TERMINAL, timeout_s))


def received(stack: StackState, job_id: str, n: int = 1, timeout_s: float = 60) -> list[dict[str, Any]]:
    got = wait_for(lambda: httpx.get(f"{stack.demo_target_url}/_callbacks", params={"job": job_id}).json()["callbacks"],
                   lambda cbs: len(cbs) >= n, timeout_s)
    return list(got)


def same_job(posted: dict[str, Any], read: dict[str, Any]) -> None:
    """The callback body is the job as the API shows it (times compared as instants)."""
    assert posted.keys() == read.keys()
    for key, value in read.items():
        if key.endswith("_at") and value is not None:
            assert datetime.fromisoformat(posted[key]) == datetime.fromisoformat(value), key
        else:
            assert posted[key] == value, key


# -- callbacks (the session's stack) -----------------------------------------------------------------
def test_callback_posts_the_final_job_on_completion(api: httpx.Client, stack: StackState) -> None:
    job = submit(api, f"{stack.demo_target_url}/slow?ms=1", callback_url=f"{stack.demo_target_url}/callback",
                 failure_callback_url=f"{stack.demo_target_url}/status/500")
    done = finished(api, job["id"])
    assert done["status"] == "completed"
    [cb] = received(stack, job["id"])
    assert cb["headers"]["content-type"] == "application/json"
    same_job(cb["body"], done)
    # The callback is a job of the tenant's own, labelled with its parent, completed
    cb_job = finished(api, f"{job['id']}_cb0")
    assert cb_job["status"] == "completed" and cb_job["labels"] == {"callback_for": job["id"],
                                                                   "callback_status": "completed"}
    assert cb_job["callback_url"] is None and cb_job["failure_callback_url"] is None


@pytest.mark.parametrize(("path", "retry", "status"), [
    ("/status/500", {"max_attempts": 2, "base_delay_s": 0.1}, "dead"),
    ("/status/404", {}, "failed"),
])
def test_failure_callback_on_dead_and_failed(api: httpx.Client, stack: StackState, path: str,
                                             retry: dict[str, Any], status: str) -> None:
    job = submit(api, f"{stack.demo_target_url}{path}", retry=retry,
                 callback_url=f"{stack.demo_target_url}/status/500",
                 failure_callback_url=f"{stack.demo_target_url}/callback")
    done = finished(api, job["id"])
    assert done["status"] == status
    [cb] = received(stack, job["id"])
    same_job(cb["body"], done)


def test_a_manual_retry_calls_back_again_for_its_new_ending(api: httpx.Client, stack: StackState) -> None:
    job = submit(api, f"{stack.demo_target_url}/status/410", failure_callback_url=f"{stack.demo_target_url}/callback")
    assert finished(api, job["id"])["status"] == "failed"
    received(stack, job["id"], 1)
    assert api.post(f"/v1/jobs/{job['id']}/retry").status_code == 200
    again = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(),
                     lambda j: j["status"] == "failed" and j["attempts"] == 2, 60)
    cbs = received(stack, job["id"], 2)
    assert [c["body"]["attempts"] for c in cbs] == [1, 2]
    same_job(cbs[1]["body"], again)


# -- flow control (the session's stack) --------------------------------------------------------------
def test_flow_control_parallelism_one_never_overlaps_calls(api: httpx.Client, stack: StackState) -> None:
    key, group = f"acct-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    url = f"{stack.demo_target_url}/overlap?ms=400&group={group}"
    jobs = [submit(api, url, flow_control={"key": key, "parallelism": 1}) for _ in range(4)]
    assert all(finished(api, j["id"], 90)["status"] == "completed" for j in jobs)
    stats = httpx.get(f"{stack.demo_target_url}/_overlap", params={"group": group}).json()
    assert stats["max_in_flight"] == 1
    spans = sorted((c["start"], c["end"]) for c in stats["calls"])
    assert len(spans) == 4
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))
    # no attempt was spent on waiting
    assert all(api.get(f"/v1/jobs/{j['id']}").json()["attempts"] == 1 for j in jobs)


def test_without_flow_control_the_same_jobs_do_overlap(api: httpx.Client, stack: StackState) -> None:
    # The control for the test above: the target and the worker do run such jobs at once.
    group = uuid.uuid4().hex
    jobs = [submit(api, f"{stack.demo_target_url}/overlap?ms=2000&group={group}") for _ in range(4)]
    assert all(finished(api, j["id"], 60)["status"] == "completed" for j in jobs)
    assert httpx.get(f"{stack.demo_target_url}/_overlap", params={"group": group}).json()["max_in_flight"] >= 2


# -- the circuit breaker (a stack of its own: a small breaker, its own demo-target origin) --------------
@pytest.fixture(scope="module")
def breaker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("breaker-stack")
    proc, state = start_stack(home, {
        "STEADFAST_BREAKER_MIN_CALLS": "3", "STEADFAST_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
        "STEADFAST_BREAKER_WINDOW_S": "30", "STEADFAST_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
        "STEADFAST_VISIBILITY_S": "20", "STEADFAST_LEASE_S": "15"})
    try:
        yield state
    finally:
        stop_stack(proc)


def test_open_breaker_delays_the_job_until_the_cool_down_ends(breaker_stack: StackState) -> None:
    target = breaker_stack.demo_target_url
    with httpx.Client(base_url=breaker_stack.api_url, timeout=30,
                      headers={"authorization": f"Bearer {breaker_stack.dev_api_key}"}) as api:
        # Given three calls to the destination failed (min_calls 3, 100 % failures): the breaker opens
        failing = [submit(api, f"{target}/status/503", retry={"max_attempts": 1}) for _ in range(3)]
        assert all(finished(api, j["id"])["status"] == "dead" for j in failing)
        last_failure = max(httpx.get(f"{target}/_calls", params={"key": j["id"]}).json()["calls"][0]["t"]
                           for j in failing)
        # When a job for another path of the same origin is submitted
        job = submit(api, f"{target}/slow?ms=1")
        # Then it waits: pending, no attempt, next attempt after the cool-down
        waiting = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(),
                           lambda j: (j["status"] == "pending" and j["updated_at"] != j["created_at"])
                           or j["status"] in TERMINAL, 10, 0.1)
        assert waiting["status"] == "pending" and waiting["attempts"] == 0
        assert waiting["next_attempt_at"] > waiting["created_at"]
        # And it completes once the cool-down is over, in one attempt: the half-open probe
        done = finished(api, job["id"], 60)
        assert done["status"] == "completed" and done["attempts"] == 1
        [call] = httpx.get(f"{target}/_calls", params={"key": job["id"]}).json()["calls"]
        assert call["t"] >= last_failure + COOLDOWN_S - 0.5
    log = (Path(breaker_stack.home) / "logs" / "worker.log").read_text()
    assert "circuit breaker opened" in log and "job deferred by target protection" in log
    assert "circuit breaker closed after a successful probe" in log
