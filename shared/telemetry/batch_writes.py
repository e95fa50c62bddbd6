"""BatchWriteItem with the two things it leaves to the caller: 25 items per request, and retrying the
items DynamoDB hands back as unprocessed (throttling) with a growing pause."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_BATCH = 25  # DynamoDB's limit per BatchWriteItem
MAX_ROUNDS = 6
# Requests in flight at once: the boto3 client's pool holds 50 connections.
PARALLEL = 8


def put_all(db: DynamoDBClient, table: str, items: Sequence[dict[str, Any]]) -> int:
    """Put every item (already serialized); returns the number of BatchWriteItem calls made."""
    chunks = [items[i:i + MAX_BATCH] for i in range(0, len(items), MAX_BATCH)]
    if len(chunks) <= 1:
        return sum(_put_chunk(db, table, c) for c in chunks)
    with ThreadPoolExecutor(PARALLEL) as pool:
        return sum(pool.map(lambda c: _put_chunk(db, table, c), chunks))


def _put_chunk(db: DynamoDBClient, table: str, items: Sequence[dict[str, Any]]) -> int:
    pending: list[Any] = [{"PutRequest": {"Item": item}} for item in items]
    for calls in range(1, MAX_ROUNDS + 1):
        try:
            out = db.batch_write_item(RequestItems={table: pending})
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"writing to {table} failed: {type(exc).__name__}") from exc
        pending = list(out.get("UnprocessedItems", {}).get(table, []))
        if not pending:
            return calls
        time.sleep(min(1.0, 0.05 * 2 ** calls))
    raise Unavailable(f"{len(pending)} items to {table} stayed unprocessed after {MAX_ROUNDS} rounds")
