"""Closed history buckets on DynamoDB: `S#<inverter id>#<step>` / bucket start (RFC 3339), one item per
bucket, expired per step (`rollups.RETENTION`), long after the raw readings. The open buckets live on
the inverter item (see `shared.telemetry.rollups`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Unavailable
from shared.telemetry import batch_writes
from shared.telemetry.models import iso
from shared.telemetry.rollups import RETENTION, Bucket, Step

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ClosedBucket = tuple[str, Step, Bucket]  # inverter id, step, bucket


def _sk(start: int) -> str:
    return iso(datetime.fromtimestamp(start, UTC))


class RollupStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    def put_closed(self, closed: Sequence[ClosedBucket]) -> int:
        """Write closed buckets (full puts: writing one again is harmless); returns DynamoDB calls made."""
        items = [aws.to_item({
            "pk": f"S#{inverter_id}#{step.value}", "sk": _sk(bucket.start), "b": bucket.model_dump_json(),
            "expires_at": int(bucket.start + RETENTION[step].total_seconds())}) for inverter_id, step, bucket in closed]
        return batch_writes.put_all(self.db, self.table, items)

    def closed(self, inverter_id: str, step: Step, start: int, end: int) -> list[Bucket]:
        """Closed buckets starting in [start, end), oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": aws.values({":pk": f"S#{inverter_id}#{step.value}", ":a": _sk(start),
                                                     ":b": _sk(end - 1)})}
        out: list[Bucket] = []
        while True:
            try:
                page = self.db.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise Unavailable(f"the history store is unavailable: {type(exc).__name__}") from exc
            out += [Bucket.model_validate_json(aws.from_item(i)["b"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
