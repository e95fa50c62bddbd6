"""Callbacks as jobs of the engine, in process (moto's mock_aws, real Redis): the callback job is written in
the transaction that records the terminal state, enqueued after, delivered as a POST of the final job
JSON; exactly once per run (duplicates and pre-existing callbacks create no second one); a crash before
the enqueue is healed by the sweeper; a retried job owes a new callback for its new ending."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.jobs.callbacks import Callbacks, callback_id, callback_job
from shared.jobs.models import Attempt, Outcome, Status, utcnow
from shared.jobs.sweeper import Sweeper
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"
HOOK = "http://hooks.test/callback"
FAIL_HOOK = "http://hooks.test/failed"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


async def test_completion_writes_enqueues_and_delivers_the_callback(w: World) -> None:
    job = w.submit(f"{URL}/hook", callback_url=HOOK, failure_callback_url=FAIL_HOOK,
                   request={"url": f"{URL}/hook", "headers": {"Authorization": "Bearer target-secret"}})
    worker = w.worker()
    # When the job completes
    await w.pump(worker)
    done = w.store.get_record(job.id)
    assert done is not None and done.status == Status.completed
    # Then its callback job exists, pending, due now, and its message is queued
    cb = w.store.get_record(callback_id(job.id, 0))
    assert cb is not None and cb.status == Status.pending and cb.tenant == TENANT
    assert cb.spec.labels == {"callback_for": job.id, "callback_status": "completed"}
    assert cb.spec.callback_url is None and cb.spec.failure_callback_url is None
    assert w.queued_job_ids() == [cb.id]
    # When the worker runs it: a POST of the final job JSON, credentials redacted, to callback_url only
    await w.pump(worker)
    [call] = w.target.to("/callback")
    assert call.method == "POST" and call.headers["content-type"] == "application/json"
    body = json.loads(call.content)
    expected = done.public().model_dump(mode="json")
    expected["request"]["headers"] = {"Authorization": "[redacted]"}
    assert body == expected
    assert call.headers["idempotency-key"] == cb.id
    assert w.target.to("/failed") == []
    # And a callback job owes no callback of its own
    assert w.store.get_record(cb.id).status == Status.completed  # type: ignore[union-attr]
    assert w.store.get_record(callback_id(cb.id, 0)) is None
    assert w.queued_job_ids() == []


@pytest.mark.parametrize(("path", "retry", "status"), [
    ("/status/404", {}, Status.failed),
    ("/status/503", {"max_attempts": 1}, Status.dead),
])
async def test_failed_and_dead_jobs_call_the_failure_callback(w: World, path: str, retry: dict[str, int],
                                                              status: Status) -> None:
    job = w.submit(f"{URL}{path}", retry=retry, callback_url=HOOK, failure_callback_url=FAIL_HOOK)
    worker = w.worker()
    await w.pump(worker)
    assert w.store.get_record(job.id).status == status  # type: ignore[union-attr]
    await w.pump(worker)
    [call] = w.target.to("/failed")
    assert json.loads(call.content)["status"] == status.value
    assert w.target.to("/callback") == []


async def test_cancelled_jobs_and_jobs_without_urls_owe_no_callback(w: World) -> None:
    plain = w.submit(f"{URL}/hook")
    later = w.submit(f"{URL}/hook", delay_s=600, callback_url=HOOK, failure_callback_url=FAIL_HOOK)
    w.service.cancel(TENANT, later.id)
    await w.pump(w.worker())
    assert w.store.get_record(callback_id(plain.id, 0)) is None
    assert w.store.get_record(callback_id(later.id, 0)) is None


async def test_a_duplicate_delivery_creates_no_second_callback(w: World) -> None:
    job = w.submit(f"{URL}/hook", callback_url=HOOK)
    w.queue.send(job.id, TENANT)  # the same job twice in the queue
    await w.pump(w.worker())
    assert sorted(w.queued_job_ids()) == [callback_id(job.id, 0)]


def test_a_callback_that_exists_already_does_not_block_the_terminal_write(w: World) -> None:
    # Given this run's callback exists (e.g. written by an earlier, interrupted recording)
    job = w.submit(f"{URL}/hook", callback_url=HOOK)
    now = utcnow()
    claimed = w.store.claim(job.id, TENANT, now, timedelta(seconds=30), "w1")
    assert claimed is not None
    done = claimed.finished(Status.completed, now, None, None)
    first = callback_job(done)
    assert first is not None
    w.store.create(first.model_copy(update={"spec": first.spec.model_copy(update={"labels": {"mark": "original"}})}))
    # When the worker records the terminal state, the state is written and the callback left as it was
    attempt = Attempt(n=1, target_index=0, started_at=now, duration_ms=1, outcome=Outcome.success, status_code=200)
    assert w.store.finish_attempt(done, attempt, "w1", Callbacks().owed)
    assert w.store.get_record(job.id).status == Status.completed  # type: ignore[union-attr]
    assert w.store.get_record(first.id).spec.labels == {"mark": "original"}  # type: ignore[union-attr]


def test_the_sweeper_enqueues_a_callback_whose_worker_died_before_sending(w: World) -> None:
    # Given a worker recorded the terminal state (and so the callback job) and died before the send
    job = w.submit(f"{URL}/hook", failure_callback_url=FAIL_HOOK)
    w.messages(visibility=600)  # the job's own message is in flight elsewhere
    now = utcnow()
    claimed = w.store.claim(job.id, TENANT, now, timedelta(seconds=30), "w1")
    assert claimed is not None
    dead = claimed.finished(Status.dead, now, "HTTP 503", None)
    attempt = Attempt(n=1, target_index=0, started_at=now, duration_ms=1, outcome=Outcome.retryable, status_code=503)
    assert w.store.finish_attempt(dead, attempt, "w1", Callbacks().owed)
    assert w.queued_job_ids() == []
    # When the sweeper runs past its grace, the callback job is sent
    counts = Sweeper(w.store, w.queue).sweep(now + timedelta(minutes=2))
    assert counts["overdue"] == 1
    assert w.queued_job_ids() == [callback_id(job.id, 0)]


def test_a_crash_looped_job_dead_lettered_by_the_sweeper_owes_its_failure_callback(w: World) -> None:
    job = w.submit(f"{URL}/hook", retry={"max_attempts": 1}, failure_callback_url=FAIL_HOOK)
    start = utcnow()
    for i in range(5):  # claimed again and again, never recorded: the worker dies on it
        assert w.store.claim(job.id, TENANT, start + timedelta(seconds=i * 60), timedelta(seconds=30), f"w{i}")
    Sweeper(w.store, w.queue).sweep(start + timedelta(minutes=10))
    assert w.store.get_record(job.id).status == Status.dead  # type: ignore[union-attr]
    cb = w.store.get_record(callback_id(job.id, 0))
    assert cb is not None and json.loads(cb.spec.request.body or "{}")["status"] == "dead"


async def test_a_retried_job_calls_back_again_for_its_new_ending(w: World) -> None:
    job = w.submit(f"{URL}/status/410", failure_callback_url=FAIL_HOOK)
    worker = w.worker()
    await w.pump(worker)
    await w.pump(worker)
    # When the failed job is retried by hand (a new run) and fails again
    restarted = w.service.restart(TENANT, job.id)
    assert restarted.run == 1
    await w.pump(worker)
    await w.pump(worker)
    # Then each run's ending was called back once: two callbacks, one per run, with the attempts so far
    bodies = [json.loads(c.content) for c in w.target.to("/failed")]
    assert [(b["status"], b["attempts"]) for b in bodies] == [("failed", 1), ("failed", 2)]
    assert w.store.get_record(callback_id(job.id, 1)) is not None


def test_callback_ids_are_deterministic_and_valid_job_ids() -> None:
    parent = f"job_{secrets.token_hex(16)}"
    assert callback_id(parent, 0) == f"{parent}_cb0" != callback_id(parent, 1)
    assert callback_id(parent, 12).startswith("job_") and len(callback_id(parent, 12)) <= 64
