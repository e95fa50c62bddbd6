"""The cost model's arithmetic, DynamoDB item sizes and index writes, checked against hand-computed examples."""

from __future__ import annotations

import pytest

from bench.cost import (
    IndexSchema,
    JobUsage,
    LambdaUse,
    Prices,
    attribute_value_size,
    billed_ms,
    cost_per_million,
    gsi_write_units,
    item_size,
    read_units,
    write_units,
)


def test_cost_per_million_jobs_by_hand() -> None:
    # Given one API request, a 512 MB submit of 20 ms, a 1024 MB worker of 400 ms shared by 10 jobs,
    # 1.2 SQS requests and 19 WRU + 2 RRU per job
    usage = JobUsage(api_requests=1, sqs_requests=1.2, dynamodb_wru=19, dynamodb_rru=2, lambdas={
        "submit": LambdaUse(memory_mb=512, invocations_per_job=1, billed_ms_per_invocation=20),
        "worker": LambdaUse(memory_mb=1024, invocations_per_job=0.1, billed_ms_per_invocation=400),
    })
    # When
    cost = cost_per_million(usage, Prices())
    # Then, per million jobs:
    assert cost["apigw_http"] == pytest.approx(1.00)
    assert cost["lambda_submit_requests"] == pytest.approx(0.20)
    # 1e6 × 0.020 s × 0.5 GB = 10,000 GB-s × $0.0000166667
    assert cost["lambda_submit_duration"] == pytest.approx(0.166667, rel=1e-5)
    assert cost["lambda_worker_requests"] == pytest.approx(0.02)
    # 1e5 invocations × 0.4 s × 1 GB = 40,000 GB-s
    assert cost["lambda_worker_duration"] == pytest.approx(0.666668, rel=1e-5)
    assert cost["sqs"] == pytest.approx(0.48)
    assert cost["dynamodb_writes"] == pytest.approx(19 * 0.625)
    assert cost["dynamodb_reads"] == pytest.approx(0.25)
    assert cost["total"] == pytest.approx(1 + 0.2 + 0.166667 + 0.02 + 0.666668 + 0.48 + 11.875 + 0.25, rel=1e-6)


def test_lambda_bills_whole_milliseconds_rounded_up() -> None:
    assert billed_ms(0.0121) == 13
    assert billed_ms(0.012) == 12
    assert billed_ms(0.0) == 1


def test_write_and_read_units() -> None:
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(3000, transactional=True) == 6  # AWS's own example: 3 KB transactional = 6
    assert read_units(8 * 1024) == 2
    assert read_units(8 * 1024, consistent=False) == 1
    assert read_units(8 * 1024, transactional=True) == 4


def test_item_size_follows_dynamodb_rules() -> None:
    # "pk" (2) + "JOB#1" (5); "n" (1) + 12345 (five digits: 3 bytes, plus 1); "ok" (2) + a bool (1)
    assert item_size({"pk": {"S": "JOB#1"}, "n": {"N": "12345"}, "ok": {"BOOL": True}}) == 7 + 5 + 3
    assert attribute_value_size({"N": "100"}) == 2  # trailing zeros trimmed: one digit
    assert attribute_value_size({"L": [{"S": "ab"}]}) == 3 + 1 + 2


INDEXES = (IndexSchema("by_status", ("status_pk", "updated_sk")), IndexSchema("by_due", ("due_pk", "due_at")))


def _item(**attrs: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}} | {k: {"S": v} for k, v in attrs.items()}


def test_new_item_is_one_write_per_index_it_enters() -> None:
    new = _item(status_pk="T#a#pending", updated_sk="1", due_pk="DUE#0", due_at="5")
    assert gsi_write_units(None, new, INDEXES) == {"by_status": 1, "by_due": 1}


def test_changed_index_key_is_two_writes_and_leaving_an_index_is_one() -> None:
    old = _item(status_pk="T#a#running", updated_sk="1", due_pk="DUE#0", due_at="5")
    new = _item(status_pk="T#a#completed", updated_sk="2")  # terminal: no longer due
    assert gsi_write_units(old, new, INDEXES) == {"by_status": 2, "by_due": 1}


def test_changed_projected_attribute_is_one_write_and_no_change_is_free() -> None:
    old = _item(status_pk="s", updated_sk="1", note="x")
    assert gsi_write_units(old, _item(status_pk="s", updated_sk="1", note="y"), INDEXES) == {"by_status": 1}
    assert gsi_write_units(old, dict(old), INDEXES) == {}
    keys_only = (IndexSchema("by_status", ("status_pk", "updated_sk"), "KEYS_ONLY"),)
    assert gsi_write_units(old, _item(status_pk="s", updated_sk="1", note="y"), keys_only) == {}
