"""Relations between jobs in the job store: who waits for whom, and workflows.

Layout (all in the jobs table):
- an edge `pk = JOB#<parent>, sk = CHILD#<child>` per dependency, written in the child's create transaction
  together with `ADD dependents 1` on the parent, conditioned on the parent being still live; a parent's
  ending therefore knows it has dependents (its `dependents` count, guarded by every Put of the job
  item) and owes them a followup (`shared.jobs.dependents`), which walks these edges;
- the child's `waiting_on`, a string set of the parents that have not completed yet; it becomes due when
  the set is empty (`dependency_done`);
- a workflow item `pk = WF#<id>, sk = WF` with its refs and labels. A workflow's roots wait on the workflow
  id itself, and an edge `JOB#<wf id> → CHILD#<root>` releases them when the workflow item commits.

DynamoDB allows 100 items per transaction. A child with 50 live parents needs 2 + 2 × 50 items: the
parents beyond what fits are registered first, and the child's own transaction re-checks them (one
ConditionCheck each), so a child is never written waiting on a parent that has ended and cannot release it.
An edge written for a child that never got created is harmless: its release finds no child.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared import aws
from shared.errors import Conflict, NotFound, Unavailable
from shared.jobs.continuations import Followup
from shared.jobs.models import Status, iso
from shared.jobs.record import JobRecord, from_attributes, to_attributes
from shared.jobs.store import MOVED, JobStore, ParentsMoved

MAX_TRANSACT_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
BATCH_WRITE_MAX = 25      # DynamoDB's limit per BatchWriteItem
_LIVE = (Status.waiting, Status.pending, Status.running, Status.retrying)


@dataclass(frozen=True)
class WorkflowRecord:
    id: str
    tenant: str
    created_at: datetime
    labels: dict[str, str]
    refs: list[tuple[str, str]]  # (ref, job id) in the order submitted


class Links:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.db = store.db
        self.table = store.table

    # -- submit ----------------------------------------------------------------------------------
    def parents(self, tenant: str, ids: Sequence[str]) -> dict[str, JobRecord]:
        """This tenant's jobs among `ids` (another tenant's job is as absent as a missing one)."""
        keys = [{"pk": {"S": f"JOB#{i}"}, "sk": {"S": "JOB"}} for i in ids if i.startswith("job_") and len(i) <= 64]
        records = (from_attributes(aws.from_item(item)) for item in self.store._get_many(keys))
        return {r.id: r for r in records if r.tenant == tenant}

    def registration(self, tenant: str, child_id: str, parents: Sequence[str], *,
                     idempotent: bool, others: int = 0) -> list[dict[str, Any]]:
        """The items of `child_id`'s create transaction that register it with its live `parents` (beside
        `others` items of its own, e.g. its ordering key's); parents beyond one transaction are registered
        here, now, and only re-checked in it."""
        base = (2 if idempotent else 1) + others
        inline = max(0, min(len(parents), MAX_TRANSACT_ITEMS - base - len(parents)))
        early = list(parents[inline:])
        if early:
            items = [i for p in early for i in self._register(tenant, child_id, p)]
            for start in range(0, len(items), MAX_TRANSACT_ITEMS):
                self._transact(items[start:start + MAX_TRANSACT_ITEMS])
        checks = [{"ConditionCheck": {"TableName": self.table, **self._live(tenant, p)}} for p in early]
        return [i for p in parents[:inline] for i in self._register(tenant, child_id, p)] + checks

    def _register(self, tenant: str, child_id: str, parent: str) -> list[dict[str, Any]]:
        return [
            {"Update": {"TableName": self.table, **self._live(tenant, parent),
                        "UpdateExpression": "ADD dependents :one", **self._values(tenant, {":one": 1})}},
            {"Put": {"TableName": self.table, "Item": aws.to_item(
                {"pk": f"JOB#{parent}", "sk": f"CHILD#{child_id}", "child_id": child_id, "tenant": tenant})}},
        ]

    def _live(self, tenant: str, parent: str) -> dict[str, Any]:
        return {"Key": aws.to_item({"pk": f"JOB#{parent}", "sk": "JOB"}),
                "ConditionExpression": f"tenant = :t AND #s IN ({', '.join(f':l{i}' for i in range(len(_LIVE)))})",
                "ExpressionAttributeNames": {"#s": "status"}, **self._values(tenant, {})}

    @staticmethod
    def _values(tenant: str, extra: dict[str, Any]) -> dict[str, Any]:
        values = {":t": tenant, **{f":l{i}": s.value for i, s in enumerate(_LIVE)}, **extra}
        return {"ExpressionAttributeValues": aws.values(values)}

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self.db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            reasons = {r.get("Code", "") for r in exc.response.get("CancellationReasons", [])}
            if {"ConditionalCheckFailed", "TransactionConflict"} & reasons:
                raise ParentsMoved(MOVED) from exc
            raise Unavailable(f"registering with parents failed: {exc.response['Error']['Code']}") from exc

    # -- release ---------------------------------------------------------------------------------
    def dependents_of(self, parent_id: str) -> list[str]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :c)",
            "ExpressionAttributeValues": aws.values({":pk": f"JOB#{parent_id}", ":c": "CHILD#"}),
        }
        out: list[str] = []
        while True:
            page = self.store._call(self.db.query, **kwargs)
            out += [aws.from_item(i)["child_id"] for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def dependency_done(self, child_id: str, parent_id: str, now: datetime) -> JobRecord | None:
        """`parent_id` no longer holds `child_id`; the child, released, when it was the last; else None.
        Idempotent: a repeat finds the parent gone from the set and releases only a child still waiting."""
        try:
            out = self.db.update_item(
                TableName=self.table, Key=aws.to_item({"pk": f"JOB#{child_id}", "sk": "JOB"}),
                UpdateExpression="DELETE waiting_on :p",
                ConditionExpression="#s = :w AND contains(waiting_on, :pid)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=aws.values({":p": {parent_id}, ":pid": parent_id,
                                                      ":w": Status.waiting.value}),
                ReturnValues="ALL_NEW")
            child: JobRecord | None = from_attributes(aws.from_item(out["Attributes"]))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            child = self.store.get_record(child_id)  # a repeat: release it if that was missed
        if child is None or child.status is not Status.waiting or child.waiting_on:
            return None
        released = child.released(now)
        try:
            self.store.transition(released, {Status.waiting}, what="release")
        except Conflict:
            return None
        return released

    # -- workflows -------------------------------------------------------------------------------
    def create_workflow(self, wf: WorkflowRecord, jobs: Sequence[JobRecord], edges: Sequence[tuple[str, str]],
                        start: Followup, extra: Sequence[dict[str, Any]] = ()) -> None:
        """Write a workflow's jobs (all waiting) and edges in batches, then commit the workflow item with the
        followup that releases its roots and `extra` (its jobs' places in ordering keys; ParentsMoved when a key
        moved meanwhile: place them again and write again). Until that commit nothing of it can run."""
        items = [to_attributes(j) for j in jobs]
        items += [{"pk": f"JOB#{p}", "sk": f"CHILD#{c}", "child_id": c, "tenant": wf.tenant} for p, c in edges]
        for begin in range(0, len(items), BATCH_WRITE_MAX):
            request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": aws.to_item(i)}}
                                                    for i in items[begin:begin + BATCH_WRITE_MAX]]}
            while request:
                request = self.store._call(self.db.batch_write_item, RequestItems=request).get("UnprocessedItems") or {}
        item = {"pk": f"WF#{wf.id}", "sk": "WF", "id": wf.id, "tenant": wf.tenant, "created_at": iso(wf.created_at),
                "labels": json.dumps(wf.labels), "refs": json.dumps(wf.refs)}
        self._transact([{"Put": {"TableName": self.table, "Item": aws.to_item(item),
                                 "ConditionExpression": "attribute_not_exists(pk)"}},
                        self.store._effect_item(start), *extra])

    def workflow(self, tenant: str, wf_id: str) -> tuple[WorkflowRecord, list[JobRecord]]:
        item = None
        if wf_id.startswith("wf_") and len(wf_id) <= 64:
            item = self.store._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                                    Key=aws.to_item({"pk": f"WF#{wf_id}", "sk": "WF"})).get("Item")
        a = aws.from_item(item) if item else None
        if a is None or a["tenant"] != tenant:
            raise NotFound(f"no workflow {wf_id!r}")
        wf = WorkflowRecord(id=a["id"], tenant=a["tenant"], created_at=datetime.fromisoformat(a["created_at"]),
                            labels=json.loads(a["labels"]), refs=[(r, j) for r, j in json.loads(a["refs"])])
        keys = [{"pk": {"S": f"JOB#{j}"}, "sk": {"S": "JOB"}} for _, j in wf.refs]
        return wf, [from_attributes(aws.from_item(i)) for i in self.store._get_many(keys)]
