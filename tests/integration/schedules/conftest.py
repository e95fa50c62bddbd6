"""Fixtures of the schedule tests: an isolated schedule table, job table and queue on the local stack's
moto server over HTTP (the stack's own scheduler, worker and sweeper never see them), and services on
them with a clock the test sets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from local.resources import _create_table
from local.stack import StackState
from shared.jobs.models import JobSpec, Status
from shared.jobs.queue import JobMessage, JobQueue
from shared.jobs.record import JobRecord, from_attributes
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.schedules.models import ScheduleSpec
from shared.schedules.record import ScheduleRecord
from shared.schedules.scheduler import Scheduler
from shared.schedules.service import ScheduleService
from shared.schedules.store import ScheduleStore
from shared.topology import table

TENANT = "t-sched"


@dataclasses.dataclass
class World:
    db: Any
    sqs: Any
    store: ScheduleStore
    jobs: JobStore
    queue: JobQueue
    service: ScheduleService

    def scheduler(self, now: datetime) -> Scheduler:
        return Scheduler(self.store, self.queue, clock=lambda: now)

    def create(self, cron: str, now: datetime, tz: str = "UTC", **fields: Any) -> ScheduleRecord:
        spec = ScheduleSpec.model_validate({"cron": cron, "timezone": tz,
                                            "job": {"request": {"url": "https://example.com/hook"}}, **fields})
        return self.service.create(TENANT, spec, now=now)

    def jobs_of(self, schedule_id: str) -> list[JobRecord]:
        """Every job in this world's table created by the schedule (a full scan: the table is ours)."""
        out, kwargs = [], {"TableName": self.jobs.table}
        while True:
            page = self.db.scan(**kwargs)
            for item in page.get("Items", []):
                if item.get("sk", {}).get("S") == "JOB":
                    record = from_attributes(boto3.dynamodb.types.TypeDeserializer().deserialize({"M": item}))
                    if record.spec.labels.get("schedule_id") == schedule_id:
                        out.append(record)
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def enqueued(self) -> list[str]:
        ids: list[str] = []
        while True:
            out = self.sqs.receive_message(QueueUrl=self.queue.url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = out.get("Messages", [])
            if not messages:
                return ids
            ids += [JobMessage.model_validate_json(m["Body"]).job_id for m in messages]

    def finish(self, job: JobRecord, status: Status) -> None:
        self.jobs.transition(job.model_copy(update={"status": status, "next_attempt_at": None}), {job.status},
                             what="finish")


@pytest.fixture
def world(stack: StackState) -> Iterator[World]:
    kw = {"endpoint_url": stack.aws_endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    db, sqs = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
    name = f"sched-{uuid.uuid4().hex[:8]}"
    _create_table(db, dataclasses.replace(table("schedules"), name=f"{name}-schedules"))
    _create_table(db, dataclasses.replace(table("jobs"), name=f"{name}-jobs"))
    urls = [sqs.create_queue(QueueName=n)["QueueUrl"] for n in (name, f"{name}-dlq")]
    store = ScheduleStore(f"{name}-schedules", f"{name}-jobs", db)
    jobs = JobStore(f"{name}-jobs", db)
    queue = JobQueue(urls[0], urls[1], sqs)
    yield World(db, sqs, store, jobs, queue, ScheduleService(store, JobService(jobs, queue)))
    for url in urls:
        sqs.delete_queue(QueueUrl=url)
    for t in (f"{name}-schedules", f"{name}-jobs"):
        db.delete_table(TableName=t)


def spec(url: str = "https://example.com/hook") -> JobSpec:
    return JobSpec.model_validate({"request": {"url": url}})
