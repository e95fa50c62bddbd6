"""The heartbeat hook in the worker's own loop (moto in process, a mock target that takes its time): a long
call keeps renewing a 2 s lease in DynamoDB and stays the one holder, a short call gets no heartbeat, and
the worker that takes over a job whose holder died mid-call records that call as an abandoned attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from shared.jobs.engine import Worker
from shared.jobs.heartbeat import Heartbeat
from shared.jobs.models import utcnow
from shared.jobs.record import JobRecord
from tests.integration.jobs.harness import World, world

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=2)


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def beating_worker(w: World) -> Worker:
    return Worker(w.store, w.queue, w.tenants, lease=LEASE, hooks=(Heartbeat(w.store, w.queue),))


def item(w: World, job_id: str) -> dict[str, str]:
    raw = w.store.db.get_item(TableName=w.store.table, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
                              ConsistentRead=True)["Item"]
    return {k: str(next(iter(v.values()))) for k, v in raw.items()}


async def test_a_long_call_renews_its_short_lease_until_it_ends(w: World) -> None:
    leases: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        for _ in range(5):  # 5 s: two and a half leases
            await asyncio.sleep(1)
            leases.append(await asyncio.to_thread(lambda: item(w, job.id)["lease_until"]))
        return httpx.Response(200, json={"ok": True})

    job = w.submit("https://target.test/slow", request={"url": "https://target.test/slow", "timeout_s": 60})
    (m,) = w.messages(visibility=30)
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        disposition = await beating_worker(w).handle(m["Body"], m["ReceiptHandle"], 1, client)
    assert disposition.ack
    done = w.store.get_record(job.id)
    assert done is not None and done.status.value == "completed" and done.attempts == 1
    # The lease moved forward during the call (a beat every 2/3 s), and never ran out before it ended
    assert len(set(leases)) >= 3 and leases == sorted(leases)
    assert "call_attempt" not in item(w, job.id)  # the call's note ends with it


async def test_a_short_call_gets_no_heartbeat(w: World) -> None:
    job = w.submit("https://target.test/ok")  # timeout 10 s: not beaten for under a 60 s lease
    (m,) = w.messages(visibility=30)
    worker = Worker(w.store, w.queue, w.tenants, lease=timedelta(seconds=60), hooks=(Heartbeat(w.store, w.queue),))
    async with httpx.AsyncClient(transport=httpx.MockTransport(w.target)) as client:
        assert (await worker.handle(m["Body"], m["ReceiptHandle"], 1, client)).ack
    assert "heartbeat_at" not in item(w, job.id) and w.store.get_record(job.id).attempts == 1  # type: ignore[union-attr]


async def test_the_next_holder_records_the_call_a_dead_worker_was_in(w: World) -> None:
    # Given a job claimed by a worker that noted its call with one heartbeat, then died (its lease ran out)
    job = w.submit("https://target.test/ok", request={"url": "https://target.test/ok", "timeout_s": 600})
    claimed = w.store.claim(job.id, job.tenant, utcnow(), LEASE, "dead-worker")
    assert claimed is not None
    started = utcnow() - timedelta(seconds=40)  # its last beat, 30 s into the call, left a lease that ran out
    assert w.store.renew_lease(job.id, "dead-worker", started + timedelta(seconds=30), LEASE, 1, started)
    # When another worker gets the message
    (m,) = w.messages(visibility=30)
    async with httpx.AsyncClient(transport=httpx.MockTransport(w.target)) as client:
        assert (await beating_worker(w).handle(m["Body"], m["ReceiptHandle"], 2, client)).ack
    # Then the history shows the abandoned call, then the call that completed the job
    done = w.store.get_record(job.id)
    assert done is not None and done.status.value == "completed" and done.attempts == 2
    first, second = w.store.attempts(job.tenant, job.id)
    assert (first.n, first.outcome.value, first.status_code) == (1, "retryable", None)
    assert first.error is not None and "abandoned" in first.error and "outcome is unknown" in first.error
    assert abs((first.started_at - started).total_seconds()) < 0.01
    assert 29_900 <= first.duration_ms <= 30_100
    assert (second.n, second.outcome.value, second.status_code) == (2, "success", 200)
    assert len(w.target.calls) == 1  # the target saw only the second call here (the first one "died")


def test_a_lost_lease_stops_the_renewals(w: World) -> None:
    job: JobRecord = w.submit("https://target.test/ok")
    now = utcnow()
    assert w.store.claim(job.id, job.tenant, now, LEASE, "a") is not None
    assert w.store.renew_lease(job.id, "a", now, LEASE, 1, now)
    time.sleep(0.01)
    assert not w.store.renew_lease(job.id, "b", now, LEASE, 1, now)  # not b's lease
