"""The job store on DynamoDB: the source of truth for every job, its attempts and idempotency keys.

Operations are the ones the engine needs (create, claim, defer, finish_attempt, cancel, restart, due),
each a single conditional write or transaction, so that two workers, a cancel and a sweep can race
safely. AWS errors become domain errors here and nowhere else.

A terminal state and what it owes (`shared.jobs.continuations`: spawned jobs such as callbacks, durable
followup notes) are written in one transaction, each owed item conditioned on its absence: whoever records
how a run ended writes its debts exactly once, and a crash right after leaves a pending job or a followup
note that the sweeper finds. Followup notes live under their job (`sk = CONT#<run>#<kind>`) and are listed
by the sparse due index under `CONT#<shard>` partitions of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Conflict, IdempotencyInFlight, IdempotencyMismatch, NotFound, Unavailable
from shared.jobs.continuations import Effect, Followup, SpawnJob
from shared.jobs.models import Attempt, Outcome, Status, iso
from shared.jobs.queue import EARLY_CLAIM_S
from shared.jobs.record import (
    DUE_SHARDS,
    JobRecord,
    due_shard,
    from_attributes,
    group_pk,
    sources_of,
    status_bucket,
    to_attributes,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

IDEMPOTENCY_RETENTION = timedelta(hours=48)
# What a job's terminal state owes, asked again whenever the write is retried on fresh bookkeeping.
Owes = Callable[[JobRecord], Sequence[Effect]]
TERMINAL_RETENTION = timedelta(days=30)
BATCH_GET_MAX = 100  # keys per BatchGetItem call (DynamoDB's limit)
STATUS_QUERIES = 5  # index queries a page of one live status reads at most
# Attempts a job item's history holds (`JobRecord.history`); later ones are items of their own, so that a job
# redriven again and again keeps its item small. A run has at most 50 attempts (RetryPolicy.max_attempts).
HISTORY_IN_ITEM = 50


@dataclass(frozen=True)
class Created:
    job: JobRecord
    replayed: bool


class ParentsMoved(Conflict):
    """A parent named by `depends_on` ended, or the job's ordering key moved, between reading it and writing
    the job: read again."""


MOVED = "a job this one depends on, or its ordering key, changed while it was accepted; retry"


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _reasons(exc: ClientError) -> list[str]:
    return [r.get("Code", "") for r in exc.response.get("CancellationReasons", [])]


def _condition_failed(exc: ClientError) -> bool:
    """A conditional write's condition did not hold: a PutItem's, or one item's in a transaction."""
    return (exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            or "ConditionalCheckFailed" in _reasons(exc))


class JobStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    # -- submit ----------------------------------------------------------------------------------
    def create(self, job: JobRecord, idempotency: tuple[str, str] | None = None,
               links: Sequence[dict[str, Any]] = ()) -> Created:
        """Write a new job; with (key, fingerprint), atomically with its idempotency record, and with `links`
        (its registration with its parents, `shared.jobs.links`; ParentsMoved when one ended meanwhile). A job
        whose id exists already (a caller-chosen, deterministic id) is not written again: the existing one
        comes back as replayed, or Conflict when it belongs to another tenant."""
        put_job = {"Put": {"TableName": self.table, "Item": aws.to_item(to_attributes(job)),
                           "ConditionExpression": "attribute_not_exists(pk)"}}
        if idempotency is None:
            # Without links, one item: a conditional put is as atomic as a one-item transaction at half the
            # write units.
            try:
                if links:
                    self.db.transact_write_items(TransactItems=[put_job, *links])  # type: ignore[list-item]
                else:
                    self.db.put_item(**put_job["Put"])  # type: ignore[arg-type]
                return Created(job, replayed=False)
            except ClientError as exc:
                reasons = _reasons(exc) or (["ConditionalCheckFailed"] if exc.response["Error"]["Code"]
                                            == "ConditionalCheckFailedException" else [])
                if {"ConditionalCheckFailed", "TransactionConflict"} & set(reasons[1:]):
                    raise ParentsMoved(MOVED) from exc
                if reasons[:1] != ["ConditionalCheckFailed"]:
                    raise Unavailable(f"the job store is unavailable: {exc.response['Error']['Code']}") from exc
            existing = self.get_record(job.id)
            if existing is None or existing.tenant != job.tenant:
                raise Conflict(f"job id {job.id} is taken")
            return Created(existing, replayed=True)
        key, fingerprint = idempotency
        idem_pk = self._idem_pk(job.tenant, key)
        put_idem = {"Put": {
            "TableName": self.table,
            "Item": aws.to_item({"pk": idem_pk, "sk": "IDEM", "job_id": job.id, "fingerprint": fingerprint,
                                 "expires_at": _epoch(job.created_at + IDEMPOTENCY_RETENTION)}),
            # DynamoDB's TTL deletes lazily (and moto never does): an expired record is overwritten here.
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": aws.values({":now": _epoch(job.created_at)}),
        }}
        try:
            self.db.transact_write_items(TransactItems=[put_idem, put_job, *links])  # type: ignore[list-item]
            return Created(job, replayed=False)
        except ClientError as exc:
            reasons = _reasons(exc)
            if ({"ConditionalCheckFailed", "TransactionConflict"} & set(reasons[2:])
                    and reasons[0] not in ("ConditionalCheckFailed", "TransactionConflict")):
                raise ParentsMoved(MOVED) from exc
            if "TransactionConflict" in reasons or exc.response["Error"]["Code"] == "TransactionInProgressException":
                raise IdempotencyInFlight("a request with this Idempotency-Key is still being accepted") from exc
            if not reasons or reasons[0] != "ConditionalCheckFailed":
                raise Unavailable("the job store is unavailable; retry with the same Idempotency-Key") from exc
        existing = self._call(self.db.get_item, TableName=self.table, Key=aws.to_item({"pk": idem_pk, "sk": "IDEM"}),
                              ConsistentRead=True).get("Item")
        if existing is None:
            raise IdempotencyInFlight("a request with this Idempotency-Key is still being accepted")
        record = aws.from_item(existing)
        if record["fingerprint"] != fingerprint:
            raise IdempotencyMismatch("this Idempotency-Key was used with a different request body")
        original = self.get_record(record["job_id"])
        if original is None:
            raise IdempotencyInFlight("a request with this Idempotency-Key is still being accepted")
        return Created(original, replayed=True)

    def create_many(self, jobs: Sequence[JobRecord]) -> None:
        """Write new jobs with fresh ids (no idempotency key, no parents) by BatchWriteItem, 25 a call:
        half the write units of a transaction each, and nothing to condition on."""
        for begin in range(0, len(jobs), 25):
            request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": aws.to_item(to_attributes(j))}}
                                                    for j in jobs[begin:begin + 25]]}
            while request:
                request = self._call(self.db.batch_write_item, RequestItems=request).get("UnprocessedItems") or {}

    @staticmethod
    def _idem_pk(tenant: str, key: str) -> str:
        return f"IDEM#{tenant}#{hashlib.sha256(key.encode()).hexdigest()}"

    # -- reads -----------------------------------------------------------------------------------
    def get_record(self, job_id: str) -> JobRecord | None:
        item = self._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                          Key=aws.to_item({"pk": f"JOB#{job_id}", "sk": "JOB"})).get("Item")
        return from_attributes(aws.from_item(item)) if item else None

    def get(self, tenant: str, job_id: str) -> JobRecord:
        """A tenant's job; another tenant's job is indistinguishable from a missing one."""
        record = self.get_record(job_id) if job_id.startswith("job_") and len(job_id) <= 64 else None
        if record is None or record.tenant != tenant:
            raise NotFound(f"no job {job_id!r}")
        return record

    def attempts(self, tenant: str, job_id: str) -> list[Attempt]:
        """Every attempt of a tenant's job, by number: those in the job item's history and those recorded as
        items of their own (a call whose worker died, an attempt whose lease was lost, a long history)."""
        items = list(self.get(tenant, job_id).history)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :a)",
            "ExpressionAttributeValues": aws.values({":pk": f"JOB#{job_id}", ":a": "ATTEMPT#"}),
        }
        while True:
            page = self._call(self.db.query, **kwargs)
            items += [Attempt.model_validate_json(aws.from_item(i)["attempt"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda a: (a.n, a.started_at))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def page(self, tenant: str, status: Status | None, limit: int, cursor: str | None,
             group: tuple[str, str] | None = None) -> tuple[list[JobRecord], str | None]:
        """A page of a tenant's jobs, newest first: all, in one status, or of one group (`record.GROUPS`:
        a workflow, schedule or source; a status then filters the page, which may come back shorter)."""
        if group is not None:
            return self._group_page(tenant, group, status, limit, cursor)
        if status is not None:
            return self._status_page(tenant, status, limit, cursor)
        index, pk_name, pk = "by_tenant", "tenant_pk", f"T#{tenant}"
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": index, "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": f"{pk_name} = :pk", "ExpressionAttributeValues": aws.values({":pk": pk}),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, pk_name, pk, "created_sk", item_prefix="JOB#")
        page = self._call(self.db.query, **kwargs)
        records = self._items(page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        return records, aws.encode_cursor(last) if last else None

    def _status_page(self, tenant: str, status: Status, limit: int, cursor: str | None
                     ) -> tuple[list[JobRecord], str | None]:
        """A page of one status, newest first: a terminal status's own partition (by end time), or the live
        partition (by submit time) read on until `limit` jobs of `status` are found, at most STATUS_QUERIES
        queries (a page may then come back shorter, with a cursor). The index is eventually consistent, and
        the live partition holds every live status: a job whose status is not `status` is left out."""
        pk = f"T#{tenant}#{status_bucket(status)}"
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_tenant_status", "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "tenant_status_pk = :pk", "ExpressionAttributeValues": aws.values({":pk": pk}),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "tenant_status_pk", pk, "updated_sk",
                                                            item_prefix="JOB#")
        found: list[tuple[dict[str, Any], JobRecord]] = []
        last: dict[str, Any] | None = None
        for _ in range(STATUS_QUERIES):
            page = self._call(self.db.query, **kwargs)
            for key, item in self._get_pairs(page.get("Items", [])):
                if (record := from_attributes(aws.from_item(item))).status == status:
                    found.append((key, record))
            last = page.get("LastEvaluatedKey")
            if len(found) >= limit or not last:
                break
            kwargs["ExclusiveStartKey"] = last
        if len(found) > limit:
            found, last = found[:limit], found[limit - 1][0]
        return [r for _, r in found], aws.encode_cursor(last) if last else None

    def _group_page(self, tenant: str, group: tuple[str, str], status: Status | None, limit: int,
                    cursor: str | None) -> tuple[list[JobRecord], str | None]:
        pk = group_pk(tenant, *group)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_group", "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "group_pk = :pk", "ExpressionAttributeValues": aws.values({":pk": pk}),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "group_pk", pk, "created_sk", item_prefix="JOB#")
        page = self._call(self.db.query, **kwargs)
        records = [r for r in self._items(page.get("Items", [])) if status is None or r.status is status]
        last = page.get("LastEvaluatedKey")
        return records, aws.encode_cursor(last) if last else None

    def due(self, before: datetime, limit: int) -> list[JobRecord]:
        """Non-terminal jobs whose due time (next attempt, or lease end while running) is before `before`."""
        out: list[JobRecord] = []
        for shard in range(DUE_SHARDS):
            page = self._call(
                self.db.query, TableName=self.table, IndexName="by_due", Limit=limit,
                KeyConditionExpression="due_pk = :p AND due_at < :t",
                ExpressionAttributeValues=aws.values({":p": f"DUE#{shard}", ":t": iso(before)}))
            out += self._items(page.get("Items", []))
        return out

    def _items(self, keys: list[dict[str, Any]]) -> list[JobRecord]:
        """The jobs a KEYS_ONLY index listed, in its order; a job that is gone by now (expired) is left out."""
        return [from_attributes(aws.from_item(item)) for item in self._get_many(keys)]

    def _get_many(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of `keys` (raw, in their order) by BatchGetItem, 100 keys a call; missing ones left out."""
        return [item for _, item in self._get_pairs(keys)]

    def _get_pairs(self, keys: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(key, item) for each of `keys` still there, in their order (an index page's cursor needs its key)."""
        wanted = [{"pk": k["pk"], "sk": k["sk"]} for k in keys]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            request: dict[str, Any] = {self.table: {"Keys": wanted[start:start + BATCH_GET_MAX]}}
            while request:
                out = self._call(self.db.batch_get_item, RequestItems=request)
                for item in out.get("Responses", {}).get(self.table, []):
                    found[(item["pk"]["S"], item["sk"]["S"])] = item
                request = out.get("UnprocessedKeys") or {}
        return [(key, found[k]) for key in keys if (k := (key["pk"]["S"], key["sk"]["S"])) in found]

    # -- worker ----------------------------------------------------------------------------------
    def claim(self, job_id: str, tenant: str, now: datetime, lease: timedelta, owner: str) -> JobRecord | None:
        """Take the lease on a due job; None when it is not claimable (terminal, leased, not yet due).

        No index entry moves: the running job stays listed under its (past) due time, where the sweeper
        finds it and reads the lease, and in the status index's live partition (`record.LIVE_BUCKET`).
        Moving either would cost two index writes on every claim."""
        lease_until = now + lease
        claimable = {f":c{i}": s.value for i, s in enumerate(sorted(sources_of("claimed")))}
        try:
            out = self.db.update_item(
                TableName=self.table, Key=aws.to_item({"pk": f"JOB#{job_id}", "sk": "JOB"}),
                ConditionExpression=(
                    f"tenant = :t AND #s IN ({', '.join(claimable)})"
                    " AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                    " AND (attribute_not_exists(next_attempt_at) OR next_attempt_at <= :due)"),
                UpdateExpression=(
                    "SET #s = :run, lease_until = :lu, lease_owner = :o, updated_at = :now ADD claims :one"),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=aws.values({
                    ":t": tenant, **claimable, ":run": Status.running.value, ":now": iso(now),
                    ":due": iso(now + timedelta(seconds=EARLY_CLAIM_S)),
                    ":lu": iso(lease_until), ":o": owner, ":one": 1,
                }),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise Unavailable(f"claim failed: {exc.response['Error']['Code']}") from exc
        return from_attributes(aws.from_item(out["Attributes"]))

    def renew_lease(self, job_id: str, owner: str, now: datetime, lease: timedelta, attempt: int,
                    started: datetime) -> bool:
        """A heartbeat: extend this worker's lease on its running job, and note the call it is in (attempt
        number, start, last beat) for whoever takes the job over should this worker die. False: the lease
        is no longer this worker's (cancelled, or expired and taken over). The due index is not touched."""
        try:
            self.db.update_item(
                TableName=self.table, Key=aws.to_item({"pk": f"JOB#{job_id}", "sk": "JOB"}),
                ConditionExpression="lease_owner = :o AND #s = :running",
                UpdateExpression="SET lease_until = :lu, heartbeat_at = :now, call_attempt = :n, call_started_at = :st",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=aws.values({
                    ":o": owner, ":running": Status.running.value, ":lu": iso(now + lease), ":now": iso(now),
                    ":n": attempt, ":st": iso(started)}))
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise Unavailable(f"renewing a lease failed: {exc.response['Error']['Code']}") from exc

    def note_abandoned(self, record: JobRecord, owner: str, now: datetime) -> JobRecord:
        """Just claimed from a holder whose lease expired: if that holder was in a call (its heartbeat
        noted one that has no attempt yet), record that call as a retryable attempt of unknown outcome,
        once (conditioned on the note still being there), and count it."""
        item = self._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                          Key=aws.to_item({"pk": f"JOB#{record.id}", "sk": "JOB"}),
                          ProjectionExpression="call_attempt, call_started_at, heartbeat_at").get("Item")
        note = aws.from_item(item) if item else {}
        n = int(note.get("call_attempt", 0))
        if n != record.attempts + 1 or "call_started_at" not in note:
            return record
        started = datetime.fromisoformat(note["call_started_at"])
        last = datetime.fromisoformat(note.get("heartbeat_at", note["call_started_at"]))
        attempt = Attempt(n=n, target_index=record.target_index, started_at=started, run=record.run,
                          duration_ms=max(0, int((last - started).total_seconds() * 1000)), outcome=Outcome.retryable,
                          error=f"abandoned: the worker stopped during the call (last heartbeat {iso(last)}, then its "
                                "lease expired); the outcome is unknown")
        try:
            self.db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": aws.to_item({"pk": f"JOB#{record.id}", "sk": f"ATTEMPT#{n:05d}",
                                              "attempt": attempt.model_dump_json(),
                                              "expires_at": _epoch(started + TERMINAL_RETENTION * 2)})}},
                {"Update": {"TableName": self.table, "Key": aws.to_item({"pk": f"JOB#{record.id}", "sk": "JOB"}),
                            "ConditionExpression": "lease_owner = :o AND call_attempt = :n",
                            "UpdateExpression": "ADD attempts :one, target_attempts :one"
                                                " REMOVE call_attempt, call_started_at, heartbeat_at",
                            "ExpressionAttributeValues": aws.values({":o": owner, ":n": n, ":one": 1})}}])
        except ClientError as exc:
            if _condition_failed(exc):
                return record  # noted already, or the lease moved on again
            raise Unavailable(f"recording an abandoned call failed: {exc.response['Error']['Code']}") from exc
        return record.abandoned(now)

    def defer(self, record: JobRecord, owner: str) -> bool:
        """Put a claimed job back unattempted (target protection said "not now"), provided this worker
        still holds the lease; `record` carries the waiting state. False when the lease was lost."""
        while True:
            try:
                self.db.put_item(**self._job_put(record, "lease_owner = :o AND #s = :running",
                                                 {":o": owner, ":running": "running"}))
                return True
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise Unavailable(f"deferring job failed: {exc.response['Error']['Code']}") from exc
            refreshed = self._refreshed(record, lambda c: c.lease_owner == owner and c.status is Status.running)
            if refreshed is None:
                return False
            record = refreshed

    def finish_attempt(self, record: JobRecord, attempt: Attempt, owner: str,
                       owes: Owes = lambda _: ()) -> Sequence[Effect] | None:
        """Record an attempt and the job's new state, provided this worker still holds the lease; a
        terminal state brings what it owes along (`owes(record)`); returns what was owed.

        The attempt goes into the job item's history, so that the attempt and the state it led to are one
        conditional write of one item: no transaction (half the write units), and no crash can leave one
        without the other. A terminal state that owes something adds those items in a transaction; a job
        whose history holds HISTORY_IN_ITEM attempts already records later ones as items of their own.

        Returns None when the lease was lost (cancelled, or expired and taken over): the attempt is
        then kept in the history (an item of its own), but the job's state is left to whoever holds it now."""
        attempt_item = {"Put": {"TableName": self.table, "Item": aws.to_item({
            "pk": f"JOB#{record.id}", "sk": f"ATTEMPT#{attempt.n:05d}", "attempt": attempt.model_dump_json(),
            "expires_at": _epoch(attempt.started_at + TERMINAL_RETENTION * 2)})}}
        in_item = len(record.history) < HISTORY_IN_ITEM
        while True:
            owed = owes(record)
            written = record.model_copy(update={"history": (*record.history, attempt)}) if in_item else record
            put_job = {"Put": self._job_put(written, "lease_owner = :o AND #s = :running",
                                            {":o": owner, ":running": "running"})}
            try:
                self._write_with_effects([put_job] if in_item else [attempt_item, put_job], owed)
                return owed
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise Unavailable(f"recording attempt failed: {exc.response['Error']['Code']}") from exc
            refreshed = self._refreshed(record, lambda c: c.lease_owner == owner and c.status is Status.running)
            if refreshed is None:
                break
            record = refreshed
        self._call(self.db.transact_write_items, TransactItems=[attempt_item, {"Update": {
            "TableName": self.table, "Key": aws.to_item({"pk": f"JOB#{record.id}", "sk": "JOB"}),
            "UpdateExpression": "ADD attempts :one", "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": aws.values({":one": 1})}}])
        return None

    def _job_put(self, record: JobRecord, condition: str, values: dict[str, Any]) -> dict[str, Any]:
        """A Put of the whole job item under `condition`, guarded on the `dependents` count it carries: a child
        registering meanwhile (`shared.jobs.links`) makes it fail rather than be overwritten."""
        attrs = to_attributes(record)
        if record.terminal:
            attrs["expires_at"] = _epoch(record.updated_at + TERMINAL_RETENTION)
        return {"TableName": self.table, "Item": aws.to_item(attrs),
                "ConditionExpression": f"({condition}) AND (attribute_not_exists(dependents) OR dependents = :deps)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": aws.values({**values, ":deps": record.dependents})}

    def _refreshed(self, record: JobRecord, still: Callable[[JobRecord], bool]) -> JobRecord | None:
        """After a failed guarded Put: `record` with the item's current dependents count, when the rest of its
        condition still holds (`still`) and only that count moved; else None (the state really changed)."""
        current = self.get_record(record.id)
        if current is None or not still(current) or current.dependents == record.dependents:
            return None
        return record.model_copy(update={"dependents": current.dependents})

    def _effect_item(self, effect: Effect) -> dict[str, Any]:
        if isinstance(effect, SpawnJob):
            item = to_attributes(effect.job)
        else:
            item = {"pk": f"JOB#{effect.job_id}", "sk": f"CONT#{effect.run}#{effect.kind}", "kind": effect.kind,
                    "job_id": effect.job_id, "tenant": effect.tenant, "run": effect.run,
                    "created_at": iso(effect.created_at), "data": json.dumps(effect.data),
                    "due_pk": f"CONT#{due_shard(effect.job_id)[4:]}", "due_at": iso(effect.created_at)}
        return {"Put": {"TableName": self.table, "Item": aws.to_item(item),
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def _write_with_effects(self, items: list[dict[str, Any]], owed: Sequence[Effect]) -> None:
        """One transaction of `items` plus what the state owes; a lone Put that owes nothing is a plain
        conditional PutItem (half the write units of a transaction). Owed items that exist already (this
        run's end was recorded before) are left out, so the state is still written. ClientError propagates."""
        owed_items = [self._effect_item(e) for e in owed]
        if len(items) == 1 and "Put" in items[0] and not owed_items:
            self.db.put_item(**items[0]["Put"])
            return
        while True:
            try:
                self.db.transact_write_items(TransactItems=[*items, *owed_items])  # type: ignore[list-item]
                return
            except ClientError as exc:
                reasons = _reasons(exc)
                failed = {i - len(items) for i, r in enumerate(reasons) if r not in ("", "None")}
                if (not owed_items or len(reasons) != len(items) + len(owed_items) or not failed
                        or min(failed) < 0 or any(reasons[len(items) + i] != "ConditionalCheckFailed" for i in failed)):
                    raise
                owed_items = [it for i, it in enumerate(owed_items) if i not in failed]

    # -- followups (see shared.jobs.continuations) ------------------------------------------------
    def followups_due(self, before: datetime, limit: int) -> list[Followup]:
        """Followup notes written before `before` and not yet done (their worker died, or failed)."""
        keys: list[dict[str, Any]] = []
        for shard in range(DUE_SHARDS):
            page = self._call(
                self.db.query, TableName=self.table, IndexName="by_due", Limit=limit,
                KeyConditionExpression="due_pk = :p AND due_at < :t",
                ExpressionAttributeValues=aws.values({":p": f"CONT#{shard}", ":t": iso(before)}))
            keys += page.get("Items", [])
        out = []
        for a in (aws.from_item(i) for i in self._get_many(keys)):
            out.append(Followup(kind=a["kind"], job_id=a["job_id"], tenant=a["tenant"], run=int(a["run"]),
                                created_at=datetime.fromisoformat(a["created_at"]), data=json.loads(a["data"])))
        return out

    def followup_done(self, followup: Followup) -> None:
        self._call(self.db.delete_item, TableName=self.table, Key=aws.to_item(
            {"pk": f"JOB#{followup.job_id}", "sk": f"CONT#{followup.run}#{followup.kind}"}))

    # -- API state changes -----------------------------------------------------------------------
    def transition(self, record: JobRecord, expected: set[Status], *, what: str,
                   owes: Owes = lambda _: ()) -> Sequence[Effect]:
        """Replace a job's state if its status is still one of `expected` (cancel, retry, redrive, sweep);
        a terminal state brings what it owes along (`owes(record)`: a cancel, a crash loop's dead letter).
        Returns what was owed; Conflict when the status moved on."""
        names = {f":s{i}": s.value for i, s in enumerate(sorted(expected))}
        while True:
            owed = owes(record)
            put = self._job_put(record, f"#s IN ({', '.join(names)})", names)
            try:
                self._write_with_effects([{"Put": put}], owed)
                return owed
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise Unavailable(f"{what} failed: {exc.response['Error']['Code']}") from exc
            refreshed = self._refreshed(record, lambda c: c.status in expected)
            if refreshed is None:
                raise Conflict(f"cannot {what} job {record.id}: its status changed")
            record = refreshed

    # -- plumbing --------------------------------------------------------------------------------
    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the job store is unavailable: {type(exc).__name__}") from exc
