"""Credential headers of a job at rest and in reads: sealed in the stored item (request and fallbacks),
`[redacted]` in every read and callback body, opened only for the call to the target, bound to their job."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from shared.jobs import delivery
from shared.jobs.callbacks import callback_body
from shared.jobs.models import JobSpec, Outcome, Status
from shared.jobs.record import JobRecord, from_attributes, to_attributes, unpack
from shared.redaction import REDACTED

SECRET_HEADERS = {"Authorization": "Bearer tok_live_123", "Cookie": "sid=abc", "X-Api-Key": "k-456",
                  "X-Webhook-Signature": "sig-789", "X-Session-Token": "s-000", "Stripe-Secret": "sec-111"}


def record(job_id: str = "job_1", tenant: str = "acme", **spec: object) -> JobRecord:
    now = datetime.now(UTC)
    body = {"request": {"url": "https://example.com/hook", "headers": {**SECRET_HEADERS, "X-Trace": "t-1"}},
            "fallbacks": [{"url": "https://example.org/hook", "headers": {"Authorization": "Bearer fb_222"}}],
            "callback_url": "https://example.net/cb", **spec}
    return JobRecord(id=job_id, tenant=tenant, spec=JobSpec.model_validate(body), status=Status.pending,
                     created_at=now, updated_at=now)


def test_the_stored_item_holds_no_credential_in_plaintext() -> None:
    item = to_attributes(record())
    # Decompressed where the store compresses (`record.pack`): compression is no way of hiding a credential.
    stored = json.dumps({k: unpack(v) if isinstance(v, bytes) else v for k, v in item.items()}, default=list)
    for value in [*SECRET_HEADERS.values(), "fb_222"]:
        assert value.split()[-1] not in stored
    spec = json.loads(unpack(item["spec"]))
    assert spec["request"]["headers"]["X-Trace"] == "t-1"
    assert all(spec["request"]["headers"][k].startswith("sf1.") for k in SECRET_HEADERS)
    # Written again (every transition rewrites the item), a sealed value stays as it is
    again = to_attributes(from_attributes(item))
    assert json.loads(unpack(again["spec"])) == spec


def test_reads_show_redacted_and_the_call_gets_the_plaintext() -> None:
    read_back = from_attributes(to_attributes(record()))
    public = read_back.public().model_dump(mode="json")
    assert {k: public["request"]["headers"][k] for k in SECRET_HEADERS} == dict.fromkeys(SECRET_HEADERS, REDACTED)
    assert public["fallbacks"][0]["headers"] == {"Authorization": REDACTED}
    assert public["request"]["headers"]["X-Trace"] == "t-1"
    sent = delivery.delivery_headers(read_back, 1, "", None)
    assert {k: sent[k] for k in SECRET_HEADERS} == SECRET_HEADERS
    fallback = read_back.model_copy(update={"target_index": 1})
    assert delivery.delivery_headers(fallback, 1, "", None)["Authorization"] == "Bearer fb_222"
    body = callback_body(read_back.public())
    assert "tok_live_123" not in body and "sf1." not in body


async def test_a_sealed_value_copied_into_another_job_does_not_open() -> None:
    # Given the sealed spec of one job pasted into another tenant's job
    item = to_attributes(record("job_a", "acme"))
    stolen = from_attributes({**to_attributes(record("job_b", "other")), "spec": item["spec"]})
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    # When the worker calls it
    outcome = await delivery.call(client, stolen, 1, None, datetime.now(UTC))
    # Then nothing is sent and the job fails for good
    assert outcome.outcome is Outcome.permanent and "sealed" in (outcome.error or "")
    assert seen == []


async def test_the_targets_set_cookie_is_never_stored() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"set-cookie": "sid=x", "x-ok": "1"}))
    async with httpx.AsyncClient(transport=transport) as client:
        outcome = await delivery.call(client, from_attributes(to_attributes(record())), 1, None, datetime.now(UTC))
    assert outcome.result is not None
    assert outcome.result.headers["set-cookie"] == REDACTED and outcome.result.headers["x-ok"] == "1"


def test_a_caller_cannot_submit_a_value_that_looks_sealed() -> None:
    with pytest.raises(ValidationError, match="prefix of sealed values"):
        JobSpec.model_validate({"request": {"url": "https://example.com/", "headers": {"Authorization": "sf1.AAAA"}}})


def test_an_8_kib_credential_round_trips() -> None:
    big = "B" * 8192
    r = record(request={"url": "https://example.com/hook", "headers": {"Authorization": big}})
    back = from_attributes(to_attributes(r))
    assert delivery.delivery_headers(back, 1, "", None)["Authorization"] == big
