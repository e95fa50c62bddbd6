"""Event sources of the local cloud: an SQS event-source mapping and an EventBridge schedule loop, each
calling the deployed handler unchanged."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_context import LocalContext
from shared.topology import Function, QueueSource, Schedule

log = logging.getLogger("steadfast.local")
Handler = Callable[[dict[str, Any], Any], Any]


def sqs_event(messages: list[Any], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
        "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for m in messages]}


def run_queue_source(fn: Function, handler: Handler, queue_url: str, stop: Callable[[], bool] = lambda: False) -> None:
    """Poll like Lambda's event-source mapping: long-poll a batch, invoke, delete what did not fail."""
    assert isinstance(fn.trigger, QueueSource)
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while not stop():
        try:
            out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=fn.trigger.batch_size,
                                      WaitTimeSeconds=1, AttributeNames=["All"])
        except (ClientError, BotoCoreError) as exc:
            log.warning("receive failed: %s", exc)
            time.sleep(1)
            continue
        messages = out.get("Messages", [])
        if not messages:
            continue
        try:
            result = handler(sqs_event(messages, arn), LocalContext(fn.name, fn.timeout_s, fn.memory_mb))
        except Exception:
            # As in Lambda: a failed invocation deletes nothing; the batch reappears after its visibility.
            log.exception("invocation of %s failed", fn.name)
            continue
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])


def scheduled_event(fn: Function) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1", "resources": [f"arn:aws:events:us-east-1:000000000000:rule/steadfast-{fn.name}"],
            "detail": {}}


def run_schedule(fn: Function, handler: Handler, rate_s: float, stop: Callable[[], bool] = lambda: False) -> None:
    assert isinstance(fn.trigger, Schedule)
    while not stop():
        started = time.monotonic()
        try:
            handler(scheduled_event(fn), LocalContext(fn.name, fn.timeout_s, fn.memory_mb))
        except Exception:
            log.exception("scheduled invocation of %s failed", fn.name)
        time.sleep(max(0.0, rate_s - (time.monotonic() - started)))
