"""The per-tenant rate limit against moto's DynamoDB: a quota per window counted with one conditional update,
refused beyond it with the draft's headers and `Retry-After`, per tenant, fresh in the next window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.tenant_limits import RateLimited, TenantRateLimit, parse_rate


@pytest.fixture
def table() -> str:
    # Unique: another test's moto state (in process or a server behind AWS_ENDPOINT_URL) may hold a "jobs".
    return f"jobs-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def db(table: str) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        yield client


def test_the_quota_of_a_window_then_429_then_a_fresh_window(db: Any, table: str) -> None:
    now = [1000.2]
    limit = TenantRateLimit(db, table, rate=50, burst=100, clock=lambda: now[0])
    decisions = [limit.check("acme") for _ in range(100)]
    assert decisions[0] is not None and decisions[0].headers() == {
        "RateLimit-Policy": '"tenant";q=100;w=2', "RateLimit": '"tenant";r=99;t=2'}
    assert decisions[-1] is not None and decisions[-1].headers()["RateLimit"] == '"tenant";r=0;t=2'
    with pytest.raises(RateLimited) as refused:
        limit.check("acme")
    assert refused.value.status == 429
    assert refused.value.headers == {"RateLimit-Policy": '"tenant";q=100;w=2', "RateLimit": '"tenant";r=0;t=2',
                                     "Retry-After": "2"}
    assert limit.check("other") is not None  # another tenant has its own
    now[0] = 1001.9
    with pytest.raises(RateLimited) as later:
        limit.check("acme")
    assert later.value.headers["Retry-After"] == "1"
    now[0] = 1002.0
    assert limit.check("acme") is not None


def test_an_unreachable_table_fails_open(db: Any) -> None:
    assert TenantRateLimit(db, "no-such-table").check("acme") is None


@pytest.mark.parametrize(("text", "rate"), [("50", 50.0), ("50/s", 50.0), ("3000/min", 50.0), ("0.5/s", 0.5)])
def test_rates_are_read_per_second(text: str, rate: float) -> None:
    assert parse_rate(text) == rate
