"""Schedules: how late a fire is, how long 10,000 fires of one minute take, and what a million fires cost.

Against a moto server (the local cloud's AWS) with the real scheduler (`shared.schedules.scheduler`):

- `schedules_10k_fire_s`: 10,000 schedules due at the same minute; the scheduler's ticks, with the clock
  at that minute, until every one has its job written and enqueued (null if that takes longer than
  FIRE_CAP_S; the rate reached is in the details). Baseline in the same run: the same number of fires'
  writes made bare one item a request (a conditional put and a conditional update per fire, 16 at a
  time: the write pattern before fires were batched into transactions), as a ratio: below 1, the whole
  fire path (due query, planning, transactions, sends) is faster than those bare writes alone.
- `schedule_fire_lag_p95_s`: fire time → job pending, the scheduler ticking every second as in the local
  cloud (`run_ticks`, real clock). Schedules are made due at staggered instants a few seconds ahead
  (their `due_at` written directly), so that no round waits for a minute boundary. Baseline: the tick
  cadence (1 s), as a ratio.
- `schedule_cost_usd_per_million_fires`: the DynamoDB write and read units of the fire path, counted from
  the real items (`bench.cost` rules; the job's put and the schedule's move are transactional writes), SQS
  requests and the scheduler's Lambda time per fire measured in the 10k run, next to what EventBridge
  Scheduler would charge for the same fires (`bench.cost`).

`python -m bench.schedules [N]` runs it alone.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench import cost
from bench.harness import AwsCallCounter, moto_stack
from shared import aws
from shared.jobs.models import JobSpec
from shared.jobs.queue import JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.record import to_attributes as job_attributes
from shared.schedules.record import ScheduleRecord, fire_job_id, new_schedule_id
from shared.schedules.record import to_attributes as schedule_attributes
from shared.schedules.scheduler import Scheduler, run_ticks
from shared.schedules.service import fired_spec
from shared.schedules.store import ScheduleStore
from shared.topology import function, table

TENANT = "bench"
FIRE_CAP_S = 200.0  # the module's 480 s limit also covers 10,000 schedules' set-up and the lag run
SPEC = JobSpec.model_validate({"request": {"url": "https://example.com/hook", "headers": {
    "content-type": "application/json"}, "body": '{"report": "daily"}'}})


def _indexes(name: str) -> list[cost.IndexSchema]:
    return [cost.IndexSchema(i.name, tuple(k for k in (i.partition_key, i.sort_key) if k), i.projection)
            for i in table(name).indexes]


def _batch_put(db: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        request = {table_name: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]}
        while request:
            request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def _schedules(n: int, fire: datetime) -> list[ScheduleRecord]:
    created = fire - timedelta(minutes=5)
    return [ScheduleRecord(id=new_schedule_id(), tenant=TENANT, name=f"bench-{i}", cron="* * * * *", timezone="UTC",
                           job=SPEC, created_at=created, updated_at=created, next_fire_at=fire) for i in range(n)]


def _fire_10k(env: dict[str, str], n: int) -> dict[str, Any]:
    db = aws.dynamodb()
    store = ScheduleStore(env["SCHEDULES_TABLE"], env["JOBS_TABLE"], db)
    queue = JobQueue(env["JOBS_QUEUE_URL"], env["JOBS_DLQ_URL"])
    fire = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    records = _schedules(n, fire)
    _batch_put(db, store.table, [aws.to_item(schedule_attributes(r)) for r in records])
    counter = AwsCallCounter()
    aws.dynamodb.cache_clear()
    aws.sqs.cache_clear()
    store = ScheduleStore(env["SCHEDULES_TABLE"], env["JOBS_TABLE"])  # clients of the counted session
    scheduler = Scheduler(store, JobQueue(env["JOBS_QUEUE_URL"], env["JOBS_DLQ_URL"]), clock=lambda: fire)
    counter.reset()
    scheduler.batch = 500  # rounds of 2,000 (4 shards), so that the cap is checked between them
    started = time.perf_counter()
    fired = 0
    while fired < n and time.perf_counter() - started < FIRE_CAP_S:
        result = scheduler.tick(fire)
        fired += result.fired
        if result.fired == 0:
            break
    fire_s = time.perf_counter() - started
    calls = dict(counter.reset())
    queued = int(boto3.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    # Baseline: the same writes bare (a conditional job put and a conditional update per fire), for a
    # sample of BASE fires through the same 16-thread pool, scaled to the fires made.
    base = min(400, n)
    base_jobs = [aws.to_item(job_attributes(JobRecord.submitted(f"job_base{i:08d}", TENANT, SPEC, fire)))
                 for i in range(base)]

    def bare(i: int) -> None:
        db.put_item(TableName=env["JOBS_TABLE"], Item=base_jobs[i], ConditionExpression="attribute_not_exists(pk)")
        db.update_item(TableName=env["JOBS_TABLE"], Key={"pk": base_jobs[i]["pk"], "sk": base_jobs[i]["sk"]},
                       UpdateExpression="SET attempts = :z", ConditionExpression="attribute_exists(pk)",
                       ExpressionAttributeValues={":z": {"N": "0"}})

    with ThreadPoolExecutor(16) as pool:
        started = time.perf_counter()
        list(pool.map(bare, range(base)))
        baseline_s = (time.perf_counter() - started) * fired / base
    # Capacity of one fire, from its real items: the job put and the schedule's move, one transaction (whose
    # writes bill twice; the index entries they change are standard writes).
    one = records[0]
    before = aws.to_item(schedule_attributes(one))
    after = aws.to_item(schedule_attributes(one.model_copy(update={
        "next_fire_at": fire + timedelta(minutes=1), "last_run_at": fire, "last_job_id": fire_job_id(one.id, fire),
        "version": one.version + 1})))
    spec = fired_spec(one.job, one.id, fire)
    job_item = aws.to_item(job_attributes(JobRecord.submitted(fire_job_id(one.id, fire), TENANT, spec, fire)))
    wru_job = cost.write_units(cost.item_size(job_item), transactional=True)
    wru_sched = cost.write_units(max(cost.item_size(before), cost.item_size(after)), transactional=True)
    gsi_job = cost.gsi_write_units(None, job_item, _indexes("jobs"))
    gsi_sched = cost.gsi_write_units(before, after, _indexes("schedules"))
    # Reads: the due query returns whole items (ALL projection), 0.5 RRU per 4 KB, eventually consistent.
    rru = cost.item_size(before) / (4 * cost.KB) * 0.5
    return {"n": n, "fired": fired, "complete": fired == n, "fires_per_s": round(fired / fire_s, 1),
            "enqueued": queued, "seconds": fire_s, "baseline_s": baseline_s,
            "calls": calls, "schedule_item_bytes": cost.item_size(after), "job_item_bytes": cost.item_size(job_item),
            "wru": {"job_put": wru_job, "schedule_update": wru_sched, "job_indexes": gsi_job,
                    "schedule_indexes": gsi_sched},
            "wru_per_fire": wru_job + wru_sched + sum(gsi_job.values()) + sum(gsi_sched.values()),
            "wru_per_submitted_job": cost.write_units(cost.item_size(job_item)) + sum(gsi_job.values()),
            "rru_per_fire": rru}


def _lag(env: dict[str, str], rounds: int = 5, per_round: int = 20) -> dict[str, Any]:
    """Real clock: schedules due at staggered instants, the scheduler ticking every second in a thread."""
    store = ScheduleStore(env["SCHEDULES_TABLE"], env["JOBS_TABLE"])
    scheduler = Scheduler(store, JobQueue(env["JOBS_QUEUE_URL"], env["JOBS_DLQ_URL"]))
    db = aws.dynamodb()
    start = datetime.now(UTC) + timedelta(seconds=3)
    due: dict[str, datetime] = {}
    records = []
    for r in range(rounds):
        at = start + timedelta(seconds=r * 2.3)
        for s in _schedules(per_round, at):
            records.append(s)
            due[fire_job_id(s.id, at)] = at
    _batch_put(db, store.table, [aws.to_item(schedule_attributes(s)) for s in records])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run_ticks(scheduler, 0)
            time.sleep(1.0 - time.time() % 1.0 + 0.05)  # as the local cloud: one tick a second

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    jobs: dict[str, datetime] = {}
    while time.monotonic() < deadline and len(jobs) < len(due):
        time.sleep(0.5)
        jobs = _job_created(db, env["JOBS_TABLE"], list(due))
    stop.set()
    thread.join(5)
    lags = [(created - due[j]).total_seconds() for j, created in jobs.items()]
    lags.sort()
    return {"schedules": len(due), "jobs": len(jobs),
            "p50_s": round(statistics.median(lags), 3) if lags else None,
            "p95_s": round(lags[max(0, int(len(lags) * 0.95) - 1)], 3) if lags else None,
            "max_s": round(max(lags), 3) if lags else None}


def _job_created(db: Any, table_name: str, job_ids: list[str]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for start in range(0, len(job_ids), 100):
        request: dict[str, Any] = {table_name: {"Keys": [{"pk": {"S": f"JOB#{j}"}, "sk": {"S": "JOB"}}
                                                         for j in job_ids[start:start + 100]]}}
        while request:
            page = db.batch_get_item(RequestItems=request)
            for item in page["Responses"].get(table_name, []):
                out[item["id"]["S"]] = datetime.fromisoformat(item["created_at"]["S"])
            request = page.get("UnprocessedKeys") or {}
    return out


def run(n: int = 10_000) -> dict[str, Any]:
    with moto_stack() as env:
        fire = _fire_10k(env, n)
        lag = _lag(env)
    calls = fire["calls"]
    sqs_per_fire = sum(v for k, v in calls.items() if k.startswith("sqs.")) / max(1, fire["fired"])
    memory = function("scheduler").memory_mb
    lambda_ms_per_fire = fire["seconds"] * 1000 / max(1, fire["fired"])  # moto-bound: an upper bound for AWS
    ours = cost.fire_cost_per_million(fire["wru_per_fire"] - fire["wru_per_submitted_job"], fire["rru_per_fire"],
                                      sqs_per_fire, lambda_ms_per_fire, memory)
    managed = cost.eventbridge_scheduler_cost_per_million(handler_ms=50, memory_mb=memory)
    return {
        "schedules_10k_fire_s": round(fire["seconds"], 2) if fire["complete"] and n == 10_000 else None,
        "schedule_fires_per_s": fire["fires_per_s"],
        "schedules_fire_vs_bare_writes": round(fire["seconds"] / fire["baseline_s"], 2),
        "schedule_fire_lag_p95_s": lag["p95_s"],
        "schedule_fire_lag_p95_vs_tick": round(lag["p95_s"] / 1.0, 2) if lag["p95_s"] is not None else None,
        "schedule_cost_usd_per_million_fires": round(ours["total"], 3),
        "eventbridge_scheduler_usd_per_million_fires": round(managed["total"], 3),
        "schedules_detail": {
            "fire_10k": {k: v for k, v in fire.items() if k != "calls"} | {
                "projected_s_for_n_at_this_rate": round(n / fire["fires_per_s"], 1) if fire["fires_per_s"] else None,
                "aws_calls": calls, "sqs_requests_per_fire": round(sqs_per_fire, 3),
                "lambda_ms_per_fire": round(lambda_ms_per_fire, 3)},
            "lag": lag,
            "cost_usd_per_million_fires": {"due_index": cost.rounded(ours), "eventbridge_scheduler": cost.rounded(
                managed)},
            "excluded": ["the fired job's own cost (its submit-equivalent write, queue and worker: the same under "
                         "either engine)", "the scheduler's fixed ticking cost: ≈ 43,200 invocations a month "
                         f"× 55 s × {memory} MB ≈ $" + f"{cost.ticking_usd_per_month(memory):.2f} a month",
                         "free tiers"],
        },
    }


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
