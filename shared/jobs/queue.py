"""The jobs queue on SQS: the fast path that wakes a worker. DynamoDB stays the source of truth."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from shared import aws
from shared.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_DELAY_SECONDS = 900          # SQS DelaySeconds ceiling
MAX_VISIBILITY_SECONDS = 43_200  # SQS visibility ceiling (12 h); longer waits re-arm on delivery
# SQS counts delays in whole seconds. Delays are rounded down, so a message is never late, and a job
# may be claimed up to this much before it is due; the worker then waits out the rest itself, so that
# jittered retries keep their sub-second spread instead of landing on whole seconds together.
EARLY_CLAIM_S = 1.0


def whole_seconds(delay_s: float, ceiling: int) -> int:
    return max(0, min(ceiling, math.floor(delay_s)))


class JobMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    job_id: str
    tenant: str


class JobQueue:
    def __init__(self, url: str, dlq_url: str, client: SQSClient | None = None) -> None:
        self.url = url
        self.dlq_url = dlq_url
        self.sqs = client or aws.sqs()

    def send(self, job_id: str, tenant: str, delay_s: float = 0) -> None:
        body = JobMessage(job_id=job_id, tenant=tenant).model_dump_json()
        delay = whole_seconds(delay_s, MAX_DELAY_SECONDS)
        try:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=delay)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the jobs queue is unavailable: {type(exc).__name__}") from exc

    def retry_in(self, receipt_handle: str, seconds: float) -> None:
        """Hide a delivered message for `seconds` (the retry delay, or the rest of a lease)."""
        timeout = whole_seconds(seconds, MAX_VISIBILITY_SECONDS)
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt_handle,
                                           VisibilityTimeout=timeout)

    def dead_letter(self, body: str, reason: str) -> None:
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=body, MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]}})
