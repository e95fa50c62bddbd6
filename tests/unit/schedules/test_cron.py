"""Cron evaluation on real zone data: the SPEC's daylight-saving rules (America/New_York, 2027), the
guard against answering a time before the start inside a repeated hour, and what counts as invalid."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.schedules import cron
from shared.schedules.models import ScheduleSpec
from shared.schedules.record import fire_job_id

NY = "America/New_York"


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def test_spring_forward_fires_once_at_the_first_instant_after_the_gap() -> None:
    # 2027-03-14 02:30 does not exist in New York (02:00 EST → 03:00 EDT): it fires at 03:00 EDT = 07:00Z.
    runs = cron.next_runs("30 2 * * *", NY, utc("2027-03-12T12:00:00"))
    assert runs == [utc("2027-03-13T07:30:00"), utc("2027-03-14T07:00:00"), utc("2027-03-15T06:30:00"),
                    utc("2027-03-16T06:30:00"), utc("2027-03-17T06:30:00")]


def test_fall_back_fires_a_repeated_local_time_once() -> None:
    # 2027-11-07 01:30 happens twice (EDT, then EST): one fire, at the first (05:30Z).
    runs = cron.next_runs("30 1 * * *", NY, utc("2027-11-05T12:00:00"))
    assert runs == [utc("2027-11-06T05:30:00"), utc("2027-11-07T05:30:00"), utc("2027-11-08T06:30:00"),
                    utc("2027-11-09T06:30:00"), utc("2027-11-10T06:30:00")]


def test_the_issues_case_across_both_changes() -> None:
    # `30 2 * * *`: on 03-14 the gap moves it to 03:00 EDT; on 11-07 02:30 exists once (EST).
    spring = cron.next_runs("30 2 * * *", NY, utc("2027-03-13T08:00:00"), n=2)
    fall = cron.next_runs("30 2 * * *", NY, utc("2027-11-06T08:00:00"), n=2)
    assert spring == [utc("2027-03-14T07:00:00"), utc("2027-03-15T06:30:00")]
    assert fall == [utc("2027-11-07T07:30:00"), utc("2027-11-08T07:30:00")]


def test_counting_from_inside_the_repeated_hour_never_repeats_a_fire() -> None:
    # 06:15Z is 01:15 EST, after 01:30 EDT (05:30Z) fired: cronsim alone answers 05:30Z, in the past.
    assert cron.next_fire("30 1 * * *", NY, utc("2027-11-07T06:15:00")) == utc("2027-11-08T06:30:00")
    assert cron.next_fire("30 1 * * *", NY, utc("2027-11-07T05:30:00")) == utc("2027-11-08T06:30:00")


def test_an_hour_wildcard_keeps_its_real_time_cadence_through_the_repeated_hour() -> None:
    runs = cron.next_runs("*/30 * * * *", NY, utc("2027-11-07T04:45:00"), n=6)
    assert [r.strftime("%H:%M") for r in runs] == ["05:00", "05:30", "06:00", "06:30", "07:00", "07:30"]


@pytest.mark.parametrize(("expr", "local_times"), [
    # A fixed hour with a minute wildcard or step: cronsim (like Debian cron) took the minute's `*` for an
    # interval job and fired 01:00 and 01:30 twice, once in EDT and once in EST.
    ("*/30 1 7 11 *", ["01:00", "01:30"]),
    ("* 1 7 11 *", [f"01:{m:02d}" for m in range(60)]),
    ("*/20 1-2 7 11 *", ["01:00", "01:20", "01:40", "02:00", "02:20", "02:40"]),
    ("0,30 1 7 11 *", ["01:00", "01:30"]),
])
def test_fall_back_fires_each_repeated_local_time_once_whatever_the_minute_field(
        expr: str, local_times: list[str]) -> None:
    runs = [t for t in cron.next_runs(expr, NY, utc("2027-11-06T12:00:00"), 200) if t < utc("2027-11-08T00:00:00")]
    assert [t.astimezone(cron.zone(NY)).strftime("%H:%M") for t in runs] == local_times
    assert runs == sorted(set(runs))
    # each at its first occurrence (EDT, UTC-4)
    assert all(t.astimezone(cron.zone(NY)).utcoffset() == utc("2027-11-07T05:00:00") - utc("2027-11-07T09:00:00")
               for t in runs if t.astimezone(cron.zone(NY)).hour == 1)


def test_spring_forward_with_a_minute_step_fires_once_at_the_first_instant_after_the_gap() -> None:
    # 02:00 and 02:30 do not exist on 2027-03-14 in New York: one fire at 03:00 EDT (07:00Z), none skipped
    runs = [t for t in cron.next_runs("*/30 2 14 3 *", NY, utc("2027-03-13T12:00:00"), 3)
            if t < utc("2027-03-15T00:00:00")]
    assert runs == [utc("2027-03-14T07:00:00")]


def test_fire_times_are_strictly_after_the_start() -> None:
    assert cron.next_fire("* * * * *", "UTC", utc("2027-01-01T12:00:00")) == utc("2027-01-01T12:01:00")
    assert cron.next_fire("0 9 * * MON-FRI", "Europe/Berlin", utc("2027-01-02T00:00:00")) == utc(
        "2027-01-04T08:00:00")


@pytest.mark.parametrize(("expr", "zone", "fragment"), [
    ("* * * *", "UTC", "five fields"),
    ("*/5 * * * * *", "UTC", "five fields"),
    ("61 * * * *", "UTC", "invalid cron"),
    ("0 0 30 2 *", "UTC", "invalid cron"),
    ("0 0 * * FUNDAY", "UTC", "invalid cron"),
    ("* * * * *", "Mars/Olympus", "unknown time zone"),
    ("* * * * *", "../../etc/passwd", "unknown time zone"),
    ("* * * * *", "", "unknown time zone"),
])
def test_invalid_cron_or_zone_is_refused_with_a_reason(expr: str, zone: str, fragment: str) -> None:
    with pytest.raises(cron.CronError, match=fragment):
        cron.check(expr, zone)


def test_schedule_spec_refuses_labels_the_schedule_sets_and_fixed_times() -> None:
    job = {"request": {"url": "https://example.com/hook"}}
    with pytest.raises(ValueError, match="schedule_id"):
        ScheduleSpec.model_validate({"cron": "* * * * *", "job": {**job, "labels": {"schedule_id": "x"}}})
    with pytest.raises(ValueError, match="not_before"):
        ScheduleSpec.model_validate({"cron": "* * * * *", "job": {**job, "not_before": "2027-01-01T00:00:00Z"}})
    with pytest.raises(ValueError, match="unknown time zone"):
        ScheduleSpec.model_validate({"cron": "* * * * *", "timezone": "Nowhere/Land", "job": job})


def test_a_fire_time_has_one_job_id() -> None:
    t = utc("2027-03-14T07:00:00")
    assert fire_job_id("sch_a", t) == fire_job_id("sch_a", t)
    assert fire_job_id("sch_a", t) != fire_job_id("sch_b", t)
    assert fire_job_id("sch_a", t) != fire_job_id("sch_a", utc("2027-03-14T07:01:00"))
    assert fire_job_id("sch_a", t).startswith("job_") and len(fire_job_id("sch_a", t)) <= 64


def test_a_schedules_credential_headers_are_redacted_in_every_read() -> None:
    from datetime import UTC, datetime

    from shared.jobs.models import JobSpec
    from shared.schedules.record import ScheduleRecord

    now = datetime(2027, 1, 1, tzinfo=UTC)
    job = JobSpec.model_validate({"request": {"url": "https://example.com/hook", "headers": {
        "Authorization": "Bearer s3cret", "X-Trace": "keep"}}, "fallbacks": [
        {"url": "https://backup.example.com/hook", "headers": {"X-Api-Key": "k3y"}}]})
    shown = ScheduleRecord(id="sch_x", tenant="t", cron="* * * * *", timezone="UTC", job=job, created_at=now,
                           updated_at=now).public(now).model_dump_json()
    assert "s3cret" not in shown and "k3y" not in shown and "keep" in shown and "[redacted]" in shown
