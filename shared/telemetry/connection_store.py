"""Connections on the inverters table (no table of their own: they are few, and read with the inverters).

Keys: `CON#<id>`/`CON`; listed per tenant through the `by_tenant` index under `TC#<tenant>`, apart from
the tenant's inverters (`T#<tenant>`). The credentials are stored sealed only (`shared.telemetry.vault`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import NotFound, Unavailable
from shared.telemetry.connections import ConnectionRecord, Device
from shared.telemetry.models import Brand, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_BATCH_GET = 100  # DynamoDB's limit per BatchGetItem


def _attributes(r: ConnectionRecord) -> dict[str, Any]:
    return {"pk": f"CON#{r.id}", "sk": "CON", "id": r.id, "tenant": r.tenant, "brand": r.brand.value,
            "name": r.name, "devices": json.dumps([d.model_dump() for d in r.devices]),
            "sealed_credentials": r.sealed_credentials, "created_at": iso(r.created_at), "status": r.status,
            "tenant_pk": f"TC#{r.tenant}", "created_sk": f"{iso(r.created_at)}#{r.id}"}


def _record(a: dict[str, Any]) -> ConnectionRecord:
    return ConnectionRecord(
        id=a["id"], tenant=a["tenant"], brand=Brand(a["brand"]), name=a.get("name"),
        devices=[Device.model_validate(d) for d in json.loads(a.get("devices") or "[]")],
        sealed_credentials=a["sealed_credentials"], status=a.get("status", "active"),
        created_at=datetime.fromisoformat(a["created_at"]).astimezone(UTC))


class ConnectionStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    def create(self, record: ConnectionRecord) -> ConnectionRecord:
        self._call(self.db.put_item, TableName=self.table, Item=aws.to_item(_attributes(record)),
                   ConditionExpression="attribute_not_exists(pk)")
        return record

    def get(self, tenant: str, connection_id: str) -> ConnectionRecord:
        """A tenant's connection; another tenant's is indistinguishable from a missing one."""
        record = self.find(connection_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"no connection {connection_id!r}")
        return record

    def find(self, connection_id: str) -> ConnectionRecord | None:
        if not connection_id.startswith("con_") or len(connection_id) > 64:
            return None
        item = self._call(self.db.get_item, TableName=self.table,
                          Key=aws.to_item({"pk": f"CON#{connection_id}", "sk": "CON"})).get("Item")
        return _record(aws.from_item(item)) if item else None

    def find_many(self, connection_ids: set[str]) -> dict[str, ConnectionRecord]:
        """The connections that exist among `connection_ids` (BatchGetItem, 100 keys a call)."""
        ids, out = sorted(i for i in connection_ids if i.startswith("con_")), {}
        for start in range(0, len(ids), _BATCH_GET):
            keys: list[Any] = [aws.to_item({"pk": f"CON#{i}", "sk": "CON"}) for i in ids[start:start + _BATCH_GET]]
            request: dict[str, Any] = {self.table: {"Keys": keys}}
            for _ in range(6):
                page = self._call(self.db.batch_get_item, RequestItems=request)
                for item in page.get("Responses", {}).get(self.table, []):
                    record = _record(aws.from_item(item))
                    out[record.id] = record
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def list_for_tenant(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[ConnectionRecord], str | None]:
        pk = f"TC#{tenant}"
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": "by_tenant", "Limit": limit,
                                  "KeyConditionExpression": "tenant_pk = :pk",
                                  "ExpressionAttributeValues": aws.values({":pk": pk})}
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "tenant_pk", pk, "created_sk", item_prefix="CON#")
        page = self._call(self.db.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        return [_record(aws.from_item(i)) for i in page.get("Items", [])], aws.encode_cursor(last) if last else None

    def delete(self, tenant: str, connection_id: str) -> None:
        self.get(tenant, connection_id)
        self._call(self.db.delete_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"CON#{connection_id}", "sk": "CON"}))

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the connection store is unavailable: {type(exc).__name__}") from exc
