"""The jobs queue on SQS: the fast path that wakes a worker. DynamoDB stays the source of truth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from shared import aws
from shared.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_DELAY_SECONDS = 900          # SQS DelaySeconds ceiling
MAX_VISIBILITY_SECONDS = 43_200  # SQS visibility ceiling (12 h); longer waits re-arm on delivery


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
        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_s)))
        try:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=delay)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the jobs queue is unavailable: {type(exc).__name__}") from exc

    def retry_in(self, receipt_handle: str, seconds: float) -> None:
        """Hide a delivered message for `seconds` (the retry delay, or the rest of a lease)."""
        timeout = max(0, min(MAX_VISIBILITY_SECONDS, round(seconds)))
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt_handle,
                                           VisibilityTimeout=timeout)

    def dead_letter(self, body: str, reason: str) -> None:
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=body, MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]}})
