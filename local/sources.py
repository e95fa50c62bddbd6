"""Event sources of the local cloud: SQS event-source mappings (one per priority lane, taking turns by weight)
and an EventBridge schedule loop, each calling the deployed handler unchanged."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_context import LocalContext
from shared.topology import Function, Queue, QueueSource, Schedule

log = logging.getLogger("steadfast.local")
Handler = Callable[[dict[str, Any], Any], Any]


def sqs_event(messages: list[Any], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
        "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for m in messages]}


@dataclass
class LaneSource:
    """One lane of a queue source: its queue, its weight, and the one batch received ahead (if any)."""

    name: str
    url: str
    weight: int
    arn: str = ""
    batch: list[Any] = field(default_factory=list)
    credit: int = 0


def pick(lanes: list[LaneSource]) -> LaneSource | None:
    """The next lane to serve among those holding a batch: smooth weighted round-robin (as nginx balances
    upstreams), so that with every lane busy each gets its weight's share of invocations, and an idle lane's
    turn goes to the others. (In AWS each lane's event-source mapping is capped at its share instead.)"""
    ready = [lane for lane in lanes if lane.batch]
    if not ready:
        return None
    for lane in ready:
        lane.credit += lane.weight
    chosen = max(ready, key=lambda lane: lane.credit)
    chosen.credit -= sum(lane.weight for lane in ready)
    return chosen


def run_queue_source(fn: Function, handler: Handler, lanes: list[LaneSource],
                     stop: Callable[[], bool] = lambda: False) -> None:
    """Poll like Lambda's event-source mappings, one per lane: long-poll a batch, invoke, delete what did not
    fail. Each lane has a receiver thread that holds at most one batch ahead; invocations run one at a time
    (one execution environment), the lanes taking turns by weight."""
    assert isinstance(fn.trigger, QueueSource)
    trigger = fn.trigger
    sqs = boto3.client("sqs")
    ready = threading.Condition()
    for lane in lanes:
        lane.arn = sqs.get_queue_attributes(QueueUrl=lane.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def receive(lane: LaneSource) -> None:
        client = boto3.client("sqs")
        while not stop():
            with ready:
                ready.wait_for(lambda: not lane.batch or stop(), timeout=1)
                if lane.batch:
                    continue
            try:
                out = client.receive_message(QueueUrl=lane.url, MaxNumberOfMessages=trigger.batch_size,
                                             WaitTimeSeconds=1, AttributeNames=["All"])
            except (ClientError, BotoCoreError) as exc:
                log.warning("receive failed on %s: %s", lane.name, exc)
                time.sleep(1)
                continue
            if messages := out.get("Messages", []):
                with ready:
                    lane.batch = messages
                    ready.notify_all()

    for lane in lanes:
        threading.Thread(target=receive, args=(lane,), name=f"receive-{lane.name}", daemon=True).start()
    while not stop():
        with ready:
            ready.wait_for(lambda: any(lane.batch for lane in lanes), timeout=1)
            chosen = pick(lanes)
            messages, chosen_url = (chosen.batch, chosen.url) if chosen else ([], "")
        if chosen is None:
            continue
        try:
            result = handler(sqs_event(messages, chosen.arn), LocalContext(fn.name, fn.timeout_s, fn.memory_mb))
        except Exception:
            # As in Lambda: a failed invocation deletes nothing; the batch reappears after its visibility.
            log.exception("invocation of %s failed", fn.name)
            result = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        finally:
            with ready:
                chosen.batch = []
                ready.notify_all()
        delete_succeeded(sqs, chosen_url, messages, result)


def delete_succeeded(sqs: Any, url: str, messages: Sequence[Mapping[str, Any]], result: Any) -> None:
    """Delete the messages of a batch that its invocation did not report in `batchItemFailures`."""
    failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])


def invoke_once(fn: Function, handler: Handler, lanes: list[LaneSource]) -> Any | None:
    """One invocation as the event-source mapping makes it (`steadfast invoke worker`): the first lane holding
    messages, highest priority first, gives a batch; what did not fail is deleted. None: nothing was waiting."""
    assert isinstance(fn.trigger, QueueSource)
    sqs = boto3.client("sqs")
    for lane in sorted(lanes, key=lambda lane: -lane.weight):
        messages = sqs.receive_message(QueueUrl=lane.url, MaxNumberOfMessages=fn.trigger.batch_size,
                                       WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            continue
        arn = sqs.get_queue_attributes(QueueUrl=lane.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        result = handler(sqs_event(messages, arn), LocalContext(fn.name, fn.timeout_s, fn.memory_mb))
        delete_succeeded(sqs, lane.url, messages, result)
        return result
    return None


def lane_sources(q: Queue, env: Mapping[str, str]) -> list[LaneSource]:
    """The lanes of queue `q` with their URLs from `env` (a queue without lanes is its one lane)."""
    if not q.lanes:
        return [LaneSource(q.name, env[q.env_var], 1)]
    return [LaneSource(lane.priority, env[lane.env_var], lane.weight) for lane in q.lanes if env.get(lane.env_var)]


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
