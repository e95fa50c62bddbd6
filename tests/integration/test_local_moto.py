"""The local cloud's moto server (`local.moto_server`) over HTTP: DynamoDB transactions stay all-or-nothing,
cost the same whatever the table holds, and concurrent requests never fail with moto's internal errors
(stock moto deep-copies whole tables per transaction item and 500s when another thread writes meanwhile)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.cloud import _free_port, wait_http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db() -> Iterator[Any]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/moto-api/", 60)
        client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        yield client
    finally:
        proc.terminate()
        proc.wait(10)


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def put(pk: str, **attrs: str) -> dict[str, Any]:
    return {"Put": {"TableName": "t", "Item": {**key(pk), **{k: {"S": v} for k, v in attrs.items()}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}


def test_a_failed_transaction_changes_none_of_its_items_and_nothing_else(db: Any) -> None:
    db.put_item(TableName="t", Item={**key("kept"), "v": {"S": "1"}})
    db.put_item(TableName="t", Item={**key("bystander"), "v": {"S": "1"}})
    with pytest.raises(ClientError) as failed:
        db.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": key("kept"), "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "2"}}}},
            put("created"),
            {"ConditionCheck": {"TableName": "t", "Key": key("absent"), "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert db.get_item(TableName="t", Key=key("kept"))["Item"]["v"] == {"S": "1"}
    assert "Item" not in db.get_item(TableName="t", Key=key("created"))
    assert db.get_item(TableName="t", Key=key("bystander"))["Item"]["v"] == {"S": "1"}
    # And a transaction that succeeds writes all of its items
    db.transact_write_items(TransactItems=[put("both-1"), put("both-2")])
    assert all("Item" in db.get_item(TableName="t", Key=key(k)) for k in ("both-1", "both-2"))


def test_concurrent_transactions_writes_and_queries_never_fail(db: Any) -> None:
    def work(i: int) -> None:
        db.transact_write_items(TransactItems=[put(f"c{i}-{j}") for j in range(3)])
        db.put_item(TableName="t", Item=key(f"p{i}"))
        db.scan(TableName="t", Limit=50)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(160)))  # raises the first failure
    assert "Item" in db.get_item(TableName="t", Key=key("c159-2"))


def test_a_transaction_costs_the_same_on_a_large_table(db: Any) -> None:
    def timed() -> float:
        started = time.perf_counter()
        for i in range(10):
            db.transact_write_items(TransactItems=[put(f"t{time.time_ns()}-{i}-{j}") for j in range(3)])
        return time.perf_counter() - started

    small = timed()
    for start in range(0, 3000, 25):  # 3,000 items of 1 KB (stock moto: ~0.5 s per transaction after this)
        db.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**key(f"fill{start + i}"),
                                                                         "body": {"S": "y" * 1000}}}}
                                                for i in range(25)]})
    large = timed()
    assert large < max(3 * small, 1.0), (small, large)


def _server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Any]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    assert wait_http(f"http://127.0.0.1:{port}/moto-api/", 60)
    return proc, boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")


EVERY_TYPE = {"pk": {"S": "p#1"}, "sk": {"S": "2026-12-02T12:00:00Z"}, "n": {"N": "12.50"}, "b": {"B": b"\x00\xffraw"},
              "bool": {"BOOL": False}, "null": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
              "bs": {"BS": [b"\x01", b"\x02"]}, "list": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x03"}, {"L": []}]},
              "map": {"M": {"inner": {"M": {"deep": {"B": b"\x04"}, "s": {"S": "ü"}}}, "empty": {"M": {}}}}}


def test_reads_answer_exactly_as_motos_generic_serializer_does() -> None:
    # Given the same table and items on a server with the fast reads and one with moto's generic serializer
    servers = [_server({}), _server({"STEADFAST_MOTO_GENERIC_READS": "1"})]
    try:
        answers: list[list[Any]] = []
        for _, db in servers:
            db.create_table(TableName="r", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"},
                                                  {"AttributeName": "g", "AttributeType": "S"}],
                            GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                                     "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                   {"AttributeName": "sk", "KeyType": "RANGE"}]}])
            for i in range(5):
                db.put_item(TableName="r", Item={**EVERY_TYPE, "sk": {"S": f"s{i}"}, "g": {"S": "G"}})
            for i in (7, 2, 9, 0, 11, 4):  # other partitions, written out of order: a scan sorts them
                db.put_item(TableName="r", Item={"pk": {"S": f"p#{i}"}, "sk": {"S": f"s{i % 3}"}, "n": {"N": str(i)}})
            key = {"pk": {"S": "p#1"}, "sk": {"S": "s1"}}
            # When each is read every way the engine reads
            answers.append([
                db.get_item(TableName="r", Key=key, ConsistentRead=True)["Item"],
                db.get_item(TableName="r", Key={"pk": {"S": "none"}, "sk": {"S": "x"}}).get("Item"),
                db.query(TableName="r", KeyConditionExpression="pk = :p", Limit=2,
                         ExpressionAttributeValues={":p": {"S": "p#1"}}),
                db.query(TableName="r", IndexName="by_g", KeyConditionExpression="g = :g AND sk <= :s",
                         ScanIndexForward=False, ProjectionExpression="pk, sk, #m.inner",
                         ExpressionAttributeNames={"#m": "map"},
                         ExpressionAttributeValues={":g": {"S": "G"}, ":s": {"S": "s3"}}),
                db.scan(TableName="r", Limit=3),
                db.scan(TableName="r", ProjectionExpression="pk, sk"),
                db.batch_get_item(RequestItems={"r": {"Keys": [key, {"pk": {"S": "p#1"}, "sk": {"S": "s4"}}]}}),
                db.transact_get_items(TransactItems=[{"Get": {"TableName": "r", "Key": key}}])["Responses"],
            ])
        for answer in answers:
            for a in answer:
                if isinstance(a, dict):
                    a.pop("ResponseMetadata", None)
        # Then both answer the same, binary, sets, nesting, paging keys and counts included
        fast, generic = answers
        assert fast == generic
        assert fast[0]["b"] == {"B": b"\x00\xffraw"} and fast[0]["map"]["M"]["inner"]["M"]["deep"] == {"B": b"\x04"}
        assert fast[2]["Count"] == 2 and "LastEvaluatedKey" in fast[2]
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(10)
