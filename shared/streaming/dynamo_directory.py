"""The inverter directory on the telemetry inverter table (`shared.telemetry.inverter_store`): one
GetItem gives an inverter's owner and its latest reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.pages import PageQuery
from shared.streaming.directory import Owner
from shared.telemetry.inverter_store import InverterStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

class DynamoDirectory:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.store = InverterStore(table, client)

    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        record = self.store.find(inverter_id)
        if record is None:
            return None
        return record.tenant, record.latest.model_dump(mode="json") if record.latest else None

    def page(self, tenant: str, query: PageQuery) -> dict[str, Any]:
        return self.store.page(tenant, query).model_dump(mode="json")
