"""boto3 clients, built once per process. `AWS_ENDPOINT_URL` (moto, LocalStack) is honoured by botocore
itself; the retry mode is set explicitly so that a throttled call backs off with the SDK's own quota."""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from shared.errors import BadRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10,
                 max_pool_connections=50)
_ser = TypeSerializer()
_deser = TypeDeserializer()


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def sqs() -> SQSClient:
    return boto3.client("sqs", config=_CONFIG)


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deser.deserialize(v) for k, v in item.items()}


def values(values: dict[str, Any]) -> dict[str, Any]:
    """Expression attribute values, serialized."""
    return {k: _ser.serialize(v) for k, v in values.items()}


def encode_cursor(key: dict[str, Any]) -> str:
    """A query's LastEvaluatedKey as an opaque page cursor."""
    return base64.urlsafe_b64encode(json.dumps(from_item(key), separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, pk_name: str, pk: str, sk_name: str = "sk", sk_prefix: str = "",
                  item_prefix: str = "") -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for, provided it names a position in partition `pk`: a
    cursor crafted for another tenant's partition is refused. It must also be a key DynamoDB takes for this
    query, or the query fails with a ValidationException (a 5xx for bad input): exactly the table's key
    (`pk`, `sk`) and the index's (`pk_name`, `sk_name`), non-empty strings, and for a query of `begins_with(sk,
    sk_prefix)` a sort key inside that range. With `item_prefix` the table key must name one of this list's
    items (`JOB#…`): another list's cursor has the same shape in the same tenant partition of another table."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not one this API returned") from exc
    if (not isinstance(raw, dict) or raw.get(pk_name) != pk or set(raw) != {"pk", "sk", pk_name, sk_name}
            or not all(isinstance(v, str) and v for v in raw.values())
            or not raw[sk_name].startswith(sk_prefix) or not raw["pk"].startswith(item_prefix)):
        raise BadRequest("cursor is not one this API returned for this query")
    return to_item(raw)
