"""Sources, their events and dedup marks on DynamoDB (the `sources` table).

    pk            sk               what
    SRC#<id>      SOURCE           the source (sealed secret, destinations); by_tenant index lists a tenant's
    SRC#<id>      EVT#<evt id>     an event: headers, body (binary), delivery job ids; TTL = retention
    SRC#<id>      DEDUP#<sha256>   the provider's event id → first event id; TTL = the source's dedup window

An event, its dedup mark and its delivery jobs (in the jobs table) are written in one transaction: once the
provider is answered, the jobs exist, and a crash before they were enqueued leaves pending jobs that the
sweeper enqueues. There is no moment at which an event is stored but its deliveries are not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import NotFound, Unavailable
from shared.jobs.models import iso
from shared.jobs.record import JobRecord, to_attributes
from shared.sources.destinations import Destination
from shared.sources.records import EventRecord, SourceRecord, event_id_floor
from shared.sources.verify import Scheme

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SOURCE_SK = "SOURCE"


@dataclass(frozen=True)
class Stored:
    event_id: str
    duplicate: bool


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _reasons(exc: ClientError) -> list[str]:
    return [r.get("Code", "") for r in exc.response.get("CancellationReasons", [])]


def _source_item(r: SourceRecord) -> dict[str, Any]:
    return {"pk": f"SRC#{r.id}", "sk": SOURCE_SK, "id": r.id, "tenant": r.tenant, "name": r.name,
            "scheme": r.scheme.value, "tolerance_s": r.tolerance_s, "header": r.header,
            "sealed_secret": r.sealed_secret,
            "destinations": json.dumps([d.model_dump(mode="json") for d in r.destinations]),
            "dedup_window_s": r.dedup_window_s, "created_at": iso(r.created_at), "updated_at": iso(r.updated_at),
            "tenant_pk": f"T#{r.tenant}", "created_sk": f"{iso(r.created_at)}#{r.id}"}


def _source(a: dict[str, Any]) -> SourceRecord:
    return SourceRecord(
        id=a["id"], tenant=a["tenant"], name=a["name"], scheme=Scheme(a["scheme"]), tolerance_s=int(a["tolerance_s"]),
        header=a.get("header"), sealed_secret=a.get("sealed_secret"),
        destinations=[Destination.model_validate(d) for d in json.loads(a["destinations"])],
        dedup_window_s=int(a["dedup_window_s"]), created_at=a["created_at"], updated_at=a["updated_at"])


def _event_item(e: EventRecord, expires_at: datetime) -> dict[str, Any]:
    return {"pk": f"SRC#{e.source_id}", "sk": f"EVT#{e.id}", "id": e.id, "source_id": e.source_id,
            "tenant": e.tenant, "received_at": iso(e.received_at), "provider_event_id": e.provider_event_id,
            "dedup_key": e.dedup_key, "event_type": e.event_type, "content_type": e.content_type,
            "headers": json.dumps(e.headers), "body": e.body, "duplicates": e.duplicates, "job_ids": e.job_ids,
            "expires_at": _epoch(expires_at)}


def _event(a: dict[str, Any]) -> EventRecord:
    body = a.get("body", b"")
    return EventRecord(
        id=a["id"], source_id=a["source_id"], tenant=a["tenant"], received_at=a["received_at"],
        provider_event_id=a.get("provider_event_id"), dedup_key=a["dedup_key"], event_type=a.get("event_type"),
        content_type=a.get("content_type"), headers=json.loads(a.get("headers", "{}")),
        body=bytes(body.value if hasattr(body, "value") else body), duplicates=int(a.get("duplicates", 0)),
        job_ids=list(a.get("job_ids", [])))


def dedup_sk(key: str) -> str:
    return "DEDUP#" + hashlib.sha256(key.encode()).hexdigest()


class SourceStore:
    def __init__(self, table: str, jobs_table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.jobs_table = jobs_table
        self.db = client or aws.dynamodb()

    # -- sources ---------------------------------------------------------------------------------
    def put(self, record: SourceRecord, *, new: bool) -> None:
        condition = "attribute_not_exists(pk)" if new else "attribute_exists(pk) AND tenant = :t"
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": aws.to_item(_source_item(record)),
                                  "ConditionExpression": condition}
        if not new:
            kwargs["ExpressionAttributeValues"] = aws.values({":t": record.tenant})
        try:
            self.db.put_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"no source {record.id!r}") from exc
            raise Unavailable("the source store is unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("the source store is unavailable") from exc

    def find(self, source_id: str) -> SourceRecord | None:
        """Any tenant's source (the public ingest route knows only the id)."""
        if not source_id.startswith("src_") or len(source_id) > 64:
            return None
        item = self._call(self.db.get_item, TableName=self.table,
                          Key=aws.to_item({"pk": f"SRC#{source_id}", "sk": SOURCE_SK})).get("Item")
        return _source(aws.from_item(item)) if item else None

    def get(self, tenant: str, source_id: str) -> SourceRecord:
        record = self.find(source_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"no source {source_id!r}")
        return record

    def page(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[SourceRecord], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_tenant", "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "tenant_pk = :pk",
            "ExpressionAttributeValues": aws.values({":pk": f"T#{tenant}"})}
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "tenant_pk", f"T#{tenant}", "created_sk",
                                                            item_prefix="SRC#")
        page = self._call(self.db.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        return [_source(aws.from_item(i)) for i in page.get("Items", [])], aws.encode_cursor(last) if last else None

    def delete(self, tenant: str, source_id: str) -> None:
        """The source goes at once (its ingest URL answers 404); its events and marks expire by TTL."""
        self.get(tenant, source_id)
        self._call(self.db.delete_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"SRC#{source_id}", "sk": SOURCE_SK}))

    # -- events ----------------------------------------------------------------------------------
    def store_event(self, event: EventRecord, jobs: list[JobRecord], *, dedup_until: datetime | None,
                    expires_at: datetime) -> Stored:
        """Write a new event with its dedup mark and delivery jobs, all or nothing. A repeat of an event
        whose mark is still live writes nothing new: the first event's id comes back with duplicate=True."""
        # No read first: a new event costs one round trip (the provider waits for it), and a repeat is told
        # by the dedup mark's failed condition, then read (the local cloud's moto restores only a failed
        # transaction's own items, as DynamoDB does: local.moto_server).
        items: list[dict[str, Any]] = [{"Put": {
            "TableName": self.table, "Item": aws.to_item(_event_item(event, expires_at)),
            "ConditionExpression": "attribute_not_exists(pk)"}}]
        if dedup_until is not None:
            items.insert(0, {"Put": {
                "TableName": self.table,
                "Item": aws.to_item({"pk": f"SRC#{event.source_id}", "sk": dedup_sk(event.dedup_key),
                                     "event_id": event.id, "expires_at": _epoch(dedup_until)}),
                # DynamoDB's TTL deletes lazily (moto never): an expired mark is overwritten here.
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": aws.values({":now": _epoch(event.received_at)})}})
        items += [{"Put": {"TableName": self.jobs_table, "Item": aws.to_item(to_attributes(job)),
                           "ConditionExpression": "attribute_not_exists(pk)"}} for job in jobs]
        try:
            self.db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            return Stored(event.id, duplicate=False)
        except ClientError as exc:
            reasons = _reasons(exc)
            if dedup_until is None or not reasons or reasons[0] != "ConditionalCheckFailed":
                raise Unavailable(f"storing the event failed: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable("the event store is unavailable") from exc
        return Stored(self._count_duplicate(event, self._live_mark(event) or event.id), duplicate=True)

    def _live_mark(self, event: EventRecord) -> str | None:
        """The first event's id, if this event's dedup mark exists and has not expired."""
        out = self._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                         Key=aws.to_item({"pk": f"SRC#{event.source_id}", "sk": dedup_sk(event.dedup_key)}))
        mark = aws.from_item(out["Item"]) if "Item" in out else None
        if mark is None or int(mark["expires_at"]) < _epoch(event.received_at):
            return None
        return str(mark["event_id"])

    def _count_duplicate(self, event: EventRecord, first: str) -> str:
        # The count is informative; the duplicate is refused either way.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.db.update_item(TableName=self.table, Key=aws.to_item({"pk": f"SRC#{event.source_id}",
                                                                        "sk": f"EVT#{first}"}),
                                UpdateExpression="ADD duplicates :one", ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeValues=aws.values({":one": 1}))
        return first

    def event(self, source: SourceRecord, event_id: str) -> EventRecord:
        item = self._call(self.db.get_item, TableName=self.table,
                          Key=aws.to_item({"pk": f"SRC#{source.id}", "sk": f"EVT#{event_id[:64]}"})).get("Item")
        if item is None:
            raise NotFound(f"no event {event_id!r} in source {source.id}")
        return _event(aws.from_item(item))

    def events(self, source: SourceRecord, limit: int, cursor: str | None) -> tuple[list[EventRecord], str | None]:
        pk = f"SRC#{source.id}"
        kwargs: dict[str, Any] = {
            "TableName": self.table, "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
            "ExpressionAttributeValues": aws.values({":pk": pk, ":e": "EVT#"})}
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "pk", pk, sk_prefix="EVT#")
        page = self._call(self.db.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        return [_event(aws.from_item(i)) for i in page.get("Items", [])], aws.encode_cursor(last) if last else None

    def events_between(self, source: SourceRecord, since: datetime, until: datetime) -> list[EventRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": aws.values({
                ":pk": f"SRC#{source.id}", ":a": f"EVT#{event_id_floor(since)}",
                ":b": f"EVT#{event_id_floor(until + timedelta(milliseconds=1))}"})}
        out: list[EventRecord] = []
        while True:
            page = self._call(self.db.query, **kwargs)
            out += [_event(aws.from_item(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_jobs(self, event: EventRecord, job_ids: list[str]) -> None:
        if not job_ids:
            return
        self._call(self.db.update_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"SRC#{event.source_id}", "sk": f"EVT#{event.id}"}),
                   UpdateExpression="SET job_ids = list_append(if_not_exists(job_ids, :empty), :new)",
                   ExpressionAttributeValues=aws.values({":empty": [], ":new": job_ids}))

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the source store is unavailable: {type(exc).__name__}") from exc
