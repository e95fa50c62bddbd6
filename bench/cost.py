"""What a job costs on AWS: us-east-1 list prices and the arithmetic from measured usage to dollars.

Pure: no I/O. `bench.jobs` measures the usage (AWS calls by operation, DynamoDB capacity from the real
items, handler durations) and hands it to `cost_per_million`.

Prices (us-east-1, on-demand list prices, no free tier, first volume tier):
- API Gateway HTTP API: $1.00 per million requests (first 300 M a month; a request is metered in
  512 KB increments, and a job body is at most 256 KiB, so one job is one request).
- Lambda (x86_64, which is what infra/ deploys: manylinux x86_64 wheels, the X86 Web Adapter layer):
  $0.20 per million requests and $0.0000166667 per GB-second, duration billed per invocation
  rounded up to the millisecond.
- SQS standard queue: $0.40 per million requests; every API action is a request, and each 64 KB
  chunk of a payload counts as one more (job messages are ~60 bytes). A batch action (ReceiveMessage
  of up to 10 messages, DeleteMessageBatch) is one request.
- DynamoDB on-demand (standard table class): $0.625 per million write request units and $0.125 per
  million read request units (the prices since the November 2024 reduction). One WRU writes up to
  1 KB; a transactional write (TransactWriteItems) costs 2 WRU per KB of each item; a write's size is
  the larger of the item before and after; a write to a table also writes each global secondary
  index whose entry it creates, changes or removes (see `gsi_write_units`).
QStash: pay-as-you-go, $1 per 100,000 messages = $10 per million.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

QSTASH_USD_PER_MILLION = 10.0
KB = 1024


@dataclass(frozen=True)
class Prices:
    """USD list prices, us-east-1."""

    apigw_http_per_million: float = 1.00
    lambda_request_per_million: float = 0.20
    lambda_gb_second: float = 0.0000166667
    sqs_request_per_million: float = 0.40
    dynamodb_wru_per_million: float = 0.625
    dynamodb_rru_per_million: float = 0.125


US_EAST_1 = Prices()


@dataclass(frozen=True)
class LambdaUse:
    """One function's share of a job: invocations per job and billed milliseconds per invocation."""

    memory_mb: int
    invocations_per_job: float
    billed_ms_per_invocation: float


@dataclass(frozen=True)
class JobUsage:
    """Everything one job consumes, averaged over measured jobs."""

    api_requests: float
    lambdas: Mapping[str, LambdaUse]
    sqs_requests: float
    dynamodb_wru: float
    dynamodb_rru: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def billed_ms(duration_s: float) -> int:
    """Lambda bills each invocation's duration rounded up to the next millisecond."""
    return max(1, math.ceil(duration_s * 1000 - 1e-9))


def cost_per_million(usage: JobUsage, prices: Prices = US_EAST_1) -> dict[str, float]:
    """USD per million jobs, by line item, with the `total`."""
    lines: dict[str, float] = {"apigw_http": usage.api_requests * prices.apigw_http_per_million}
    for name, use in usage.lambdas.items():
        lines[f"lambda_{name}_requests"] = use.invocations_per_job * prices.lambda_request_per_million
        gb_s = use.invocations_per_job * use.billed_ms_per_invocation / 1000 * use.memory_mb / 1024
        lines[f"lambda_{name}_duration"] = gb_s * prices.lambda_gb_second * 1_000_000
    lines["sqs"] = usage.sqs_requests * prices.sqs_request_per_million
    lines["dynamodb_writes"] = usage.dynamodb_wru * prices.dynamodb_wru_per_million
    lines["dynamodb_reads"] = usage.dynamodb_rru * prices.dynamodb_rru_per_million
    lines["total"] = sum(lines.values())
    return lines


# -- DynamoDB capacity ------------------------------------------------------------------------------
def _number_size(text: str) -> int:
    """DynamoDB's documented approximation: 1 byte per two significant digits, plus one."""
    digits = Decimal(text).normalize().as_tuple().digits
    return len(digits) // 2 + 1 + (len(digits) % 2)


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB JSON ({"S": …}, {"N": …}, …), by DynamoDB's rules."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_size(e) for k, e in v.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """An item's size: the UTF-8 length of every attribute name plus its value's size."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_value_size(v) for name, v in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """WRU of one item write: per started KB, doubled inside a transaction."""
    return max(1, math.ceil(size / KB)) * (2 if transactional else 1)


def read_units(size: int, consistent: bool = True, transactional: bool = False) -> float:
    """RRU of reading `size` bytes: per started 4 KB; half for eventually consistent reads."""
    units = max(1, math.ceil(size / (4 * KB)))
    return units * (2.0 if transactional else 1.0 if consistent else 0.5)


@dataclass(frozen=True)
class IndexSchema:
    name: str
    key_attributes: tuple[str, ...]
    projection: str = "ALL"  # ALL is what infra/ and local/ create


def _entry_size(item: Mapping[str, Mapping[str, Any]], index: IndexSchema, table_keys: Iterable[str]) -> int:
    if index.projection == "ALL":
        return item_size(item)
    kept = set(index.key_attributes) | set(table_keys)
    return item_size({k: v for k, v in item.items() if k in kept})


def gsi_write_units(old: Mapping[str, Mapping[str, Any]] | None, new: Mapping[str, Mapping[str, Any]] | None,
                    indexes: Iterable[IndexSchema], table_keys: Iterable[str] = ("pk", "sk")) -> dict[str, int]:
    """WRU each global secondary index consumes when an item goes from `old` to `new` (None: absent).

    AWS's rules (DynamoDB developer guide, "Global secondary indexes", writes): an item enters an index
    when it gains every key attribute of it (one write), leaves it when it loses one (one write: the
    delete); a change of an index key value is two writes (delete + put); a change of a projected
    non-key attribute is one write; otherwise nothing. Each write is sized by the index entry.
    Index propagation is assumed to be a standard write even when the table write was transactional.
    """
    keys = tuple(table_keys)
    out: dict[str, int] = {}
    for index in indexes:
        before = old is not None and all(k in old for k in index.key_attributes)
        after = new is not None and all(k in new for k in index.key_attributes)
        units = 0
        if before and after:
            assert old is not None and new is not None
            if any(old[k] != new[k] for k in index.key_attributes):
                units = write_units(_entry_size(old, index, keys)) + write_units(_entry_size(new, index, keys))
            elif _projected(old, index, keys) != _projected(new, index, keys):
                units = write_units(_entry_size(new, index, keys))
        elif after:
            assert new is not None
            units = write_units(_entry_size(new, index, keys))
        elif before:
            assert old is not None
            units = write_units(_entry_size(old, index, keys))
        if units:
            out[index.name] = units
    return out


def _projected(item: Mapping[str, Mapping[str, Any]], index: IndexSchema, keys: tuple[str, ...]
               ) -> dict[str, Any]:
    if index.projection == "ALL":
        return dict(item)
    kept = set(index.key_attributes) | set(keys)
    return {k: v for k, v in item.items() if k in kept}


# -- schedules --------------------------------------------------------------------------------------
EVENTBRIDGE_SCHEDULER_PER_MILLION = 1.00  # invocations after the free tier (DESIGN.md; AWS pricing page)


def rounded(lines: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in lines.items()}


def fire_cost_per_million(extra_wru: float, rru: float, sqs_requests: float, lambda_ms: float, memory_mb: int,
                          prices: Prices = US_EAST_1) -> dict[str, float]:
    """USD per million fires of the DynamoDB due-index scheduler, beyond the job's own cost: the write units a
    fire adds to a plain submit (the schedule's move, its index entry, the transaction's doubling), the due
    query's reads, SQS batch sends, and the scheduler's Lambda time per fire."""
    lines = {
        "dynamodb_writes": extra_wru * prices.dynamodb_wru_per_million,
        "dynamodb_reads": rru * prices.dynamodb_rru_per_million,
        "sqs": sqs_requests * prices.sqs_request_per_million,
        "lambda_duration": lambda_ms / 1000 * memory_mb / 1024 * prices.lambda_gb_second * 1_000_000,
    }
    lines["total"] = sum(lines.values())
    return lines


def eventbridge_scheduler_cost_per_million(handler_ms: float, memory_mb: int,
                                           prices: Prices = US_EAST_1) -> dict[str, float]:
    """USD per million fires with one EventBridge Scheduler schedule per schedule, each invocation a Lambda
    that writes the job (the job's own write is excluded, as above)."""
    lines = {
        "scheduler_invocations": EVENTBRIDGE_SCHEDULER_PER_MILLION,
        "lambda_requests": prices.lambda_request_per_million,
        "lambda_duration": billed_ms(handler_ms / 1000) / 1000 * memory_mb / 1024 * prices.lambda_gb_second
        * 1_000_000,
    }
    lines["total"] = sum(lines.values())
    return lines


def ticking_usd_per_month(memory_mb: int, window_s: float = 55, prices: Prices = US_EAST_1) -> float:
    """The due-index scheduler's fixed cost: started every minute, ticking for `window_s`."""
    invocations = 30 * 24 * 60
    return invocations * (prices.lambda_request_per_million / 1e6
                          + window_s * memory_mb / 1024 * prices.lambda_gb_second)
