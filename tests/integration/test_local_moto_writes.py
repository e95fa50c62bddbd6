"""The local moto's fast write path over HTTP: a server with it and one with moto's own parser and item-size code
(`STEADFAST_MOTO_GENERIC_WRITES=1`) given the same writes store the same items and give the same answers and
errors, byte for byte for the requests no SDK would send."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from local.cloud import _free_port, wait_http

pytestmark = pytest.mark.integration

KEY = {"pk": {"S": "p#1"}, "sk": {"S": "s"}}
EVERY_TYPE: dict[str, Any] = {
    **KEY, "g": {"S": "G"}, "empty": {"S": ""}, "n": {"N": "12.50"}, "big": {"N": "1E+125"}, "b": {"B": b"\x00\xffraw"},
    "bool": {"BOOL": False}, "null": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]}, "list": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x03"}, {"L": []}, {"M": {}}]},
    "map": {"M": {"inner": {"M": {"deep": {"B": b"\x04"}, "s": {"S": "ü"}}}, "empty": {"M": {}}}},
}
VALUES = {":b": {"B": b"\x09"}, ":bs": {"BS": [b"\x08"]}, ":n": {"N": "1"}, ":l": {"L": [{"S": "y"}]}}
LIMIT = 405_000  # moto's item size limit (bytes of names and values)
# Bodies no SDK sends (each attribute of the item is the odd one): moto answers them with 400s and 500s
RAW = [{"b": {"B": "AQ"}}, {"b": {"B": "AQ==\n"}}, {"x": {"X": "1"}}, {"n": {"N": 5}}, {"two": {"S": "a", "N": "1"}},
       {"ss": {"SS": "abc"}}, {"none": {"S": None}}, {"bs": {"BS": [None]}}]


def _server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    assert wait_http(f"http://127.0.0.1:{port}/moto-api/", 60)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers() -> Iterator[list[str]]:
    started = [_server({}), _server({"STEADFAST_MOTO_GENERIC_WRITES": "1"})]
    try:
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(10)


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        answer = call()
    except ClientError as err:
        return {"error": err.response["Error"], "status": err.response["ResponseMetadata"]["HTTPStatusCode"],
                **{k: v for k, v in err.response.items() if k not in ("Error", "ResponseMetadata")}}
    answer.pop("ResponseMetadata", None)
    return answer


def _raw(url: str, action: str, body: bytes) -> tuple[int, str]:
    r = httpx.post(f"{url}/", content=body, headers={
        "X-Amz-Target": f"DynamoDB_20120810.{action}", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    return r.status_code, r.text


def _writes(url: str) -> list[Any]:
    """Every write operation, every attribute type, succeeding and failing its conditions; what each answered,
    then every item stored."""
    db = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
                    GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    db.create_table(TableName="u", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}])
    absent = "attribute_not_exists(pk)"
    key2 = {"pk": {"S": "p#2"}, "sk": {"S": "s"}}
    calls: list[Callable[[], Any]] = [
        lambda: db.put_item(TableName="t", Item=EVERY_TYPE, ConditionExpression=absent),
        lambda: db.put_item(TableName="t", Item=EVERY_TYPE, ConditionExpression=absent,  # the condition fails
                            ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        lambda: db.put_item(TableName="t", Item={**EVERY_TYPE, "n": {"N": "13"}}, ReturnValues="ALL_OLD"),
        lambda: db.put_item(TableName="t", Item={**KEY, "sk": {"S": ""}}),  # an empty key
        lambda: db.put_item(TableName="t", Item={"pk": {"N": "1"}, "sk": {"S": "s"}}),  # a key of the wrong type
        lambda: db.put_item(TableName="t", Item={**key2, "fill": {"S": "y" * (LIMIT - 12)}}),  # at the limit
        lambda: db.put_item(TableName="t", Item={**key2, "fill": {"S": "y" * (LIMIT - 11)}}),  # one byte over
        lambda: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET b = :b, l = list_append(#l, :l) "
                               "ADD bs :bs, ns :n REMOVE #e", ExpressionAttributeNames={"#l": "list", "#e": "empty"},
                               ExpressionAttributeValues={**VALUES, ":n": {"NS": ["7"]}}, ReturnValues="ALL_NEW"),
        lambda: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET n = n + :n", ConditionExpression="n > :n",
                               ExpressionAttributeValues={":n": {"N": "100"}},
                               ReturnValuesOnConditionCheckFailure="ALL_OLD"),  # fails
        lambda: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET n = n + :n",
                               ExpressionAttributeValues={":n": {"N": "0.5"}}, ReturnValues="UPDATED_OLD"),
        # the same expressions again (local.moto_expressions keeps their parse), with other values and names
        *[lambda v=v: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET n = n + :n",
                                     ConditionExpression="n > :n", ExpressionAttributeValues={":n": {"N": v}},
                                     ReturnValues="UPDATED_NEW")
          for v in ("1", "100", "2")],  # the second fails its condition
        *[lambda n=n: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET #a = :v",
                                     ConditionExpression="attribute_not_exists(#a) OR #a = :v",
                                     ExpressionAttributeNames={"#a": n}, ExpressionAttributeValues={":v": {"S": n}},
                                     ReturnValues="ALL_NEW") for n in ("label", "fresh", "label")],
        # and expressions that do not parse or name what the request does not define, each twice
        *[lambda e=e: db.update_item(TableName="t", Key=KEY, UpdateExpression=e,
                                     ExpressionAttributeValues={":b": VALUES[":b"]})
          for e in ("SET = :b", "SET b = :b,", "SET b = :nothing", "SET b = :b") * 2],
        *[lambda c=c: db.update_item(TableName="t", Key=KEY, UpdateExpression="SET b = :b", ConditionExpression=c,
                                     ExpressionAttributeValues={":b": VALUES[":b"]})
          for c in ("b >> :b", "#undefined = :b", "b = :b AND", "size(b) > :n") * 2],  # moto answers these 500
        lambda: db.update_item(TableName="t", Key=key2, AttributeUpdates={"a": {"Value": {"B": b"a"}, "Action": "PUT"}},
                               Expected={"pk": {"Exists": False}}),  # fails: the item exists
        lambda: db.delete_item(TableName="t", Key=KEY, ConditionExpression="b = :b",
                               ExpressionAttributeValues={":b": {"B": b"\x00"}}),  # fails
        lambda: db.batch_write_item(RequestItems={
            "t": [{"PutRequest": {"Item": {**EVERY_TYPE, "sk": {"S": f"b{i}"}}}} for i in range(20)]
            + [{"DeleteRequest": {"Key": key2}}],
            "u": [{"PutRequest": {"Item": {"pk": {"B": b"\x00k"}, "bs": {"BS": [b"1", b"2"]}}}}]}),
        lambda: db.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": KEY}}] * 2}),  # duplicates
        lambda: db.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {**EVERY_TYPE, "sk": {"S": "tx"}}, "ConditionExpression": absent}},
            {"Update": {"TableName": "u", "Key": {"pk": {"B": b"\x00k"}}, "UpdateExpression": "SET v = :b",
                        "ExpressionAttributeValues": {":b": VALUES[":b"]}}},
            {"ConditionCheck": {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_exists(pk)"}}]),
        lambda: db.transact_write_items(TransactItems=[  # cancelled: the put's condition fails
            {"Delete": {"TableName": "t", "Key": KEY}},
            {"Put": {"TableName": "t", "Item": {**EVERY_TYPE, "sk": {"S": "tx"}}, "ConditionExpression": absent,
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]),
        lambda: db.delete_item(TableName="t", Key={**KEY, "sk": {"S": "b3"}}, ReturnValues="ALL_OLD"),
    ]
    outcomes = [_outcome(call) for call in calls]
    outcomes += [_raw(url, "PutItem", json.dumps({"TableName": "t", "Item": {**KEY, "sk": {"S": f"raw{i}"}, **attr}})
                      .encode()) for i, attr in enumerate(RAW)]
    outcomes += [_raw(url, "PutItem", b"[1]"), _raw(url, "BatchWriteItem", b"{bad"), _raw(url, "UpdateItem", b"")]
    stored = [sorted(db.scan(TableName=t)["Items"], key=lambda i: json.dumps(i, sort_keys=True, default=str))
              for t in ("t", "u")]
    return [*outcomes, db.query(TableName="t", IndexName="by_g", KeyConditionExpression="g = :g",
                                ExpressionAttributeValues={":g": {"S": "G"}})["Items"], *stored]


def test_writes_store_and_answer_exactly_as_motos_generic_parser_does(servers: list[str]) -> None:
    # Given a server with the fast write path and one with moto's own, When each is given the same writes
    fast, generic = (_writes(url) for url in servers)
    # Then they answered alike, one by one, and stored the same items (binary values, sets, nesting included)
    for i, (ours, theirs) in enumerate(zip(fast, generic, strict=True)):
        assert ours == theirs, i
    *_, by_g, table_t, table_u = fast
    stored = {item["sk"]["S"]: item for item in table_t}
    assert stored["tx"]["b"] == {"B": b"\x00\xffraw"}
    assert stored["b0"]["map"]["M"]["inner"]["M"]["deep"] == {"B": b"\x04"}
    assert stored["s"]["bs"] == {"BS": [b"\x01", b"\x02", b"\x08"]} and stored["s"]["n"] == {"N": "16.5"}
    assert table_u[0]["v"] == {"B": b"\x09"} and len(by_g) == sum(1 for i in table_t if "g" in i) > 20
    codes = [o["error"]["Code"] for o in fast if isinstance(o, dict) and "error" in o]
    assert codes.count("ConditionalCheckFailedException") == 5 and "TransactionCanceledException" in codes
    assert codes.count("ValidationException") == 10  # among them the expressions that do not parse, twice
    assert fast[5] == {} and fast[6]["error"]["Message"] == "Item size has exceeded the maximum allowed size"

