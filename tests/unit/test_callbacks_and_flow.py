"""Pure parts of callbacks and flow control: which ending owes which callback, what its body holds
(credentials redacted, bodies cut when too large), the flow-control field's bounds, SSRF checks on
callback URLs, and idempotency fingerprints that did not change for specs without flow control."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import BlockedTarget
from shared.jobs.callbacks import MAX_CALLBACK_BODY, callback_body, callback_job
from shared.jobs.models import MAX_BODY_BYTES, FlowControl, JobSpec, Result, Status
from shared.jobs.record import JobRecord
from shared.jobs.service import canonical, check_targets, fingerprint
from shared.redaction import REDACTED

NOW = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)


def record(status: Status, **spec: Any) -> JobRecord:
    s = JobSpec.model_validate({"request": {"url": "https://api.example.com/hook"},
                                "callback_url": "https://me.example.com/ok",
                                "failure_callback_url": "https://me.example.com/ko", **spec})
    return JobRecord(id="job_0123456789abcdef", tenant="acme", spec=s, status=status, created_at=NOW,
                     updated_at=NOW, attempts=2, run=3)


@pytest.mark.parametrize(("status", "url"), [
    (Status.completed, "https://me.example.com/ok"),
    (Status.failed, "https://me.example.com/ko"),
    (Status.dead, "https://me.example.com/ko"),
    (Status.cancelled, None),
    (Status.retrying, None),
    (Status.pending, None),
])
def test_each_ending_owes_its_callback(status: Status, url: str | None) -> None:
    cb = callback_job(record(status))
    assert (cb.spec.request.url if cb else None) == url
    if cb is not None:
        assert cb.id == "job_0123456789abcdef_cb3" and cb.tenant == "acme" and cb.status == Status.pending
        assert cb.spec.request.method == "POST" and cb.spec.request.headers == {"content-type": "application/json"}
        assert cb.spec.callback_url is None and cb.spec.failure_callback_url is None
        assert cb.next_attempt_at == NOW and cb.spec.retry.max_attempts == 5
        assert json.loads(cb.spec.request.body or "")["status"] == status.value


def test_no_callback_without_a_url() -> None:
    assert callback_job(record(Status.completed, callback_url=None)) is None
    assert callback_job(record(Status.dead, failure_callback_url=None)) is None


def test_credential_headers_are_redacted_in_the_body() -> None:
    r = record(Status.completed, request={"url": "https://api.example.com/hook", "headers": {
        "Authorization": "Bearer s3cret", "X-Api-Key": "k", "Cookie": "a=b", "X-Trace": "keep"}},
        fallbacks=[{"url": "https://b.example.com/x", "headers": {"x-auth-token": "t"}}])
    r = r.model_copy(update={"result": Result(status_code=200, headers={"set-cookie": "s=1", "x": "y"}, body="ok",
                                              duration_ms=3)})
    body = json.loads(callback_body(r.public()))
    assert body["request"]["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Cookie": REDACTED,
                                          "X-Trace": "keep"}
    assert body["fallbacks"][0]["headers"] == {"x-auth-token": REDACTED}
    assert body["result"]["headers"] == {"set-cookie": REDACTED, "x": "y"}
    assert "s3cret" not in callback_body(r.public())


def test_a_callback_too_large_drops_the_bodies() -> None:
    r = record(Status.completed, request={"url": "https://api.example.com/hook", "body": "x" * MAX_BODY_BYTES})
    r = r.model_copy(update={"result": Result(status_code=200, headers={}, body="y" * 65536, duration_ms=3)})
    body = callback_body(r.public())
    assert len(body.encode()) <= MAX_CALLBACK_BODY
    data = json.loads(body)
    assert data["request"]["body"] is None and data["result"]["body"] == "" and data["result"]["body_truncated"]
    assert callback_job(r) is not None  # and the callback job's own spec validates


@pytest.mark.parametrize("flow", [
    {"key": "acct-1", "rate": 10},
    {"key": "acct-1", "parallelism": 2},
    {"key": "tenant:acct/1@x", "rate": 0.5, "parallelism": 1000},
])
def test_flow_control_accepts_rate_and_parallelism(flow: dict[str, Any]) -> None:
    spec = JobSpec.model_validate({"request": {"url": "https://a.example.com"}, "flow_control": flow})
    assert spec.flow_control is not None and spec.flow_control.key == flow["key"]


@pytest.mark.parametrize("flow", [
    {"key": "k"},                                  # no limit at all
    {"key": "k", "rate": 0},
    {"key": "k", "rate": 1001},
    {"key": "k", "parallelism": 0},
    {"key": "k", "parallelism": 1001},
    {"key": "", "rate": 1},
    {"key": "a" * 129, "rate": 1},
    {"key": "has space", "rate": 1},
    {"key": "{tag}", "rate": 1},                   # braces would break Redis hash tags
    {"key": "k", "rate": 1, "period": 60},        # unknown field
])
def test_flow_control_rejects_what_it_cannot_honour(flow: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"request": {"url": "https://a.example.com"}, "flow_control": flow})


def test_fingerprints_of_specs_without_flow_control_are_unchanged() -> None:
    plain = JobSpec.model_validate({"request": {"url": "https://a.example.com"}})
    assert canonical(plain).endswith('"labels":{}}') and "flow_control" not in canonical(plain)
    limited = plain.model_copy(update={"flow_control": FlowControl(key="k", rate=1)})
    assert fingerprint(canonical(limited)) != fingerprint(canonical(plain))


@pytest.mark.parametrize("field", ["callback_url", "failure_callback_url"])
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://127.1/x", "http://[::ffff:10.0.0.1]/",
                                 "http://metadata.google.internal/"])
def test_callback_urls_get_the_targets_ssrf_check(field: str, url: str) -> None:
    spec = JobSpec.model_validate({"request": {"url": "https://a.example.com"}, field: url})
    with pytest.raises(BlockedTarget):
        check_targets(spec)


def test_callback_urls_are_syntax_checked_like_targets() -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"request": {"url": "https://a.example.com"}, "callback_url": "ftp://x.example.com/"})
