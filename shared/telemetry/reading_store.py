"""Reading history on DynamoDB: one item per reading (`R#<inverter id>` / RFC 3339 time), expired by
TTL after HISTORY_RETENTION. The latest reading also lives on the inverter item (`inverter_store`), so
that neither the API nor the stream app's snapshot needs a query for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Unavailable
from shared.telemetry import batch_writes
from shared.telemetry.models import Reading, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HISTORY_RETENTION = timedelta(days=7)


class ReadingStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    def append(self, readings: Sequence[Reading]) -> int:
        """Store readings (idempotent: one item per inverter and time); returns DynamoDB calls made."""
        items = [aws.to_item({
            "pk": f"R#{r.inverter_id}", "sk": iso(r.ts), "reading": r.model_dump_json(),
            "expires_at": int((r.ts + HISTORY_RETENTION).timestamp())}) for r in readings]
        return batch_writes.put_all(self.db, self.table, items)

    def history(self, inverter_id: str, since: datetime | None, limit: int) -> list[Reading]:
        """Oldest first: from `since` on when given, else the most recent `limit` readings."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": limit}
        if since is None:
            kwargs.update(KeyConditionExpression="pk = :pk", ScanIndexForward=False,
                          ExpressionAttributeValues=aws.values({":pk": f"R#{inverter_id}"}))
        else:
            kwargs.update(KeyConditionExpression="pk = :pk AND sk >= :since",
                          ExpressionAttributeValues=aws.values({":pk": f"R#{inverter_id}", ":since": iso(since)}))
        try:
            page = self.db.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the reading store is unavailable: {type(exc).__name__}") from exc
        readings = [Reading.model_validate_json(aws.from_item(i)["reading"]) for i in page.get("Items", [])]
        return readings if since is not None else readings[::-1]
