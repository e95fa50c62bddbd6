"""The inverter registry on DynamoDB: an inverter's registration, its latest reading and its poll state
(next due time, consecutive failures) on one item, so that `GET /v1/inverters/{id}` is one read.

Keys: `INV#<id>`/`INV`; a guard item `SERIAL#<tenant>#<brand>#<serial>` keeps a serial registered once
per tenant, and `OWNER#<brand>#<serial>` one tenant's under the stage's shared connection. Connections
live on this table too (`shared.telemetry.connection_store`). Indexes: `by_tenant` (list) and
`by_next_poll`, a sparse index sharded over POLL_SHARDS
partitions so that the poller reads what is due with queries, never a scan.

The poller writes poll state with BatchWriteItem (full-item puts, 25 per call) rather than one
UpdateItem per device: 10,000 devices cost 400 calls instead of 10,000. That is safe because a
registration never changes after create (the API has no update), and only the poller writes poll
state, one cycle at a time (see `shared.telemetry.poller`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Conflict, NotFound, Unavailable
from shared.pages import PageQuery
from shared.telemetry import batch_writes
from shared.telemetry.models import Brand, InverterPage, InverterRecord, Reading, iso
from shared.telemetry.rollups import OpenBuckets

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

POLL_SHARDS = 4


def poll_shard(inverter_id: str) -> str:
    return f"POLL#{sum(inverter_id.encode()) % POLL_SHARDS}"


def to_attributes(r: InverterRecord) -> dict[str, Any]:
    return {
        "pk": f"INV#{r.id}", "sk": "INV", "id": r.id, "tenant": r.tenant, "brand": r.brand.value,
        "serial": r.serial, "device_type": r.device_type, "name": r.name, "poll_interval_s": r.poll_interval_s,
        "created_at": iso(r.created_at), "next_poll_at": iso(r.next_poll_at), "poll_pk": poll_shard(r.id),
        "tenant_pk": f"T#{r.tenant}", "created_sk": f"{iso(r.created_at)}#{r.id}",
        "latest": r.latest.model_dump_json() if r.latest else None, "failures": r.failures,
        "last_error": r.last_error, "last_polled_at": iso(r.last_polled_at) if r.last_polled_at else None,
        "latitude": _decimal(r.latitude), "longitude": _decimal(r.longitude),
        "buckets": r.buckets.model_dump_json() if r.buckets else None,
        "connection_id": r.connection_id,
    }


def _decimal(v: float | None) -> Decimal | None:
    return Decimal(str(v)) if v is not None else None


def _dt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v).astimezone(UTC) if v else None


def from_attributes(a: dict[str, Any]) -> InverterRecord:
    return InverterRecord(
        id=a["id"], tenant=a["tenant"], brand=Brand(a["brand"]), serial=a["serial"], device_type=a.get("device_type"),
        name=a.get("name"), poll_interval_s=int(a["poll_interval_s"]), created_at=_dt(a["created_at"]),
        next_poll_at=_dt(a["next_poll_at"]), failures=int(a.get("failures", 0)), last_error=a.get("last_error"),
        latest=Reading.model_validate_json(a["latest"]) if a.get("latest") else None,
        last_polled_at=_dt(a.get("last_polled_at")),
        latitude=float(a["latitude"]) if a.get("latitude") is not None else None,
        longitude=float(a["longitude"]) if a.get("longitude") is not None else None,
        buckets=OpenBuckets.model_validate_json(a["buckets"]) if a.get("buckets") else None,
        connection_id=a.get("connection_id"))


class InverterStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    def create(self, record: InverterRecord) -> InverterRecord:
        """Under the shared connection a third guard, `OWNER#<brand>#<serial>`, makes a serial one tenant's:
        the stage's credentials read every device they see, so whoever registered it first owns it."""
        guards = [{"pk": self._serial_pk(record.tenant, record.brand, record.serial), "sk": "SERIAL", "id": record.id}]
        if record.connection_id is None:
            guards.append({"pk": self._owner_pk(record.brand, record.serial), "sk": "OWNER", "id": record.id,
                           "tenant": record.tenant})
        items = [aws.to_item(to_attributes(record)), *(aws.to_item(g) for g in guards)]
        try:
            self.db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
                for item in items])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    raise Conflict(f"{record.brand} serial {record.serial!r} is already registered") from exc
                raise Conflict(f"{record.brand} serial {record.serial!r} belongs to another tenant under the "
                               "stage's shared connection; register it through a connection of your own "
                               "(connection_id)") from exc
            raise Unavailable(f"registering the inverter failed: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable("the inverter store is unavailable") from exc
        return record

    def find_serial(self, tenant: str, brand: Brand, serial: str) -> InverterRecord | None:
        guard = self._get(self._serial_pk(tenant, brand, serial), "SERIAL")
        return self.get(tenant, guard["id"]) if guard else None

    def find(self, inverter_id: str) -> InverterRecord | None:
        """Any tenant's inverter, for callers that check the owner themselves (the stream app)."""
        if not inverter_id.startswith("inv_") or len(inverter_id) > 64:
            return None
        item = self._get(f"INV#{inverter_id}", "INV")
        return from_attributes(item) if item else None

    def get(self, tenant: str, inverter_id: str) -> InverterRecord:
        """A tenant's inverter; another tenant's is indistinguishable from a missing one."""
        record = self.find(inverter_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"no inverter {inverter_id!r}")
        return record

    def list_for_tenant(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[InverterRecord], str | None]:
        pk = f"T#{tenant}"
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": "by_tenant", "Limit": limit,
                                  "KeyConditionExpression": "tenant_pk = :pk",
                                  "ExpressionAttributeValues": aws.values({":pk": pk})}
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "tenant_pk", pk, "created_sk", item_prefix="INV#")
        page = self._call(self.db.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        records = [from_attributes(aws.from_item(i)) for i in page.get("Items", [])]
        return records, aws.encode_cursor(last) if last else None

    def page(self, tenant: str, query: PageQuery) -> InverterPage:
        """`GET /v1/inverters`, as the API and the dashboard serve it."""
        records, next_cursor = self.list_for_tenant(tenant, query.limit, query.cursor)
        return InverterPage(items=[r.public() for r in records], next_cursor=next_cursor)

    def due(self, before: datetime, limit: int) -> list[InverterRecord]:
        """Inverters whose next poll is at or before `before`, soonest first within each shard.

        Each shard gets an equal share of `limit`, so that a backlog in one cannot starve the others."""
        out: list[InverterRecord] = []
        share = -(-limit // POLL_SHARDS)
        for shard in range(POLL_SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self.table, "IndexName": "by_next_poll",
                "KeyConditionExpression": "poll_pk = :p AND next_poll_at <= :t",
                "ExpressionAttributeValues": aws.values({":p": f"POLL#{shard}", ":t": iso(before)})}
            taken = 0
            while taken < share:
                page = self._call(self.db.query, Limit=share - taken, **kwargs)
                items = [from_attributes(aws.from_item(i)) for i in page.get("Items", [])]
                out += items
                taken += len(items)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    def save_poll_state(self, records: list[InverterRecord]) -> int:
        """Write latest reading and poll state of polled inverters; returns the DynamoDB calls made."""
        return batch_writes.put_all(self.db, self.table, [aws.to_item(to_attributes(r)) for r in records])

    # -- plumbing --------------------------------------------------------------------------------
    @staticmethod
    def _owner_pk(brand: Brand, serial: str) -> str:
        return f"OWNER#{brand.value}#{serial}"

    @staticmethod
    def _serial_pk(tenant: str, brand: Brand, serial: str) -> str:
        return f"SERIAL#{tenant}#{brand.value}#{serial}"

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._call(self.db.get_item, TableName=self.table, Key=aws.to_item({"pk": pk, "sk": sk})).get("Item")
        return aws.from_item(item) if item else None

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the inverter store is unavailable: {type(exc).__name__}") from exc
