"""An in-process world for driving the worker's logic one message at a time: moto's `mock_aws` (tables
and queues as the topology declares them), the machine's real Redis under a unique key prefix, and an
httpx.MockTransport target that records every call. The event-source mapping is played by `pump`."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import redis
from moto import mock_aws

from local.resources import _create_table
from shared.jobs.engine import Disposition, Worker
from shared.jobs.models import JobSpec
from shared.jobs.protection import Protection
from shared.jobs.queue import JobMessage, JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.tenants import TenantStore
from shared.topology import table

REDIS_URL = os.environ.get("STEADFAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AWS_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
TENANT = "t1"
Answer = Callable[[httpx.Request], httpx.Response]


@dataclass
class Target:
    """Answers by path (`/status/503` → 503, anything else 200) unless `answer` says otherwise."""

    answer: Answer | None = None
    calls: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.answer is not None:
            return self.answer(request)
        parts = request.url.path.strip("/").split("/")
        if parts[0] == "status" and len(parts) > 1:
            return httpx.Response(int(parts[1]), json={"status": int(parts[1])})
        return httpx.Response(200, json={"ok": True})

    def to(self, path: str) -> list[httpx.Request]:
        return [c for c in self.calls if c.url.path == path]


@dataclass
class World:
    store: JobStore
    queue: JobQueue
    tenants: TenantStore
    service: JobService
    sqs: Any
    redis: redis.Redis
    prefix: str
    target: Target = field(default_factory=Target)

    def worker(self, protection: Protection | None = None) -> Worker:
        return Worker(self.store, self.queue, self.tenants, protection=protection or Protection())

    def submit(self, url: str, **spec: Any) -> JobRecord:
        return self.service.submit(TENANT, JobSpec.model_validate({"request": {"url": url}, **spec})).job

    def messages(self, url: str | None = None, visibility: int = 0) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(QueueUrl=url or self.queue.url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=visibility, AttributeNames=["All"])
        return list(out.get("Messages", []))

    def queued_job_ids(self) -> list[str]:
        return [JobMessage.model_validate_json(m["Body"]).job_id for m in self.messages()]

    async def pump(self, worker: Worker) -> list[tuple[str, Disposition]]:
        """One receive of visible messages, each handled like the event-source mapping would."""
        out = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(self.target)) as client:
            for m in self.messages(visibility=30):
                receives = int(m["Attributes"].get("ApproximateReceiveCount", "1"))
                disposition = await worker.handle(m["Body"], m["ReceiptHandle"], receives, client)
                if disposition.ack:
                    self.sqs.delete_message(QueueUrl=self.queue.url, ReceiptHandle=m["ReceiptHandle"])
                out.append((json.loads(m["Body"]).get("job_id", "?"), disposition))
        return out


@contextmanager
def world() -> Iterator[World]:
    # In process, every AWS call goes to moto's mock, also in `make test-localstack` (whose
    # AWS_ENDPOINT_URL_SQS points the whole stack's SQS at LocalStack): the world is its own.
    endpoints = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB"]
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, *endpoints]}
    os.environ.update(AWS_ENV)
    for k in endpoints:
        os.environ.pop(k, None)
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    try:
        with mock_aws():
            db, sqs = boto3.client("dynamodb"), boto3.client("sqs")
            for name in ("jobs", "tenants"):
                _create_table(db, table(name))
            dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
            url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
            store, queue = JobStore(table("jobs").name, db), JobQueue(url, dlq, sqs)
            yield World(store, queue, TenantStore(table("tenants").name, db),
                        JobService(store, queue, allow_private_targets=True), sqs, client, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
