"""The local cloud's moto server (`local.moto_server`) over HTTP: DynamoDB transactions stay all-or-nothing,
cost the same whatever the table holds, and concurrent requests never fail with moto's internal errors
(stock moto deep-copies whole tables per transaction item and 500s when another thread writes meanwhile)."""

from __future__ import annotations

import os
import socket
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


def _pages(db: Any, **kwargs: Any) -> list[Any]:
    pages = [db.query(**kwargs)]
    while "LastEvaluatedKey" in pages[-1]:
        pages.append(db.query(**kwargs, ExclusiveStartKey=pages[-1]["LastEvaluatedKey"]))
    for page in pages:
        page.pop("ResponseMetadata", None)
    return pages


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
                            GlobalSecondaryIndexes=[{"IndexName": name, "Projection": {"ProjectionType": projection},
                                                     "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                   {"AttributeName": "sk", "KeyType": "RANGE"}]}
                                                    for name, projection in (("by_g", "ALL"),
                                                                             ("by_g_keys", "KEYS_ONLY"))])
            for i in range(5):
                db.put_item(TableName="r", Item={**EVERY_TYPE, "sk": {"S": f"s{i}"}, "g": {"S": "G"}})
            for i in (7, 2, 9, 0, 11, 4):  # other partitions, written out of order: a scan sorts them
                db.put_item(TableName="r", Item={"pk": {"S": f"p#{i}"}, "sk": {"S": f"s{i % 3}"}, "n": {"N": str(i)}})
            for i in (5, 3, 8):  # in the index under other keys and under G, in other partitions
                db.put_item(TableName="r", Item={"pk": {"S": f"p#{i}"}, "sk": {"S": f"s{i}"}, "g": {"S": f"G{i % 2}"}})
                db.put_item(TableName="r", Item={"pk": {"S": f"q#{i}"}, "sk": {"S": "s2"}, "g": {"S": "G"}})
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
                # every query the engine makes lists one partition or one index key (local.moto_server._query)
                _pages(db, TableName="r", IndexName="by_g", KeyConditionExpression="g = :g", Limit=3,
                        ExpressionAttributeValues={":g": {"S": "G"}}),
                db.query(TableName="r", IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "G1"}}),
                db.query(TableName="r", IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "nowhere"}}),
                _pages(db, TableName="r", KeyConditionExpression="pk = :p AND begins_with(sk, :s)", Limit=2,
                        ScanIndexForward=False, ExpressionAttributeValues={":p": {"S": "p#1"}, ":s": {"S": "s"}}),
                db.query(TableName="r", KeyConditionExpression="pk = :p", FilterExpression="attribute_exists(g)",
                         ExpressionAttributeValues={":p": {"S": "p#3"}}),
                db.query(TableName="r", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "x"}}),
                _pages(db, TableName="r", IndexName="by_g_keys", KeyConditionExpression="g = :g", Limit=3,
                       ExpressionAttributeValues={":g": {"S": "G"}}),
                db.query(TableName="r", IndexName="by_g_keys", KeyConditionExpression="g = :g AND sk > :s",
                         FilterExpression="begins_with(pk, :q)", ProjectionExpression="pk",
                         ExpressionAttributeValues={":g": {"S": "G"}, ":s": {"S": "s1"}, ":q": {"S": "q"}}),
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
        by_g = [(i["sk"]["S"], i["pk"]["S"]) for page in fast[8] for i in page["Items"]]
        assert by_g == [("s0", "p#1"), ("s1", "p#1"), ("s2", "p#1"), ("s2", "q#3"), ("s2", "q#5"), ("s2", "q#8"),
                        ("s3", "p#1"), ("s4", "p#1")], by_g
        assert [i["sk"]["S"] for page in fast[11] for i in page["Items"]] == ["s4", "s3", "s2", "s1", "s0"]
        keys = [i for page in fast[14] for i in page["Items"]]
        assert [(i["sk"]["S"], i["pk"]["S"]) for i in keys] == by_g and all(set(i) == {"pk", "sk", "g"} for i in keys)
        assert [i["pk"]["S"] for i in fast[15]["Items"]] == ["q#3", "q#5", "q#8"]
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(10)


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_connections_are_kept_alive_and_a_body_left_unread_does_not_desync_them(db: Any) -> None:
    # Given one connection to the server
    port = int(db.meta.endpoint_url.rsplit(":", 1)[1])
    list_tables = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
                   b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nAuthorization: AWS4-HMAC-SHA256 "
                   b"Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x\r\n"
                   b"Content-Length: 2\r\n\r\n{}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # When it carries a request, then one whose body the application never reads, then another
        first = _exchange(sock, list_tables)
        ignored = _exchange(sock, b"GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Length: 11\r\n\r\nnot read 11")
        last = _exchange(sock, list_tables)
    # Then each is answered on it, in order, and none closes it
    for answer in (first, ignored, last):
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"connection: close" not in answer.lower()
    assert b'"TableNames": ["t"' in first and last.endswith(first.partition(b"\r\n\r\n")[2])
