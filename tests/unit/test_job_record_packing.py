"""The job item as stored: large specs and results compressed (and read back exactly), the attempt history
inside the item, and nothing compressed where compression would not pay."""

import os
from datetime import UTC, datetime

from bench.cost import item_size
from bench.payloads import api_answer, event_body
from shared import aws
from shared.jobs.models import Attempt, JobSpec, Outcome, Result
from shared.jobs.record import PACK_MIN_BYTES, JobRecord, from_attributes, pack, to_attributes, unpack

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def job(body: str) -> JobRecord:
    spec = JobSpec.model_validate({"request": {"url": "https://api.example.com/orders", "method": "POST",
                                               "headers": {"content-type": "application/json"}, "body": body}})
    return JobRecord.submitted("job_01JABCDEFGHJKMNPQRSTVWXYZ0", "acme", spec, NOW)


def test_a_json_body_is_stored_compressed_and_read_back_exactly() -> None:
    record = job(event_body(3, 1024))
    attrs = to_attributes(record)
    assert isinstance(attrs["spec"], bytes)
    back = from_attributes(aws.from_item(aws.to_item(attrs)))  # through DynamoDB's types (boto3's Binary)
    assert back.spec == record.spec


def test_compression_takes_a_realistic_job_item_under_three_quarters_of_its_size() -> None:
    record = job(event_body(3, 1024))
    plain = to_attributes(record) | {"spec": unpack(to_attributes(record)["spec"])}
    assert item_size(aws.to_item(to_attributes(record))) < 0.75 * item_size(aws.to_item(plain))


def test_small_values_stay_text_and_large_ones_come_back_exactly() -> None:
    assert pack("x" * (PACK_MIN_BYTES - 1)) == "x" * (PACK_MIN_BYTES - 1)
    noise = os.urandom(2000).hex()
    assert unpack(pack(noise)) == noise


def test_result_and_history_round_trip() -> None:
    attempt = Attempt(n=1, target_index=0, started_at=NOW, duration_ms=210, outcome=Outcome.success,
                      status_code=200)
    record = job("{}").model_copy(update={
        "result": Result(status_code=200, headers={"content-type": "application/json"}, body=api_answer("k", 2048),
                         duration_ms=210),
        "history": (attempt, attempt.model_copy(update={"n": 2}))})
    attrs = to_attributes(record)
    assert isinstance(attrs["result"], bytes)
    back = from_attributes(aws.from_item(aws.to_item(attrs)))
    assert back.result == record.result
    assert back.history == record.history
    assert "history" not in aws.to_item(to_attributes(job("{}")))  # a job never attempted stores none
