"""The fire writes: each fire time's job and the schedule's move to its next fire time, in one transaction,
many fires to a transaction.

A fire is two actions of one `TransactWriteItems`: the job the fire time owns (`record.fire_job_id`), put on
condition that no item has its id, and the schedule's move, on condition that it still waits for this fire
time (`due_at`) and nobody wrote it since it was read (`version`). Both happen or neither does, so a job
exists exactly when its schedule has moved past its fire time: whatever repeats or races (a tick delivered
twice, a retried invocation, two schedulers) computes the same job id and finds the schedule moved, and
loses both actions. A skipped fire (`overlap: skip`) is the move alone.

Up to 50 fires share a transaction (DynamoDB's limit is 100 actions and 4 MB per transaction). One action
whose condition fails cancels the whole transaction; `CancellationReasons` says which, in the order the
actions were sent:
- the schedule's move failed: another writer fired it first (or it was edited, paused or deleted since it was
  read); the fire is dropped, and whatever the schedule now is is read again at the next tick;
- only the job's put failed: the job exists but the schedule still waits for it (a crash of the scheduler
  before this one, which wrote the two separately); the fire is retried as the move alone (`existed`);
- a conflict with a concurrent transaction, or throttling: retried as it was, a few times with backoff;
- anything else (a validation error of one item): that fire is dropped and logged; it stays due.
The rest are sent again. Every round drops or changes at least one fire or counts a retry, so it ends.

Batches are written concurrently; a batch that fails does not fail the others (their jobs are still
enqueued), unless none was written (then the call raises). A crash after a transaction and before the SQS
send leaves pending jobs that the sweeper enqueues. On AWS a transaction costs twice the write units of its
items (`bench.cost`): that is the price of one request per 50 fires instead of two per fire.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Unavailable
from shared.jobs.models import iso
from shared.jobs.record import JobRecord
from shared.jobs.record import to_attributes as job_attributes
from shared.schedules.record import ScheduleRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

MAX_ACTIONS = 100  # TransactWriteItems: up to 100 actions, 4 MB of items in all (DynamoDB developer guide)
MAX_BYTES = 3_500_000  # of the over-estimate below: a margin under 4 MB
RETRIES = 4  # of a batch cancelled by a conflicting transaction or throttling
TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                       "RequestLimitExceeded"})
FAILED = "ConditionalCheckFailed"
# Batches written at once. Each is one request of up to 100 actions, so a tick of thousands of fires is a
# few dozen requests; more threads would only queue on the SDK's pool (shared.aws, 50 connections).
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fire")


@dataclass(frozen=True)
class Fire:
    """One fire time of a schedule: the job it creates (None when `overlap: skip` skipped it) and the
    schedule's next fire time (None: it never fires again). `existed`: the job was there already (`job` is
    then None: it is not this writer's to enqueue)."""

    schedule: ScheduleRecord
    fire_time: datetime
    next_fire: datetime | None
    job: JobRecord | None
    existed: bool = False
    # The job was accepted through the job service already (a spec with `depends_on` or an `ordering_key`
    # needs its registration written with it); the fire is the schedule's move alone, naming the job.
    submitted: bool = False


class FireWriter:
    def __init__(self, db: DynamoDBClient, schedules_table: str, jobs_table: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self.table = schedules_table
        self.jobs_table = jobs_table
        self.sleep = sleep

    def write(self, fires: list[Fire]) -> list[Fire]:
        """Write the fires, in batches written concurrently; the fires this call won, each with `job` set
        only where this call created the job, and `existed` where it found the job written already."""
        won: list[Fire] = []
        failed: list[Unavailable] = []
        for batch in _POOL.map(self._write_batch_or_error, list(self._batches(fires))):
            if isinstance(batch, Unavailable):
                failed.append(batch)
            else:
                won += batch
        if failed and not won:
            raise failed[0]  # nothing written: the invocation fails, and its alarm sees it
        if failed:
            # The batches written are still to be enqueued; the failed ones' schedules stay due, or (a
            # transaction that committed before its answer was lost) their jobs wait for the sweeper.
            logger.warning("some batches of schedule fires were not written; their schedules stay due",
                           extra={"batches": len(failed), "error": str(failed[0])})
        return won

    def _write_batch_or_error(self, batch: list[_Actions]) -> list[Fire] | Unavailable:
        try:
            return self._write_batch(batch)
        except Unavailable as exc:
            return exc

    def _batches(self, fires: list[Fire]) -> Iterator[list[_Actions]]:
        batch: list[_Actions] = []
        actions = size = 0
        for f in fires:
            a = self._actions(f)
            if batch and (actions + len(a.items) > MAX_ACTIONS or size + a.size > MAX_BYTES):
                yield batch
                batch, actions, size = [], 0, 0
            batch.append(a)
            actions += len(a.items)
            size += a.size
        if batch:
            yield batch

    def _write_batch(self, batch: list[_Actions]) -> list[Fire]:
        pending = batch
        tries = 0
        while pending:
            try:
                self.db.transact_write_items(
                    TransactItems=[i for a in pending for i in a.items])  # type: ignore[misc]
                return [a.fire for a in pending]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise Unavailable(f"firing schedules failed: {exc.response['Error']['Code']}") from exc
                reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
            except BotoCoreError as exc:
                raise Unavailable(f"firing schedules failed: {type(exc).__name__}") from exc
            left, transient = _sorted(pending, reasons)
            if transient or (len(left) == len(pending) and all(x is y for x, y in zip(left, pending, strict=True))):
                tries += 1
                if tries > RETRIES:
                    logger.warning("schedule fires left due after conflicts; the next tick fires them",
                                   extra={"count": len(left)})
                    return []
                self.sleep(random.uniform(0, 0.05 * 2 ** tries))  # full jitter
            pending = left
        return []

    def _actions(self, f: Fire) -> _Actions:
        move = {"Update": self._advance(f)}
        if f.job is None or f.submitted:
            return _Actions(f, (move,), 1024)
        put = {"Put": {"TableName": self.jobs_table, "Item": aws.to_item(job_attributes(f.job)),
                       "ConditionExpression": "attribute_not_exists(pk)"}}
        return _Actions(f, (put, move), 1024 + _bytes(put["Put"]["Item"]))

    def _advance(self, f: Fire) -> dict[str, Any]:
        sets = ["version = version + :one"]
        values: dict[str, Any] = {":one": 1, ":fire": iso(f.fire_time), ":v": f.schedule.version}
        if f.next_fire is not None:
            sets.append("due_at = :next")
            values[":next"] = iso(f.next_fire)
            remove = ""
        else:
            remove = " REMOVE due_pk, due_at"
        if f.job is not None:
            sets += ["last_run_at = :fire", "last_job_id = :job"]
            values[":job"] = f.job.id
        return {
            "TableName": self.table, "Key": aws.to_item({"pk": f"SCH#{f.schedule.id}", "sk": "SCH"}),
            "UpdateExpression": "SET " + ", ".join(sets) + remove,
            "ConditionExpression": "due_at = :fire AND version = :v AND attribute_exists(due_pk)",
            "ExpressionAttributeValues": aws.values(values)}


@dataclass(frozen=True)
class _Actions:
    """A fire's actions as sent (the job's put, if it writes one, then the schedule's move), and an upper
    bound of their size."""

    fire: Fire
    items: tuple[dict[str, Any], ...]
    size: int

    def move_only(self) -> _Actions:
        """The move alone, for a fire time whose job exists already (the move still names it)."""
        return _Actions(replace(self.fire, job=None, existed=True), self.items[-1:], 1024)


def _sorted(pending: list[_Actions], reasons: list[str]) -> tuple[list[_Actions], bool]:
    """The fires to send again after a cancellation, and whether a transient cause was among them."""
    if len(reasons) != sum(len(a.items) for a in pending):
        return pending, True  # no reason per action: send them all again, as after a conflict
    left: list[_Actions] = []
    transient = False
    at = 0
    for a in pending:
        codes = reasons[at:at + len(a.items)]
        at += len(a.items)
        job_code, move_code = codes if len(codes) == 2 else ("None", codes[0])
        if move_code == FAILED:
            continue  # fired by another writer first, or changed since it was read: read again next tick
        if job_code == FAILED:
            left.append(a.move_only())  # the job is there and the schedule still waits for it
        elif job_code in TRANSIENT or move_code in TRANSIENT:
            transient = True
            left.append(a)
        elif job_code == "None" and move_code == "None":
            left.append(a)  # cancelled for another fire's sake
        else:
            f = a.fire
            logger.error("schedule fire refused; it stays due", extra={
                "schedule_id": f.schedule.id, "scheduled_for": iso(f.fire_time), "codes": codes})
    return left, transient


def _bytes(value: Any) -> int:
    """An upper bound of an item's size as DynamoDB counts it: every name and value, type tags included."""
    if isinstance(value, dict):
        return sum(len(k) + _bytes(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_bytes(v) for v in value)
    if isinstance(value, str | bytes):
        return len(value.encode() if isinstance(value, str) else value)
    return 8
