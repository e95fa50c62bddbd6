"""The inverter directory on the telemetry inverter table (`shared.telemetry.inverter_store`): one
GetItem gives an inverter's owner and its latest reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.streaming.directory import Owner
from shared.telemetry.inverter_store import InverterStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LIST_LIMIT = 100


class DynamoDirectory:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.store = InverterStore(table, client)

    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        record = self.store.find(inverter_id)
        if record is None:
            return None
        return record.tenant, record.latest.model_dump(mode="json") if record.latest else None

    def list_for_tenant(self, tenant: str) -> list[dict[str, Any]]:
        records, _ = self.store.list_for_tenant(tenant, LIST_LIMIT, None)
        return [r.public().model_dump(mode="json") for r in records]
