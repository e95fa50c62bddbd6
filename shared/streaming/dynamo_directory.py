"""The inverter directory on the telemetry inverter table (`shared.telemetry.inverter_store`): one
GetItem gives an inverter's owner and its latest reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import aws
from shared.streaming.directory import Owner
from shared.telemetry.inverter_store import InverterStore, from_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LIST_LIMIT = 100


class DynamoDirectory:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.store = InverterStore(table, client)

    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        if not inverter_id.startswith("inv_") or len(inverter_id) > 64:
            return None
        item = self.store._call(self.store.db.get_item, TableName=self.store.table,
                                Key=aws.to_item({"pk": f"INV#{inverter_id}", "sk": "INV"})).get("Item")
        if item is None:
            return None
        record = from_attributes(aws.from_item(item))
        return record.tenant, record.latest.model_dump(mode="json") if record.latest else None

    def list_for_tenant(self, tenant: str) -> list[dict[str, Any]]:
        records, _ = self.store.list_for_tenant(tenant, LIST_LIMIT, None)
        return [r.public().model_dump(mode="json") for r in records]

