"""Ordering keys (SPEC §3 "Relations"): this tenant's jobs with the same `ordering_key` run one at a time, in
the order they were accepted; the next starts only once the one before it is terminal (any terminal status).

One sequence per (tenant, key) in the jobs table — not SQS FIFO message groups (README "Ordering keys"):
- a key item `pk = OKEY#<tenant>#<key>, sk = KEY` with `seq` (jobs placed in the key so far) and `done` (how
  many of the first ones have ended, as far as the key has seen): job `done + 1` is the key's *head*;
- a member item per job, `sk = SEQ#<n>`, naming the job at place n (also what `GET /v1/jobs?ordering_key=`
  lists, in accepted order).

Submit reads the key item and writes, in the job's own create transaction, the member and `SET seq = n`
conditioned on `seq` and `done` being what it read: a job whose key has a live head is created `waiting` with
`HELD_BY_KEY` in its `waiting_on` (beside any parents: it waits for both), the head of an idle key is not held.
A head that ends concurrently makes the condition fail and the submit reads again, so no job is ever placed
behind a head that has already been passed.

Release is a continuation (`OrderingKeys`): every terminal state of a keyed job owes a followup note, written in
its terminal transaction; paying it (`advance`) moves `done` past the ended jobs at the front — a cancelled
waiting job is skipped there, so it never blocks its key — and takes `HELD_BY_KEY` off the first live one
(`Links.dependency_done`: released if nothing else holds it). Every step is a conditional write derived from
the current state, so a repeat (the sweeper healing a worker that died after the terminal write) changes
nothing twice and misses nothing. A retrying head is live: it blocks its key, which is the point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from shared import aws
from shared.errors import Unavailable
from shared.jobs.continuations import Continuations, Effect, Followup
from shared.jobs.links import Links
from shared.jobs.models import Status, iso, utcnow
from shared.jobs.record import HELD_BY_KEY, JobRecord
from shared.jobs.store import TERMINAL_RETENTION, JobStore

logger = Logger(child=True)
# Ended jobs one followup skips before it leaves the rest to the sweeper (each skip is one write).
MAX_SKIPS = 200


@dataclass(frozen=True)
class KeyState:
    seq: int   # jobs placed so far
    done: int  # of which the first `done` have ended


def key_pk(tenant: str, key: str) -> str:
    return f"OKEY#{tenant}#{key}"


def member_sk(n: int) -> str:
    return f"SEQ#{n:012d}"


class Sequences:
    """The per-key sequence in the job store: placing new jobs, advancing past ended ones, listing."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.db = store.db
        self.table = store.table

    def state(self, tenant: str, key: str) -> KeyState | None:
        item = self.store._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                                Key=aws.to_item({"pk": key_pk(tenant, key), "sk": "KEY"})).get("Item")
        if item is None:
            return None
        a = aws.from_item(item)
        return KeyState(seq=int(a["seq"]), done=int(a["done"]))

    # -- submit ----------------------------------------------------------------------------------
    def place(self, record: JobRecord, state: KeyState | None, offset: int = 0) -> tuple[JobRecord, int]:
        """`record` at place `state.seq + 1 + offset` of its key (offset: jobs placed before it in the same
        write), held when a live job is ahead of it; and the key's new `done` when it ended already."""
        seq, done = (state.seq, state.done) if state else (0, 0)
        n = seq + 1 + offset
        idle = done == n - 1  # every job ahead of it has ended
        return record.placed(n, behind=not idle), (n if idle and record.terminal else done)

    def items(self, tenant: str, key: str, state: KeyState | None, placed: Sequence[JobRecord],
              done: int) -> list[dict[str, Any]]:
        """The transaction items that put `placed` (consecutive places) in the key read as `state`."""
        values: dict[str, Any] = {":n": max(j.ordering_seq or 0 for j in placed), ":d": done, ":t": tenant,
                                  ":k": key}
        if state is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "seq = :s AND done = :d0"
            values |= {":s": state.seq, ":d0": state.done}
        update = {"Update": {
            "TableName": self.table, "Key": aws.to_item({"pk": key_pk(tenant, key), "sk": "KEY"}),
            "UpdateExpression": "SET seq = :n, done = :d, tenant = :t, ordering_key = :k",
            "ConditionExpression": condition, "ExpressionAttributeValues": aws.values(values)}}
        members = [{"Put": {"TableName": self.table, "Item": aws.to_item({
            "pk": key_pk(tenant, key), "sk": member_sk(j.ordering_seq or 0), "job_id": j.id,
            "created_at": iso(j.created_at)})}} for j in placed]
        return [update, *members]

    # -- release ---------------------------------------------------------------------------------
    def advance(self, tenant: str, key: str, now: datetime) -> JobRecord | None:
        """Move the key past its ended jobs and release its head from the key; the head when that released it
        (due now), else None. Idempotent; Unavailable (the note stays for the sweeper) after MAX_SKIPS."""
        for _ in range(MAX_SKIPS):
            state = self.state(tenant, key)
            if state is None or state.done >= state.seq:
                return None
            n = state.done + 1
            job_id = self._member(tenant, key, n)
            head = self.store.get_record(job_id) if job_id else None
            if head is not None and not head.terminal:
                return Links(self.store).dependency_done(head.id, HELD_BY_KEY, now)
            self._passed(tenant, key, n, now)  # ended (or expired long after it ended): skip it
        raise Unavailable(f"ordering key {key!r} has more than {MAX_SKIPS} ended jobs at its front; left for the sweep")

    def _member(self, tenant: str, key: str, n: int) -> str | None:
        item = self.store._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                                Key=aws.to_item({"pk": key_pk(tenant, key), "sk": member_sk(n)})).get("Item")
        return str(aws.from_item(item)["job_id"]) if item else None

    def _passed(self, tenant: str, key: str, n: int, now: datetime) -> None:
        """`done` from n - 1 to n (a repeat finds it moved already), and the member then expires with its job."""
        try:
            self.db.update_item(
                TableName=self.table, Key=aws.to_item({"pk": key_pk(tenant, key), "sk": "KEY"}),
                UpdateExpression="SET done = :n", ConditionExpression="done = :before",
                ExpressionAttributeValues=aws.values({":n": n, ":before": n - 1}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return
            raise Unavailable(f"advancing ordering key failed: {exc.response['Error']['Code']}") from exc
        self.store._call(self.db.update_item, TableName=self.table,
                         Key=aws.to_item({"pk": key_pk(tenant, key), "sk": member_sk(n)}),
                         UpdateExpression="SET expires_at = :e",
                         ExpressionAttributeValues=aws.values({":e": int((now + TERMINAL_RETENTION).timestamp())}))

    # -- reads -----------------------------------------------------------------------------------
    def page(self, tenant: str, key: str, status: Status | None, limit: int,
             cursor: str | None) -> tuple[list[JobRecord], str | None]:
        """A page of the key's jobs, newest place first (a status filters the page, which may come back shorter)."""
        pk = key_pk(tenant, key)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "Limit": limit, "ScanIndexForward": False, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :m)",
            "ExpressionAttributeValues": aws.values({":pk": pk, ":m": "SEQ#"}),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "pk", pk, sk_prefix="SEQ#")
        page = self.store._call(self.db.query, **kwargs)
        keys = [{"pk": {"S": f"JOB#{aws.from_item(i)['job_id']}"}, "sk": {"S": "JOB"}} for i in page.get("Items", [])]
        records = [r for r in self.store._items(keys) if r.tenant == tenant and (status is None or r.status is status)]
        last = page.get("LastEvaluatedKey")
        return records, aws.encode_cursor(last) if last else None


class OrderingKeys:
    """The continuation: a keyed job's terminal state owes its key an `advance`."""

    kind = "ordering"

    def owed(self, record: JobRecord) -> Sequence[Effect]:
        if record.spec.ordering_key is None or record.ordering_seq is None:
            return []
        return [Followup(kind=self.kind, job_id=record.id, tenant=record.tenant, run=record.run,
                         created_at=record.updated_at, data={"key": record.spec.ordering_key})]

    def work(self, followup: Followup, ctx: Continuations) -> None:
        released = Sequences(ctx.store).advance(followup.tenant, followup.data["key"], utcnow())
        if released is not None:
            logger.info("next job of an ordering key released", extra={
                "job_id": released.id, "after_job_id": followup.job_id, "ordering_key": followup.data["key"]})
            ctx.enqueue(released, reason=f"next in its ordering key after {followup.job_id}")
