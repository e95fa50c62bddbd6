"""Source settings and fan-out rules without AWS: event-type filters (exact, suffix wildcard, none), what a
verify block must and must not carry, and the delivery job an event becomes (body, headers, labels, ids)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.sources.fanout import forwarded_headers, job_spec, plan
from shared.sources.models import Destination, RangeReplay, SourcePatch, SourceSpec, VerifySpec
from shared.sources.records import EventRecord, SourceRecord, delivery_job_id, new_event_id
from shared.sources.verify import Scheme


@pytest.mark.parametrize(("patterns", "event_type", "accepted"), [
    ([], "anything", True),
    ([], None, True),
    (["payment_intent.*"], "payment_intent.succeeded", True),
    (["payment_intent.*"], "payment_intentX", False),
    (["payment_intent.*"], "charge.refunded", False),
    (["charge.refunded"], "charge.refunded", True),
    (["charge.refunded"], "charge.refunded.extra", False),
    (["*"], "x", True),
    (["orders/*"], None, False),
])
def test_event_type_filters(patterns: list[str], event_type: str | None, accepted: bool) -> None:
    assert Destination(url="https://a.example.com/x", event_types=patterns).accepts(event_type) is accepted


@pytest.mark.parametrize("verify", [
    {"scheme": "stripe"},                                   # a secret is needed
    {"scheme": "none", "secret": "s"},                      # none takes no secret
    {"scheme": "hmac-sha256", "secret": "s"},               # which header?
    {"scheme": "github", "secret": "s", "header": "x-sig"},  # header is for hmac-sha256 only
    {"scheme": "standard-webhooks", "secret": "whsec_%%%"},  # not base64
    {"scheme": "stripe", "secret": "s", "tolerance_s": 0},
])
def test_inconsistent_verify_blocks_are_refused(verify: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VerifySpec.model_validate(verify)


def test_a_wildcard_only_at_the_end() -> None:
    with pytest.raises(ValidationError):
        Destination(url="https://a.example.com/x", event_types=["pay*.succeeded"])


def test_an_event_becomes_one_job_per_matching_destination_with_the_body_byte_for_byte() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    spec = SourceSpec.model_validate({"name": "s", "verify": {"scheme": "github", "secret": "x"}, "destinations": [
        {"url": "https://a.example.com/push", "event_types": ["push"]},
        {"url": "https://a.example.com/issues", "event_types": ["issues"]},
        {"url": "https://a.example.com/all"}]})
    source = SourceRecord(id="src_1", tenant="t", name="s", scheme=Scheme.github, tolerance_s=300, header=None,
                          sealed_secret=None, destinations=spec.destinations, dedup_window_s=60,
                          created_at=now, updated_at=now)
    event_id = new_event_id(now)
    headers = forwarded_headers(Scheme.github, {"content-type": "application/json", "x-github-event": "push",
                                                "x-github-delivery": "d1", "user-agent": "GitHub-Hookshot",
                                                "authorization": "Bearer nope"})
    deliveries = plan(source, event_id, "push")
    body = '{"ref": "refs/heads/main", "name": "Zoë"}'.encode()
    event = EventRecord(id=event_id, source_id="src_1", tenant="t", received_at=now, provider_event_id="d1",
                        dedup_key="d1", event_type="push", content_type="application/json", headers=headers,
                        body=body, job_ids=[d.job_id for d in deliveries])

    assert [d.url for d in deliveries] == ["https://a.example.com/push", "https://a.example.com/all"]
    assert [d.job_id for d in deliveries] == [delivery_job_id(event_id, 0), delivery_job_id(event_id, 2)]
    assert plan(source, event_id, "push") == deliveries  # derived, never drawn: the same plan names the same jobs
    job = job_spec(event, deliveries[0])
    assert job.request.body is not None and job.request.body.encode() == body
    assert job.request.headers == {"content-type": "application/json", "x-github-event": "push",
                                   "x-github-delivery": "d1", "steadfast-source-id": "src_1",
                                   "steadfast-event-id": event_id, "steadfast-event-type": "push"}
    assert job.labels == {"source_id": "src_1", "event_id": event_id, "event_type": "push"}


def test_standard_webhooks_secret_accepted_with_or_without_prefix() -> None:
    key = base64.b64encode(b"k" * 24).decode()
    for secret in (f"whsec_{key}", key):
        assert VerifySpec(scheme=Scheme.standard_webhooks, secret=secret).secret == secret


# JSON has numbers and booleans of its own: a string, a float or a boolean where the SPEC shows an integer is
# the caller's mistake, not a value to guess (pydantic's lax mode read "300" as 300 and true as 1 s, and
# `"dedup_window_s": false` turned deduplication off).
@pytest.mark.parametrize("verify", [
    {"scheme": "stripe", "secret": "s", "tolerance_s": "300"},
    {"scheme": "stripe", "secret": "s", "tolerance_s": True},
    {"scheme": "stripe", "secret": "s", "tolerance_s": 300.0},
    {"scheme": "none", "header": "X-Sig"},                   # header is for hmac-sha256 only, with none too
])
def test_verify_takes_json_integers_only_and_no_stray_header(verify: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VerifySpec.model_validate(verify)


@pytest.mark.parametrize("dedup", ["10", False, True, 10.0])
def test_dedup_window_takes_a_json_integer_only(dedup: object) -> None:
    body = {"name": "s", "verify": {"scheme": "none"}, "destinations": [{"url": "https://a.example.com/x"}],
            "dedup_window_s": dedup}
    with pytest.raises(ValidationError):
        SourceSpec.model_validate(body)
    with pytest.raises(ValidationError):
        SourcePatch.model_validate({"dedup_window_s": dedup})


@pytest.mark.parametrize("body", [
    {"since": 1700000000},                                    # epoch seconds are not RFC 3339
    {"since": "1700000000"},
    {"since": "2026-12-01"},                                  # a date is not a time
    {"since": "2026-12-01T00:00:00"},                         # no zone
    {"since": "9999-12-31T23:59:59-01:00"},                   # past year 9999 in UTC
    {"since": "2026-12-01T00:00:00Z", "window_s": "60"},
    {"since": "2026-12-01T00:00:00Z", "window_s": True},
])
def test_range_replay_takes_rfc3339_times_and_integer_windows(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        RangeReplay.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] in ("since", "window_s")  # the field, not the whole body


def test_range_replay_reads_rfc3339_in_any_zone_as_utc() -> None:
    replay = RangeReplay.model_validate({"since": "2026-12-01T01:00:00+01:00", "until": "2026-12-01T00:30:00Z"})
    assert replay.since == datetime(2026, 12, 1, tzinfo=UTC) and replay.since.tzinfo is UTC
