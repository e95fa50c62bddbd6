"""boto3 clients, built once per process. `AWS_ENDPOINT_URL` (moto, LocalStack) is honoured by botocore
itself; the retry mode is set explicitly so that a throttled call backs off with the SDK's own quota."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

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
