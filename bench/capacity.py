"""DynamoDB capacity of the calls the code under test makes, computed from the real items.

moto does not report consumed capacity faithfully, so this recorder watches every DynamoDB call made
through boto3's default session (the one `AwsCallCounter` counts) and, with a separate, uncounted
client, reads each written item before and after the write. The units then follow AWS's rules in
`bench.cost`: base-table WRU by item size (×2 inside a transaction) plus the global secondary index
writes the change causes; reads by the size of what came back.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench.cost import IndexSchema, gsi_write_units, item_size, read_units, write_units

_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


@dataclass
class Capacity:
    """Units by operation (`dynamodb.PutItem`, …), and a sample of per-item sizes for the report."""

    wru: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    gsi_wru: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rru: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    items: list[dict[str, Any]] = field(default_factory=list)

    def total_wru(self) -> float:
        return sum(self.wru.values()) + sum(self.gsi_wru.values())

    def total_rru(self) -> float:
        return sum(self.rru.values())

    def add(self, other: Capacity) -> None:
        """Add `other`'s units and items to these."""
        for mine, theirs in ((self.wru, other.wru), (self.gsi_wru, other.gsi_wru), (self.rru, other.rru)):
            for k, v in theirs.items():
                mine[k] += v
        self.items += other.items


class CapacityRecorder:
    def __init__(self) -> None:
        assert boto3.DEFAULT_SESSION is not None, "create AwsCallCounter (the counted session) first"
        self._peek = boto3.session.Session().client("dynamodb")  # not counted: a separate session
        self._schemas: dict[str, tuple[tuple[str, ...], tuple[IndexSchema, ...]]] = {}
        self._lock = threading.Lock()
        self.capacity = Capacity()
        # Off unless asked: the extra reads take time inside the handlers, so a round that measures
        # capacity is never one that measures durations.
        self.enabled = False
        events = boto3.DEFAULT_SESSION.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def reset(self) -> Capacity:
        out, self.capacity = self.capacity, Capacity()
        return out

    # -- hooks -------------------------------------------------------------------------------------
    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # Store calls run on a thread pool: what a call needs after it returns travels in its own
        # request context, never in shared state.
        if self.enabled and model.name in _WRITES:
            context["bench_capacity"] = [(table, key, self._get(table, key), transactional)
                                         for table, key, transactional in self._targets(model.name, params)]

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        op = model.name
        if not self.enabled or "Error" in parsed:
            return
        if op in _READS:
            self._reads(op, parsed)
            return
        for table, key, old, transactional in context.get("bench_capacity", []):
            new = self._get(table, key)
            keys, indexes = self._schema(table)
            units = write_units(max(item_size(old), item_size(new)), transactional)
            gsi = gsi_write_units(old, new, indexes, keys)
            with self._lock:
                self.capacity.wru[f"dynamodb.{op}"] += units
                self.capacity.gsi_wru[f"dynamodb.{op}"] += sum(gsi.values())
                self.capacity.items.append({"op": op, "table": table, "item": _kind(key),
                                            "bytes_before": item_size(old), "bytes_after": item_size(new),
                                            "wru": units, "gsi_wru": gsi})

    def _reads(self, op: str, parsed: dict[str, Any]) -> None:
        if op == "GetItem":
            sizes = [item_size(parsed.get("Item"))]
        elif op in ("Query", "Scan"):
            # A query is metered on the total size of what it read, not per item.
            sizes = [sum(item_size(i) for i in parsed.get("Items", []))]
        elif op == "TransactGetItems":
            sizes = [item_size(r.get("Item")) for r in parsed.get("Responses", [])]
        else:
            sizes = [item_size(i) for items in parsed.get("Responses", {}).values() for i in items]
        transactional = op == "TransactGetItems"
        # The code under test reads with ConsistentRead=True where it matters; count reads as strong.
        with self._lock:
            self.capacity.rru[f"dynamodb.{op}"] += sum(read_units(s, True, transactional) for s in sizes)

    # -- helpers -----------------------------------------------------------------------------------
    def _targets(self, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        if op == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                (kind, spec), = entry.items()
                if kind == "ConditionCheck":
                    continue
                table = spec["TableName"]
                out.append((table, self._key(table, spec), True))
            return out
        if op == "BatchWriteItem":  # each put or delete a standard write of its own item
            return [(table, self._key(table, next(iter(request.values()))), False)
                    for table, requests in params["RequestItems"].items() for request in requests]
        table = params["TableName"]
        return [(table, self._key(table, params), False)]

    def _key(self, table: str, spec: dict[str, Any]) -> dict[str, Any]:
        if "Key" in spec:
            return dict(spec["Key"])
        keys, _ = self._schema(table)
        return {k: spec["Item"][k] for k in keys}

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._peek.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _schema(self, table: str) -> tuple[tuple[str, ...], tuple[IndexSchema, ...]]:
        if table not in self._schemas:
            desc = self._peek.describe_table(TableName=table)["Table"]
            keys = tuple(k["AttributeName"] for k in desc["KeySchema"])
            indexes = tuple(IndexSchema(i["IndexName"], tuple(k["AttributeName"] for k in i["KeySchema"]),
                                        i["Projection"]["ProjectionType"])
                            for i in desc.get("GlobalSecondaryIndexes", []))
            self._schemas[table] = (keys, indexes)
        return self._schemas[table]


def _kind(key: dict[str, Any]) -> str:
    """JOB, ATTEMPT, IDEM, …: the item's kind, from its sort key."""
    sk = next(iter(key.get("sk", {}).values()), "")
    return str(sk).split("#")[0]
