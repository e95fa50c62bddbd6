"""The local moto's fast write path (`local.moto_writes`), in one process against moto's own code: the compiled
parser gives what moto's generic JSONParser gives, or hands the request back to it; item sizes, DynamoType
construction and the 400 KB item limit come out as moto computes them."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from moto.core.parse import JSONParser
from moto.core.utils import get_service_model
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from local import moto_writes
from local.moto_writes import NotFast, WriteParser


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


EVERY_TYPE: dict[str, Any] = {
    "pk": {"S": "p#1"}, "sk": {"S": "s"}, "empty": {"S": ""}, "n": {"N": "12.50"}, "big": {"N": "1E+125"},
    "neg": {"N": "-0.000"}, "b": {"B": b64(b"\x00\xffraw")}, "bool": {"BOOL": False}, "null": {"NULL": True},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b64(b"\x01"), b64(b"\x02\x03")]},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"B": b64(b"\x03")}, {"L": []}, {"M": {}}, {"BS": [b64(b"z")]}]},
    "map": {"M": {"inner": {"M": {"deep": {"B": b64(b"\x04")}, "s": {"S": "ü"}}}, "empty": {"M": {}},
                  "newline": {"B": "AQ==\n"}}}, "unicode": {"S": "日本 ✓"},
}
KEY = {"pk": {"S": "p#1"}, "sk": {"S": "s"}}
VALUES = {":b": {"B": b64(b"\x09")}, ":bs": {"BS": [b64(b"\x08")]}, ":n": {"N": "1"}, ":l": {"L": [{"S": "x"}]}}

REQUESTS: list[tuple[str, Any]] = [
    ("PutItem", {"TableName": "t", "Item": EVERY_TYPE}),
    ("PutItem", {"Item": EVERY_TYPE, "TableName": "t", "ConditionExpression": "attribute_not_exists(pk)",
                 "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                 "ReturnConsumedCapacity": "TOTAL", "Unknown": 1, "Expected": None}),
    ("PutItem", {"TableName": "t", "Item": {**KEY, "two": {"S": "a", "N": "1"}, "none": {"S": None},
                                            "unknown": {"X": "1"}, "number": {"N": 5}, "nested": {"L": [{}]}}}),
    ("UpdateItem", {"TableName": "t", "Key": KEY, "UpdateExpression": "SET b = :b ADD bs :bs, n :n",
                    "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": VALUES,
                    "ExpressionAttributeNames": {"#x": "x"}, "ReturnValues": "ALL_NEW"}),
    ("UpdateItem", {"TableName": "t", "Key": KEY, "AttributeUpdates": {
        "a": {"Value": {"B": b64(b"a")}, "Action": "PUT"}, "c": {"Action": "DELETE"}},
        "Expected": {"pk": {"Value": {"S": "p#1"}, "ComparisonOperator": "EQ",
                            "AttributeValueList": [{"BS": [b64(b"\x00")]}]}}}),
    ("DeleteItem", {"TableName": "t", "Key": KEY, "ConditionExpression": "n = :n",
                    "ExpressionAttributeValues": VALUES, "ReturnValues": "ALL_OLD"}),
    ("BatchWriteItem", {"RequestItems": {
        "t": [{"PutRequest": {"Item": EVERY_TYPE}}, {"DeleteRequest": {"Key": KEY}}],
        "u": [{"PutRequest": {"Item": {"pk": {"B": b64(b"k")}}}}]}, "ReturnItemCollectionMetrics": "SIZE"}),
    ("TransactWriteItems", {"ClientRequestToken": "tok", "TransactItems": [
        {"Put": {"TableName": "t", "Item": EVERY_TYPE, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET l = list_append(l, :l)",
                    "ExpressionAttributeValues": VALUES}},
        {"Delete": {"TableName": "t", "Key": KEY}},
        {"ConditionCheck": {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]}),
    ("TransactWriteItems", {"TransactItems": []}),
    ("PutItem", {}),
]
# What the converters leave to moto's generic parser (which fails or answers in its own way)
GENERIC_ONLY: list[tuple[str, Any]] = [
    ("PutItem", {"TableName": "t", "Item": {**KEY, "b": {"B": "AQ"}}}),  # incorrect padding: binascii.Error
    ("PutItem", {"TableName": "t", "Item": {**KEY, "bs": {"BS": [None]}}}),
    ("PutItem", {"TableName": "t", "Item": {**KEY, "ss": {"SS": "abc"}}}),  # a string where a list belongs
    ("PutItem", {"TableName": "t", "Item": [KEY]}),
    ("PutItem", {"TableName": "t", "Item": {**KEY, "m": {"M": ["x"]}}}),
    ("BatchWriteItem", {"RequestItems": {"t": {"PutRequest": {}}}}),
    ("PutItem", []),
]


def generic(action: str, body: bytes) -> Any:
    parser = JSONParser(get_service_model("dynamodb").operation_model(action))
    return parser.parse({"body": body, "method": "POST", "values": {}, "headers": {},  # type: ignore[typeddict-item]
                         "url_path": "/", "url_params": {}})


def ordered(value: Any) -> Any:
    """The value with every dict as a list of its items: equality that also compares the order of keys."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


@pytest.mark.parametrize(("action", "request_body"), REQUESTS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(REQUESTS)])
def test_the_compiled_parser_gives_what_motos_generic_parser_gives(action: str, request_body: Any) -> None:
    body = json.dumps(request_body).encode()
    fast = WriteParser().parse(action, "application/x-amz-json-1.0", body)
    assert ordered(fast) == ordered(generic(action, body))


def test_binary_values_are_decoded_to_the_same_bytes_and_numbers_stay_strings() -> None:
    body = json.dumps({"TableName": "t", "Item": EVERY_TYPE}).encode()
    item = WriteParser().parse("PutItem", "application/x-amz-json-1.0", body)["Item"]
    assert item["b"] == {"B": b"\x00\xffraw"} and item["bs"] == {"BS": [b"\x01", b"\x02\x03"]}
    assert item["map"]["M"]["inner"]["M"]["deep"] == {"B": b"\x04"} and item["n"] == {"N": "12.50"}


@pytest.mark.parametrize(("action", "request_body"), GENERIC_ONLY,
                         ids=[f"{a}-{i}" for i, (a, _) in enumerate(GENERIC_ONLY)])
def test_what_the_converters_do_not_handle_goes_to_motos_parser(action: str, request_body: Any) -> None:
    with pytest.raises(NotFast):
        WriteParser().parse(action, "application/x-amz-json-1.0", json.dumps(request_body).encode())


def test_only_json_write_requests_are_parsed_fast() -> None:
    parser = WriteParser()
    with pytest.raises(NotFast):
        parser.parse("Query", "application/x-amz-json-1.0", b'{"TableName": "t"}')
    with pytest.raises(NotFast):
        parser.parse("PutItem", "application/x-www-form-urlencoded", b'{"TableName": "t"}')
    with pytest.raises(NotFast):
        parser.parse("PutItem", "application/x-amz-json-1.0", b'{"TableName": ')


def parsed_item(attrs: dict[str, Any]) -> dict[str, Any]:
    return WriteParser().parse("PutItem", "application/x-amz-json-1.0",  # type: ignore[no-any-return]
                               json.dumps({"TableName": "t", "Item": attrs}).encode())["Item"]


def test_sizes_and_types_are_motos_own() -> None:
    # Given every attribute type, as values and nested in lists and maps
    attrs = parsed_item({**EVERY_TYPE, "blist": {"L": [{"BOOL": True}, {"NULL": True}, {"NS": ["123", "-1.5"]}]}})
    for name, value in attrs.items():
        ours = DynamoType.__new__(DynamoType)
        # When each is built and measured by moto and by the fast path
        moto_writes.dynamo_type_init(ours, copy.deepcopy(value))
        theirs = DynamoType(copy.deepcopy(value))
        # Then both hold the same type tree and report the same size
        assert (ours.type, ours.to_json()) == (theirs.type, theirs.to_json()), name
        assert moto_writes.size(ours) == theirs.size(), name
    ours_item = Item.__new__(Item)
    moto_writes.item_init(ours_item, DynamoType(KEY["pk"]), DynamoType(KEY["sk"]), copy.deepcopy(attrs))
    theirs_item = Item(DynamoType(KEY["pk"]), DynamoType(KEY["sk"]), copy.deepcopy(attrs))
    assert ours_item.to_json() == theirs_item.to_json() and ours_item.size() == theirs_item.size()


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_item_size_limit_falls_where_moto_puts_it(extra: int) -> None:
    # Given an item that sums to moto's limit exactly, plus or minus one byte (sizes: key bytes + value bytes)
    head = {"pk": {"S": "p"}, "sk": {"S": "s"}, "n": {"N": "12"}}  # 3 + 3 + 3 bytes
    fill = moto_writes.ITEM_LIMIT - 9 - 4 + extra
    attrs = {**head, "fill": {"S": "y" * fill}}

    def build(init: Any) -> str:
        try:
            init(Item.__new__(Item), DynamoType(head["pk"]), DynamoType(head["sk"]), copy.deepcopy(attrs))
            return "stored"
        except ItemSizeTooLarge:
            return "too large"

    # When moto and the fast path build it, Then both draw the line at the same byte
    assert build(moto_writes.item_init) == build(Item.__init__)
    assert build(moto_writes.item_init) == ("too large" if extra > 0 else "stored")
