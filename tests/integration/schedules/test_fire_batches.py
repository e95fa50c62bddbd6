"""The batched fire path against moto over HTTP: fires go 50 to a transaction (at most 100 actions), two
schedulers racing over the same due schedules make one job per schedule, a batch in which some fires were
already written by someone else writes the rest, and `overlap: skip` and a pause behave inside a batch."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import aws
from shared.jobs.models import Status
from shared.jobs.record import JobRecord, from_attributes
from shared.jobs.record import to_attributes as job_attributes
from shared.schedules.models import SchedulePatch
from shared.schedules.record import ScheduleRecord, fire_job_id
from shared.schedules.store import Fire
from tests.integration.schedules.conftest import TENANT, World

pytestmark = pytest.mark.integration
T0 = datetime(2027, 6, 1, 12, 0, 20, tzinfo=UTC)


def minute(n: int) -> datetime:
    return datetime(2027, 6, 1, 12, n, tzinfo=UTC)


def schedules(world: World, n: int, **fields: Any) -> list[ScheduleRecord]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: world.create("* * * * *", T0, **fields), range(n)))


def transactions(world: World) -> list[int]:
    """The number of actions of every TransactWriteItems this world's client sends from now on."""
    sizes: list[int] = []
    world.db.meta.events.register("provide-client-params.dynamodb.TransactWriteItems",
                                  lambda params, **_: sizes.append(len(params["TransactItems"])))
    return sizes


def world_jobs(world: World) -> list[JobRecord]:
    """Every job of this world's table (a full scan: the table is ours)."""
    out: list[JobRecord] = []
    kwargs: dict[str, Any] = {"TableName": world.jobs.table}
    while True:
        page = world.db.scan(**kwargs)
        out += [from_attributes(aws.from_item(i)) for i in page.get("Items", []) if i["sk"]["S"] == "JOB"]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_two_schedulers_racing_over_the_same_250_due_schedules_create_exactly_250_jobs(world: World) -> None:
    # Given 250 schedules due at 12:01, read and planned by two schedulers from the same read
    made = schedules(world, 250)
    due = world.store.due(minute(1))
    assert len(due) == 250
    a, b = world.scheduler(minute(1)), world.scheduler(minute(1))
    plan_a, plan_b = a._plan(due, minute(1)), b._plan(due, minute(1))
    random.Random(12).shuffle(plan_b)  # so that B's batches overlap A's partly, not one to one
    sizes = transactions(world)
    # When both write their fires at once
    with ThreadPoolExecutor(2) as pool:
        won_a, won_b = pool.map(world.store.fire, [plan_a, plan_b])
    # Then each fire time was won by exactly one of them, and has exactly one job
    created = [f.job.id for f in won_a + won_b if f.job is not None]
    assert len(created) == len(set(created)) == 250
    assert {f.schedule.id for f in won_a} & {f.schedule.id for f in won_b} == set()
    assert sizes and max(sizes) <= 100 and len(sizes) < 60  # batched: 10 batches, and the retries of the losers
    # And two whole ticks racing for the next minute do the same
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: s.tick(), [world.scheduler(minute(2)), world.scheduler(minute(2))]))
    assert sum(r.fired for r in results) == 250
    jobs = world_jobs(world)
    per_schedule = Counter(j.spec.labels["schedule_id"] for j in jobs)
    assert len(jobs) == 500 and set(per_schedule.values()) == {2}
    assert {j.id for j in jobs} == {fire_job_id(s.id, m) for s in made for m in (minute(1), minute(2))}
    # (the writes of 12:01 were the store's alone; the ticks of 12:02 enqueued each of their jobs once)
    assert Counter(world.enqueued()) == Counter({fire_job_id(s.id, minute(2)): 1 for s in made})


def test_a_batch_in_which_some_fires_were_already_written_writes_the_rest(world: World) -> None:
    # Given 120 due schedules planned at once; then 30 of them fired by another writer, and 5 others left
    # half written (their job exists, the schedule still waits: a crash of a writer that wrote them apart)
    made = schedules(world, 120)
    sched = world.scheduler(minute(1))
    plan = sched._plan(world.store.due(minute(1)), minute(1))
    rng = random.Random(7)
    others = rng.sample(plan, 35)
    first, half = others[:30], others[30:]
    assert len(world.store.fire(first)) == 30
    for f in half:
        assert f.job is not None
        world.db.put_item(TableName=world.jobs.table, Item=aws.to_item(job_attributes(f.job)))
    sizes = transactions(world)
    # When the batch of 120 is written
    won = world.store.fire(plan)
    # Then the 85 untouched fires made their jobs, the 5 half-written ones only moved on, the 30 lost
    by_id = {f.schedule.id: f for f in won}
    assert len(won) == 90
    assert all(f.schedule.id not in by_id for f in first)
    assert all(by_id[f.schedule.id].existed and by_id[f.schedule.id].job is None for f in half)
    assert sum(1 for f in won if f.job is not None) == 85
    assert 3 <= len(sizes) <= 3 + 3 * 2  # three batches, each retried after dropping or changing its failed fires
    # And every schedule has one job for 12:01 and waits for 12:02 with it as its last run
    jobs = world_jobs(world)
    assert sorted(j.id for j in jobs) == sorted(fire_job_id(s.id, minute(1)) for s in made)
    for s in made:
        after = world.store.get(TENANT, s.id)
        assert after.next_fire_at == minute(2) and after.last_job_id == fire_job_id(s.id, minute(1))


def test_overlap_skip_and_a_pause_inside_one_batch(world: World) -> None:
    # Given, fired once at 12:01: 20 `allow`, 20 `skip` whose run stays pending, 20 `skip` whose run completes,
    # and 10 `allow` that will be paused between the read and the write of 12:02
    allow, running, done, paused = (schedules(world, 20), schedules(world, 20, overlap="skip"),
                                    schedules(world, 20, overlap="skip"), schedules(world, 10))
    assert world.scheduler(minute(1)).tick().fired == 70
    for s in done:
        (job,) = world.jobs_of(s.id)
        world.finish(job, Status.completed)
    sched = world.scheduler(minute(2))
    plan = sched._plan(world.store.due(minute(2)), minute(2))
    for s in paused:
        world.service.patch(TENANT, s.id, SchedulePatch(paused=True), now=minute(2))
    # When the 70 fires of 12:02 are written (two transactions: 110 actions)
    sizes = transactions(world)
    won: dict[str, Fire] = {f.schedule.id: f for f in world.store.fire(plan)}
    assert max(sizes) <= 100
    # Then `allow` and the finished `skip` fired, the running `skip` moved on without a job, the paused fired nothing
    assert all(won[s.id].job is not None for s in allow + done)
    assert all(won[s.id].job is None and not won[s.id].existed for s in running)
    assert all(s.id not in won for s in paused)
    for s in running:
        after = world.store.get(TENANT, s.id)
        assert after.next_fire_at == minute(3) and after.last_job_id == fire_job_id(s.id, minute(1))
    for s in paused:
        assert world.store.get(TENANT, s.id).public(minute(2)).next_runs == []
    # And at 12:03 through a whole tick: nothing for the paused, a skip wherever the last run is not finished
    # (the 12:01 runs of `running`, the 12:02 runs of `done`)
    result = world.scheduler(minute(3)).tick()
    assert (result.fired, result.skipped) == (20, 40)
    counts = Counter(j.spec.labels["schedule_id"] for j in world_jobs(world))
    assert all(counts[s.id] == 3 for s in allow) and all(counts[s.id] == 2 for s in done)
    assert all(counts[s.id] == 1 for s in running + paused)
