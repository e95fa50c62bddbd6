"""The scheduler's fire path with a clock the test sets, against moto over HTTP: one job per fire time
(also when a tick is delivered twice, schedulers race, an edit comes between the read and the write, a
crash left a fire half written, or a backlog is caught up), paused schedules fire
nothing, `overlap: skip` waits for the previous run, every fired job is labelled and enqueued, and a
schedule's credential headers are sealed at rest and opened only into the job a fire creates."""

from __future__ import annotations

import dataclasses
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared import aws
from shared.envelope import PREFIX, SealedValueInvalid
from shared.jobs.credentials import open_headers, opened_schedule_spec
from shared.jobs.models import JobSpec, Status
from shared.jobs.record import as_text
from shared.jobs.record import to_attributes as job_attributes
from shared.jobs.service import JobService
from shared.redaction import REDACTED
from shared.schedules.models import SchedulePatch
from shared.schedules.record import fire_job_id
from tests.integration.schedules.conftest import TENANT, World

pytestmark = pytest.mark.integration
T0 = datetime(2027, 6, 1, 12, 0, 20, tzinfo=UTC)


def minute(n: int) -> datetime:
    return datetime(2027, 6, 1, 12, n, tzinfo=UTC)


def test_every_minute_makes_one_job_per_minute_however_often_it_ticks(world: World) -> None:
    # Given a `* * * * *` schedule created at 12:00:20
    s = world.create("* * * * *", T0)
    # When the scheduler ticks every second through 12:00:30 → 12:02:30 (as the local cloud does)
    for second in range(30, 151):
        world.scheduler(minute(0) + timedelta(seconds=second)).tick()
    # Then exactly the fire times 12:01 and 12:02 made a job each, labelled with the schedule and the time
    jobs = world.jobs_of(s.id)
    assert sorted(j.spec.labels["scheduled_for"] for j in jobs) == ["2027-06-01T12:01:00Z", "2027-06-01T12:02:00Z"]
    assert {j.id for j in jobs} == {fire_job_id(s.id, minute(1)), fire_job_id(s.id, minute(2))}
    assert all(j.spec.labels["schedule_id"] == s.id and j.status == Status.pending for j in jobs)
    assert sorted(world.enqueued()) == sorted(j.id for j in jobs)
    after = world.store.get(TENANT, s.id)
    assert after.next_fire_at == minute(3) and after.last_job_id == fire_job_id(s.id, minute(2))
    assert after.last_run_at == minute(2)


def test_a_tick_delivered_twice_and_racing_schedulers_make_one_job(world: World) -> None:
    s = world.create("*/5 * * * *", T0)
    # Given the same tick delivered twice in a row
    first = world.scheduler(minute(5)).tick()
    second = world.scheduler(minute(5)).tick()
    assert (first.fired, second.fired) == (1, 0)
    # And eight schedulers racing for the next fire time at once
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: world.scheduler(minute(10)).tick(), range(8)))
    assert sum(r.fired for r in results) == 1
    assert sorted(j.spec.labels["scheduled_for"] for j in world.jobs_of(s.id)) == [
        "2027-06-01T12:05:00Z", "2027-06-01T12:10:00Z"]


def test_a_racer_that_moved_the_schedule_first_wins_the_fire_time_outright(world: World) -> None:
    # Given a due schedule, planned by two schedulers; the racer decided differently (here: a skip, as
    # `overlap: skip` does when it read the previous run as not finished) and wrote first
    s = world.create("* * * * *", T0)
    sched = world.scheduler(minute(1))
    [mine] = sched._plan(world.store.due(minute(1)), minute(1))
    racer = dataclasses.replace(mine, job=None)
    assert len(world.store.fire([racer])) == 1
    # When this scheduler writes its fire: the job and the move are one transaction, and the move's
    # condition fails
    assert world.store.fire([mine]) == []
    # Then the fire time has one outcome, the racer's: no job was written that nobody enqueues
    assert world.jobs_of(s.id) == []
    after = world.store.get(TENANT, s.id)
    assert after.next_fire_at == minute(2) and after.last_job_id is None


def test_the_fire_path_called_twice_for_the_same_time_writes_one_job(world: World) -> None:
    # The fire write itself, replayed as a retried invocation would (same schedule version, same time)
    s = world.create("* * * * *", T0)
    sched = world.scheduler(minute(1))
    due = world.store.due(minute(1))
    fires = sched._plan(due, minute(1))
    assert len(world.store.fire(fires)) == 1
    assert world.store.fire(fires) == []
    assert [j.id for j in world.jobs_of(s.id)] == [fire_job_id(s.id, minute(1))]


def test_paused_fires_nothing_and_resuming_counts_from_now(world: World) -> None:
    s = world.create("* * * * *", T0, paused=True)
    for n in range(1, 4):
        assert world.scheduler(minute(n)).tick().fired == 0
    assert world.jobs_of(s.id) == []
    assert world.store.get(TENANT, s.id).public(minute(3)).next_runs == []
    # Resumed at 12:03:30: no catch-up of the paused minutes, the next fire is 12:04
    resumed = world.service.patch(TENANT, s.id, SchedulePatch(paused=False), now=minute(3) + timedelta(seconds=30))
    assert resumed.next_fire_at == minute(4)
    assert world.scheduler(minute(4)).tick().fired == 1
    assert [j.spec.labels["scheduled_for"] for j in world.jobs_of(s.id)] == ["2027-06-01T12:04:00Z"]


def test_overlap_skip_waits_for_the_previous_run_to_finish(world: World) -> None:
    s = world.create("* * * * *", T0, overlap="skip")
    assert world.scheduler(minute(1)).tick().fired == 1
    # While the 12:01 job is not terminal, 12:02 and 12:03 are skipped (and the schedule moves on)
    r2, r3 = world.scheduler(minute(2)).tick(), world.scheduler(minute(3)).tick()
    assert (r2.fired, r2.skipped, r3.fired, r3.skipped) == (0, 1, 0, 1)
    assert len(world.jobs_of(s.id)) == 1
    # Once it completed, 12:04 fires
    (job,) = world.jobs_of(s.id)
    world.finish(job, Status.completed)
    assert world.scheduler(minute(4)).tick().fired == 1
    assert sorted(j.spec.labels["scheduled_for"] for j in world.jobs_of(s.id)) == [
        "2027-06-01T12:01:00Z", "2027-06-01T12:04:00Z"]


def test_missed_fire_times_are_caught_up_once_each(world: World) -> None:
    # The scheduler was down from 12:00:20 to 12:05:30: every minute in between fires once, oldest first
    s = world.create("* * * * *", T0)
    result = world.scheduler(minute(5) + timedelta(seconds=30)).tick()
    assert result.fired == 5
    world.scheduler(minute(5) + timedelta(seconds=31)).tick()
    assert sorted(j.spec.labels["scheduled_for"][11:16] for j in world.jobs_of(s.id)) == [
        "12:01", "12:02", "12:03", "12:04", "12:05"]


def test_an_edit_between_the_read_and_the_write_makes_the_fire_write_nothing_until_read_again(world: World) -> None:
    # Given a fire planned from the schedule as read, and an edit that comes in before the fire is written
    s = world.create("* * * * *", T0)
    fires = world.scheduler(minute(1))._plan(world.store.due(minute(1)), minute(1))
    world.service.patch(TENANT, s.id, SchedulePatch(name="renamed"), now=minute(1))
    # When the fire is written, its move fails on the version, and its job goes with it (one transaction)
    assert world.store.fire(fires) == []
    assert world.jobs_of(s.id) == []
    assert world.store.get(TENANT, s.id).next_fire_at == minute(1)
    # Then the next tick reads the edited schedule and fires it once
    assert world.scheduler(minute(1) + timedelta(seconds=1)).tick().fired == 1
    assert [j.id for j in world.jobs_of(s.id)] == [fire_job_id(s.id, minute(1))]
    after = world.store.get(TENANT, s.id)
    assert after.next_fire_at == minute(2) and after.name == "renamed"


def test_a_fire_half_written_by_a_crash_is_healed_without_a_second_job(world: World) -> None:
    # Given a fire time whose job exists while its schedule still waits for it (what a scheduler that wrote
    # the two separately left when it crashed between them)
    s = world.create("* * * * *", T0)
    [planned] = world.scheduler(minute(1))._plan(world.store.due(minute(1)), minute(1))
    assert planned.job is not None
    world.db.put_item(TableName=world.jobs.table, Item=aws.to_item(job_attributes(planned.job)))
    # When the next tick fires it, the job's put fails alone and the fire is retried as the move alone
    result = world.scheduler(minute(1) + timedelta(seconds=1)).tick()
    assert (result.fired, result.lost) == (0, 1)
    # Then there is still one job, and the schedule moved on with it as its last run
    assert [j.id for j in world.jobs_of(s.id)] == [fire_job_id(s.id, minute(1))]
    after = world.store.get(TENANT, s.id)
    assert after.next_fire_at == minute(2) and after.last_job_id == fire_job_id(s.id, minute(1))


def test_credential_headers_are_sealed_in_the_schedule_and_opened_only_into_the_fired_job(world: World) -> None:
    marker = uuid.uuid4().hex
    secrets = {"Authorization": f"Bearer tok-{marker}", "X-Api-Key": f"k-{marker}"}
    # Given a schedule whose job carries credentials, and a fallback that does too
    s = world.create("* * * * *", T0, job={"request": {"url": "https://example.com/hook",
                                                       "headers": {**secrets, "X-Trace": "visible"}},
                                           "fallbacks": [{"url": "https://backup.example.com/hook",
                                                          "headers": {"Authorization": f"Basic fb-{marker}"}}]})
    # Then the stored schedule holds them sealed, bound to this schedule, and every read shows [redacted]
    item = world.db.get_item(TableName=world.store.table, Key={"pk": {"S": f"SCH#{s.id}"}, "sk": {"S": "SCH"}})
    stored = json.dumps(item["Item"])
    assert marker not in stored and stored.count(PREFIX) == 3
    read = world.store.get(TENANT, s.id)
    assert read.job.request.headers["X-Trace"] == "visible"
    assert all(read.job.request.headers[k].startswith(PREFIX) for k in secrets)
    shown = read.public(T0).model_dump_json()
    assert marker not in shown and shown.count(REDACTED) == 3
    with pytest.raises(SealedValueInvalid):  # a sealed value copied into another schedule does not open
        opened_schedule_spec(TENANT, "sch_other", read.job)
    # When it fires, the job is written with the credentials sealed again, for the job, and opens to plaintext
    world.scheduler(minute(1)).tick()
    [job] = world.jobs_of(s.id)
    job_item = world.db.get_item(TableName=world.jobs.table, Key={"pk": {"S": f"JOB#{job.id}"}, "sk": {"S": "JOB"}})
    # (the spec decompressed where the store compressed it: compression is no way of hiding a credential)
    assert marker not in json.dumps(as_text(job_item["Item"]))
    assert open_headers(TENANT, job.id, job.spec.request.headers) == {**secrets, "X-Trace": "visible"}
    assert open_headers(TENANT, job.id, job.spec.fallbacks[0].headers or {}) == {
        "Authorization": f"Basic fb-{marker}"}
    # And an edit that leaves the job alone keeps it sealed as it was (nothing sealed twice)
    world.service.patch(TENANT, s.id, SchedulePatch(name="renamed"), now=minute(1))
    again = world.store.get(TENANT, s.id)
    assert again.job == read.job


def test_fired_jobs_with_an_ordering_key_or_parents_wait_as_submitted_ones_do(world: World) -> None:
    # Given a parent job that has not run yet, and two schedules whose job spec relates to other jobs
    parent = JobService(world.jobs, world.queue).submit(TENANT, JobSpec.model_validate(
        {"request": {"url": "https://example.com/parent"}, "delay_s": 600}), now=T0).job
    hook = {"url": "https://example.com/hook"}
    keyed = world.create("* * * * *", T0, job={"request": hook, "ordering_key": "nightly"})
    child = world.create("* * * * *", T0, job={"request": hook, "depends_on": [parent.id]})
    # When both fire at 12:01 and at 12:02 (the 12:01 tick delivered twice)
    for now in (minute(1), minute(1), minute(2)):
        world.scheduler(now).tick()
    # Then the keyed runs go one at a time: the second waits for the first
    by_time = {j.spec.labels["scheduled_for"]: j for j in world.jobs_of(keyed.id)}
    assert [(t, j.status) for t, j in sorted(by_time.items())] == [
        ("2027-06-01T12:01:00Z", Status.pending), ("2027-06-01T12:02:00Z", Status.waiting)]
    # And the children wait for their parent, one job per fire time
    children = world.jobs_of(child.id)
    assert len(children) == 2 and {j.status for j in children} == {Status.waiting}
    assert {j.id for j in children} == {fire_job_id(child.id, minute(1)), fire_job_id(child.id, minute(2))}
    # Only the runnable one was enqueued
    assert world.enqueued() == [fire_job_id(keyed.id, minute(1))]
    assert world.store.get(TENANT, keyed.id).last_job_id == fire_job_id(keyed.id, minute(2))
