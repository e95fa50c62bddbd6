"""The jobs queue on SQS: the fast path that wakes a worker. DynamoDB stays the source of truth.

It is one queue per priority, its **lanes** (`shared.topology.JOBS_QUEUE.lanes`): the worker drains each
through its own event-source mapping, with a maximum concurrency weighted by priority, so that under a
backlog high jobs get the larger share of the fleet (weighted, not strict; see the README). A message
names its lane, so that its visibility is changed on the queue it came from. Without lane URLs (a
test's single queue) every lane is the one queue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from shared import aws
from shared.config import Env
from shared.errors import Unavailable
from shared.jobs.models import Priority

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_DELAY_SECONDS = 900          # SQS DelaySeconds ceiling
MAX_VISIBILITY_SECONDS = 43_200  # SQS visibility ceiling (12 h); longer waits re-arm on delivery
# SQS counts the 12 h from when the message was received, and refuses a ChangeMessageVisibility beyond
# that (AWS and moto alike). A worker asks at most one Lambda run (15 min) after receipt, so a wait longer
# than this is not asked of SQS at all: the message is acknowledged and the sweeper enqueues the job
# when it comes within 15 minutes of due (it is in the store with its next_attempt_at).
MAX_WAIT_ON_VISIBILITY_S = MAX_VISIBILITY_SECONDS - 15 * 60 - 60
# SQS counts delays in whole seconds. Delays are rounded down, so a message is never late, and a job
# may be claimed up to this much before it is due; the worker then waits out the rest itself, so that
# jittered retries keep their sub-second spread instead of landing on whole seconds together.
EARLY_CLAIM_S = 1.0


def whole_seconds(delay_s: float, ceiling: int) -> int:
    return max(0, min(ceiling, math.floor(delay_s)))


# What send_many takes: (job id, tenant, delay s) or with the lane as a fourth item.
Send = tuple[str, str, float] | tuple[str, str, float, Priority]


class JobMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    job_id: str
    tenant: str
    # The lane (queue) the message was sent to; messages from before lanes existed are on the normal one.
    lane: Priority = Priority.normal


class JobQueue:
    def __init__(self, url: str, dlq_url: str, client: SQSClient | None = None,
                 lanes: Mapping[Priority, str] | None = None) -> None:
        self.url = url  # the normal lane
        self.dlq_url = dlq_url
        self.lanes = {p: u for p, u in (lanes or {}).items() if u}
        self.sqs = client or aws.sqs()

    def lane_url(self, lane: Priority) -> str:
        return self.lanes.get(lane, self.url) if lane is not Priority.normal else self.url

    def send(self, job_id: str, tenant: str, delay_s: float = 0, priority: Priority = Priority.normal) -> None:
        body = JobMessage(job_id=job_id, tenant=tenant, lane=priority).model_dump_json()
        delay = whole_seconds(delay_s, MAX_DELAY_SECONDS)
        try:
            self.sqs.send_message(QueueUrl=self.lane_url(priority), MessageBody=body, DelaySeconds=delay)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the jobs queue is unavailable: {type(exc).__name__}") from exc

    def send_many(self, jobs: Sequence[Send], priority: Priority = Priority.normal) -> None:
        """Enqueue (job id, tenant, delay[, lane]) tuples, each on its lane (default: `priority`'s), ten a
        call (SQS's batch limit). Raises Unavailable when any could not be sent; the rest are sent regardless."""
        lanes: dict[Priority, list[tuple[str, str, float]]] = {}
        for job in jobs:
            lanes.setdefault(job[3] if len(job) > 3 else priority, []).append((job[0], job[1], job[2]))
        failed = 0
        for lane, batch in lanes.items():
            for start in range(0, len(batch), 10):
                entries = [{"Id": str(i), "MessageBody": JobMessage(job_id=j, tenant=t, lane=lane).model_dump_json(),
                            "DelaySeconds": whole_seconds(d, MAX_DELAY_SECONDS)}
                           for i, (j, t, d) in enumerate(batch[start:start + 10])]
                try:
                    out = self.sqs.send_message_batch(QueueUrl=self.lane_url(lane),
                                                      Entries=entries)  # type: ignore[arg-type]
                    failed += len(out.get("Failed", []))
                except (ClientError, BotoCoreError):
                    failed += len(entries)
        if failed:
            raise Unavailable(f"{failed} of {len(jobs)} jobs could not be enqueued")

    def retry_in(self, receipt_handle: str, seconds: float, lane: Priority = Priority.normal) -> None:
        """Hide a delivered message (of `lane`'s queue) for `seconds` (the retry delay, or a lease's rest)."""
        timeout = whole_seconds(seconds, MAX_VISIBILITY_SECONDS)
        self.sqs.change_message_visibility(QueueUrl=self.lane_url(lane), ReceiptHandle=receipt_handle,
                                           VisibilityTimeout=timeout)

    def drain_dead_letters(self, tenant: str, job_ids: set[str], max_rounds: int = 100) -> int:
        """Delete the DLQ messages of `job_ids` (jobs just redriven or retried), so that the queue, and its
        "DLQ not empty" alarm, hold only what is still dead. Other messages are put back at once. Reads at
        most `max_rounds` batches of 10; what it misses is only a message left behind, never a lost job."""
        deleted = 0
        left = set(job_ids)
        # Others' messages stay hidden until the drain ends, so that each round reads new ones instead of
        # the same first ten again (a busy DLQ hid the redriven jobs' messages behind them).
        others: list[str] = []
        try:
            for _ in range(max_rounds):
                if not left:
                    break
                got = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                               WaitTimeSeconds=0).get("Messages", [])
                if not got:
                    break
                for m in got:
                    try:
                        msg: JobMessage | None = JobMessage.model_validate_json(m["Body"])
                    except ValueError:
                        msg = None
                    if msg is not None and msg.tenant == tenant and msg.job_id in job_ids:
                        self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])
                        left.discard(msg.job_id)
                        deleted += 1
                    else:
                        others.append(m["ReceiptHandle"])
            for handle in others:
                self.sqs.change_message_visibility(QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the dead-letter queue is unavailable: {type(exc).__name__}") from exc
        return deleted

    def dead_letter(self, body: str, reason: str) -> None:
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=body, MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]}})


def jobs_queue(e: Env, client: SQSClient | None = None) -> JobQueue:
    """The jobs queue and its lanes as a function's environment names them."""
    return JobQueue(e.jobs_queue_url, e.jobs_dlq_url, client,
                    {Priority.high: e.jobs_high_queue_url, Priority.low: e.jobs_low_queue_url})
