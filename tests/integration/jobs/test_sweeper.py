"""The sweeper heals what SQS alone cannot, from the due-time index: jobs written but never enqueued,
expired leases, crash loops and waits longer than SQS can hold. Against the local stack's moto server
over HTTP, on a table and queues of this test's own (so the stack's own sweeper and worker never touch
them), plus one end-to-end case through the running stack."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from local.resources import _create_table
from local.stack import StackState
from shared.jobs.models import JobSpec, Status, utcnow
from shared.jobs.queue import JobMessage, JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.service import new_job_id
from shared.jobs.store import JobStore
from shared.jobs.sweeper import EXTRA_CLAIMS, Sweeper
from shared.topology import table
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=30)


@dataclasses.dataclass
class Isolated:
    store: JobStore
    queue: JobQueue
    sqs: Any

    def messages(self, url: str) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       AttributeNames=["All"], MessageAttributeNames=["All"])
        return list(out.get("Messages", []))

    def delayed(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue.url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessagesDelayed"])

    def job_ids(self, url: str) -> list[str]:
        return [JobMessage.model_validate_json(m["Body"]).job_id for m in self.messages(url)]


@pytest.fixture
def iso(stack: StackState) -> Iterator[Isolated]:
    db, sqs = stack.aws_client("dynamodb"), stack.aws_client("sqs")
    name = f"sweeper-{uuid.uuid4().hex[:8]}"
    _create_table(db, dataclasses.replace(table("jobs"), name=name))
    urls = [sqs.create_queue(QueueName=n)["QueueUrl"] for n in (name, f"{name}-dlq")]
    queue = JobQueue(urls[0], urls[1], sqs)
    yield Isolated(JobStore(name, db), queue, sqs)
    db.delete_table(TableName=name)


def write(store: JobStore, delay_s: float = 0, max_attempts: int = 3) -> JobRecord:
    now = utcnow()
    spec = JobSpec.model_validate({"request": {"url": "https://example.com/hook"}, "delay_s": delay_s,
                                   "retry": {"max_attempts": max_attempts}})
    record = JobRecord(id=new_job_id(), tenant="t1", spec=spec, status=Status.pending, created_at=now,
                       updated_at=now, next_attempt_at=spec.first_attempt_at(now))
    return store.create(record).job


def test_a_job_written_but_never_enqueued_is_sent_once_overdue(iso: Isolated) -> None:
    job = write(iso.store)
    sweeper = Sweeper(iso.store, iso.queue, grace=timedelta(seconds=60))
    assert sweeper.sweep(utcnow())["overdue"] == 0  # within the grace its message may still be in flight
    assert iso.job_ids(iso.queue.url) == []
    assert sweeper.sweep(utcnow() + timedelta(seconds=61))["overdue"] == 1
    assert iso.job_ids(iso.queue.url) == [job.id]


def test_a_job_still_overdue_behind_a_backlog_is_sent_again_at_doubling_intervals(iso: Isolated) -> None:
    # Given a job overdue by 61 s, sent again by one sweep (its message lost, or a backlog ahead of it)
    job = write(iso.store)
    sweeper = Sweeper(iso.store, iso.queue, grace=timedelta(seconds=60))
    t = job.created_at + timedelta(seconds=61)
    assert sweeper.sweep(t)["overdue"] == 1
    # When later sweeps find it still unclaimed, then they add no duplicate until it has waited as long
    # again as it had been overdue (61 s), then one, then none for twice that
    assert [sweeper.sweep(t + timedelta(seconds=s))["overdue"] for s in (2, 30, 60)] == [0, 0, 0]
    assert sweeper.sweep(t + timedelta(seconds=62))["overdue"] == 1
    assert [sweeper.sweep(t + timedelta(seconds=s))["overdue"] for s in (64, 120, 180)] == [0, 0, 0]
    assert sweeper.sweep(t + timedelta(seconds=62 + 123))["overdue"] == 1
    assert iso.job_ids(iso.queue.url) == [job.id] * 3


def test_an_expired_lease_is_re_enqueued_and_a_crash_loop_is_dead_lettered(iso: Isolated) -> None:
    crashed, looping = write(iso.store), write(iso.store, max_attempts=1)
    start = utcnow()
    assert iso.store.claim(crashed.id, "t1", start, LEASE, "w1") is not None
    for i in range(1 + EXTRA_CLAIMS):  # every claim ends in a crash: no attempt is ever recorded
        assert iso.store.claim(looping.id, "t1", start + i * 2 * LEASE, LEASE, f"w{i}") is not None
    sweeper = Sweeper(iso.store, iso.queue, grace=timedelta(seconds=5))
    assert sweeper.sweep(start + timedelta(seconds=20)) == {"overdue": 0, "long_wait": 0, "expired_lease": 0,
                                                            "crash_looped": 0, "followups": 0}  # leases held
    counts = sweeper.sweep(start + 2 * (1 + EXTRA_CLAIMS) * LEASE)
    assert (counts["expired_lease"], counts["crash_looped"]) == (1, 1)
    assert iso.job_ids(iso.queue.url) == [crashed.id]
    dead = iso.store.get_record(looping.id)
    assert dead is not None and dead.status == Status.dead and "crashed" in (dead.last_error or "")
    [dlq] = iso.messages(iso.queue.dlq_url)
    assert json.loads(dlq["Body"])["job_id"] == looping.id
    assert "crashed" in dlq["MessageAttributes"]["reason"]["StringValue"]


def test_a_wait_beyond_sqs_is_enqueued_once_within_fifteen_minutes(iso: Isolated) -> None:
    job = write(iso.store, delay_s=3 * 3600)
    assert job.next_attempt_at is not None
    sweeper = Sweeper(iso.store, iso.queue)
    assert sweeper.sweep(utcnow())["long_wait"] == 0  # not yet within reach of SQS's 15-minute delay
    near = job.next_attempt_at - timedelta(minutes=10)
    assert sweeper.sweep(near)["long_wait"] == 1
    assert sweeper.sweep(near + timedelta(seconds=5))["long_wait"] == 0  # sent once, not every sweep
    assert iso.delayed() == 1  # held by SQS for the remaining ten minutes


def test_the_stacks_sweeper_delivers_a_job_whose_message_was_lost(api: httpx.Client, stack: StackState) -> None:
    store = JobStore(stack.function_env["JOBS_TABLE"], stack.aws_client("dynamodb"))
    now = utcnow() - timedelta(seconds=30)  # as if the submit process died 30 s ago, after the put
    spec = JobSpec.model_validate({"request": {"url": f"{stack.demo_target_url}/slow?ms=5"}})
    job = JobRecord(id=new_job_id(), tenant="dev", spec=spec, status=Status.pending, created_at=now, updated_at=now,
                    next_attempt_at=now)
    store.create(job)
    done = wait_for(lambda: api.get(f"/v1/jobs/{job.id}").json(), lambda j: j["status"] == "completed", 60)
    assert done["status"] == "completed" and done["attempts"] == 1
