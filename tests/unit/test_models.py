"""The job spec rejects what SPEC §3 forbids: unknown fields, bad URLs, reserved or injected headers,
oversized bodies, contradictory schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.jobs.models import MAX_BODY_BYTES, JobSpec


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"request": {"url": "https://api.example.com/hook"}}
    base.update(overrides)
    return base


def test_only_the_url_is_required_and_defaults_follow_the_spec() -> None:
    s = JobSpec.model_validate(spec())
    assert s.request.method == "POST"
    assert s.retry.max_attempts == 5 and s.retry.jitter == "full"
    assert s.retry.retry_on == [408, 425, 429, "5xx"]


@pytest.mark.parametrize("bad", [
    spec(unknown=1),
    {"request": {"url": "https://a.example.com", "surprise": True}},
    {"request": {"url": "ftp://files.example.com/x"}},
    {"request": {"url": "https://user:pw@example.com/x"}},
    {"request": {"url": "https://example.com/" + "a" * 2100}},
    {"request": {"url": "https://example.com/x", "method": "TRACE"}},
    {"request": {"url": "https://example.com/x", "headers": {"X-A": "1\r\nX-Injected: 2"}}},
    {"request": {"url": "https://example.com/x", "headers": {"Bad Name": "1"}}},
    {"request": {"url": "https://example.com/x", "headers": {"Idempotency-Key": "mine"}}},
    {"request": {"url": "https://example.com/x", "headers": {"Host": "evil"}}},
    {"request": {"url": "https://example.com/x", "body": "x" * (MAX_BODY_BYTES + 1)}},
    {"request": {"url": "https://example.com/x", "timeout_s": 0}},
    spec(retry={"max_attempts": 0}),
    spec(retry={"jitter": "sometimes"}),
    spec(retry={"retry_on": [999]}),
    spec(retry={"base_delay_s": 10, "max_delay_s": 5}),
    spec(delay_s=-1),
    spec(delay_s=31 * 24 * 3600),
    spec(delay_s=5, not_before="2030-01-01T00:00:00Z"),
    spec(not_before="2026-12-01T00:00:00"),
    spec(fallbacks=[{"url": "gopher://x.example.com"}]),
])
def test_invalid_specs_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate(bad)


def test_body_at_the_limit_is_accepted() -> None:
    JobSpec.model_validate({"request": {"url": "https://example.com/x", "body": "x" * MAX_BODY_BYTES}})


def test_first_attempt_time() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert JobSpec.model_validate(spec(delay_s=30)).first_attempt_at(now) == now + timedelta(seconds=30)
    later = now + timedelta(days=2)
    assert JobSpec.model_validate(spec(not_before=later.isoformat())).first_attempt_at(now) == later


def test_targets_are_the_request_then_the_fallbacks() -> None:
    s = JobSpec.model_validate(spec(fallbacks=[{"url": "https://b.example.com/h"},
                                               {"url": "https://c.example.com/h", "headers": {"X-K": "c"}}]))
    assert s.target_count == 3
    assert s.target(1)[0] == "https://b.example.com/h"
    assert s.target(2) == ("https://c.example.com/h", {"X-K": "c"})


# JSON types are taken as they are (strict), as a JSON API's user expects: pydantic's lax mode read "yes", "true"
# and 1 as true, "10" as a number and true as the integer 1, and a number as a Unix time for not_before.
@pytest.mark.parametrize(("model", "data", "pointer"), [
    ("job", spec(delay_s="5"), ("delay_s",)),
    ("job", spec(delay_s=True), ("delay_s",)),
    ("job", {"request": {"url": "https://api.example.com/hook", "timeout_s": "10"}}, ("request", "timeout_s")),
    ("job", spec(retry={"max_attempts": True}), ("retry", "max_attempts")),
    ("job", spec(retry={"max_attempts": "3"}), ("retry", "max_attempts")),
    ("job", spec(retry={"max_attempts": 3.0}), ("retry", "max_attempts")),
    ("job", spec(retry={"retry_on": [True]}), ("retry", "retry_on", 0)),
    ("job", spec(retry={"base_delay_s": "1"}), ("retry", "base_delay_s")),
    ("job", spec(flow_control={"key": "k", "parallelism": "2"}), ("flow_control", "parallelism")),
    ("job", spec(not_before=1764870000), ("not_before",)),
    ("schedule", {"cron": "* * * * *", "job": spec(), "paused": "yes"}, ("paused",)),
    ("schedule", {"cron": "* * * * *", "job": spec(), "paused": "true"}, ("paused",)),
    ("schedule", {"cron": "* * * * *", "job": spec(), "paused": 1}, ("paused",)),
    ("patch", {"paused": "no"}, ("paused",)),
    ("patch", {"paused": 0}, ("paused",)),
    ("redrive", {"window_s": "60"}, ("window_s",)),
    ("redrive", {"limit": True}, ("limit",)),
])
def test_json_types_are_strict(model: str, data: dict[str, Any], pointer: tuple[object, ...]) -> None:
    from shared.jobs.views import RedriveRequest
    from shared.schedules.models import SchedulePatch, ScheduleSpec

    cls = {"job": JobSpec, "schedule": ScheduleSpec, "patch": SchedulePatch, "redrive": RedriveRequest}[model]
    with pytest.raises(ValidationError) as exc:
        cls.model_validate(data)
    assert {e["loc"][:len(pointer)] for e in exc.value.errors()} == {pointer}


def test_strings_of_enums_and_times_and_integers_for_floats_still_pass() -> None:
    s = JobSpec.model_validate(spec(request={"url": "https://api.example.com/hook", "method": "PUT", "timeout_s": 5},
                                    retry={"jitter": "equal", "base_delay_s": 2, "retry_on": [500, "4xx"]},
                                    priority="high", on_dependency_failure="run",
                                    not_before="2026-12-05T00:00:00Z"))
    assert s.request.method == "PUT" and s.request.timeout_s == 5.0 and s.retry.jitter == "equal"
    assert s.priority == "high" and s.on_dependency_failure == "run" and s.not_before is not None
    # What the services build from a dump (enum members, datetimes) is read back the same
    assert JobSpec.model_validate(s.model_dump()) == s
    assert JobSpec.model_validate_json(s.model_dump_json()) == s
