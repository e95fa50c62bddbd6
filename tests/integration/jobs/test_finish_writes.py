"""The finish's two writes (issue 15): the attempt record is put first, then the job conditionally, with no
transaction around them. A worker that dies between them leaves a history one ahead of the job's count; the
next holder counts that attempt before its own call, so the history adds up, and a lost lease's attempt is
counted once whichever of the two holders gets there first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.jobs.engine import Worker
from shared.jobs.models import Attempt, Outcome, Status, utcnow
from shared.jobs.store import JobStore
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = pytest.mark.integration
URL = "https://target.test/ok"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


class Crash(Exception):
    """The worker's process ends here (as a Lambda timing out or killed would)."""


class DiesBeforeTheJobWrite:
    """A DynamoDB client that forwards every call, except that the worker dies at the job's write after an
    attempt: its attempt record is in, the job is not."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["Item"]["sk"]["S"] == "JOB" and "lease_owner" in kwargs.get("ConditionExpression", ""):
            raise Crash
        return self.db.put_item(**kwargs)


def history(w: World, job_id: str) -> list[int]:
    return [a.n for a in w.store.attempts(TENANT, job_id)]


async def test_a_worker_dying_between_the_attempt_and_the_job_leaves_a_history_that_adds_up(w: World) -> None:
    job = w.submit(URL)
    dying = Worker(JobStore(w.store.table, DiesBeforeTheJobWrite(w.store.db)),  # type: ignore[arg-type]
                   w.queue, w.tenants, lease=timedelta(seconds=1))
    (m,) = w.messages(visibility=30)
    async with httpx.AsyncClient(transport=httpx.MockTransport(w.target)) as client:
        with pytest.raises(Crash):
            await dying.handle(m["Body"], m["ReceiptHandle"], 1, client)
        # The attempt is recorded, the job still running on the dead worker's lease: one ahead
        stuck = w.store.get_record(job.id)
        assert stuck is not None and stuck.status is Status.running and stuck.attempts == 0
        assert history(w, job.id) == [1]
        # When the lease has run out and the message comes back, the next holder counts that attempt first
        w.store.db.update_item(TableName=w.store.table, Key={"pk": {"S": f"JOB#{job.id}"}, "sk": {"S": "JOB"}},
                               UpdateExpression="SET lease_until = :past",
                               ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00+00:00"}})
        disposition = await w.worker().handle(m["Body"], m["ReceiptHandle"], 2, client)
    assert disposition.ack
    done = w.store.get_record(job.id)
    assert done is not None and done.status is Status.completed
    assert done.attempts == 2 and history(w, job.id) == [1, 2]  # both calls, each once, counted once
    assert len(w.target.to("/ok")) == 2


def test_a_lost_lease_attempt_is_counted_once_when_the_new_holder_counted_it_first(w: World) -> None:
    job = w.submit(URL)
    now = utcnow()
    old = w.store.claim(job.id, TENANT, now, timedelta(seconds=1), "old")
    assert old is not None
    later = now + timedelta(seconds=5)
    attempt = Attempt(n=1, target_index=0, started_at=now, duration_ms=1, outcome=Outcome.success, status_code=200)
    # The old holder's attempt record lands, then the new holder claims and counts it
    w.store.db.put_item(**w.store._attempt_put(job.id, attempt))
    new = w.store.claim(job.id, TENANT, later, timedelta(seconds=30), "new")
    assert new is not None and new.claims - 1 > new.attempts
    new = w.store.note_abandoned(new, "new", later)
    assert new.attempts == 1
    # Then the old holder's job write fails on the lease, and its fallback count does not count it again
    assert w.store.finish_attempt(old.finished(Status.completed, now, None, None), attempt, "old") is None
    stored = w.store.get_record(job.id)
    assert stored is not None and stored.attempts == 1 and stored.status is Status.running
    assert history(w, job.id) == [1]


def test_a_lost_lease_attempt_counted_by_the_old_holder_first_is_not_counted_again(w: World) -> None:
    job = w.submit(URL)
    now = utcnow()
    old = w.store.claim(job.id, TENANT, now, timedelta(seconds=1), "old")
    assert old is not None
    later = now + timedelta(seconds=5)
    new = w.store.claim(job.id, TENANT, later, timedelta(seconds=30), "new")
    assert new is not None
    attempt = Attempt(n=1, target_index=0, started_at=now, duration_ms=1, outcome=Outcome.retryable, status_code=503)
    assert w.store.finish_attempt(old.attempted(now, 1, "HTTP 503", None), attempt, "old") is None
    # The new holder sees the recorded attempt, already counted: it goes on from the stored count
    reconciled = w.store.note_abandoned(new, "new", later)
    assert reconciled.attempts == 1
    stored = w.store.get_record(job.id)
    assert stored is not None and stored.attempts == 1 and history(w, job.id) == [1]


def test_a_finish_is_two_plain_writes_without_a_transaction(w: World) -> None:
    calls: list[str] = []

    class Recording:
        def __init__(self, db: Any) -> None:
            self.db = db

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(self.db, name)

    job = w.submit(URL)
    store = JobStore(w.store.table, Recording(w.store.db))  # type: ignore[arg-type]
    now = utcnow()
    claimed = store.claim(job.id, TENANT, now, timedelta(seconds=30), "w1")
    assert claimed is not None
    attempt = Attempt(n=1, target_index=0, started_at=now, duration_ms=1, outcome=Outcome.success, status_code=200)
    calls.clear()
    assert store.finish_attempt(claimed.finished(Status.completed, now, None, None), attempt, "w1") == ()
    assert calls == ["put_item", "put_item"]
    assert history(w, job.id) == [1] and w.store.get(TENANT, job.id).attempts == 1
