"""The scheduler: every tick, the schedules whose fire time has come each become one job.

Read what is due from the sparse due index (its shards at once), decide each fire (a job, or a skip under
`overlap: skip` while the previous run is not terminal), write the fires (`shared.schedules.fires`: the fire
time's job and the schedule's move to its next fire time in one conditional transaction, 50 fires to one,
the batches concurrently), then enqueue the new jobs, ten to a SendMessageBatch, the batches concurrently. A
crash after the write and before the send leaves pending jobs that the sweeper enqueues, as after a submit.

A schedule that missed several fire times (the scheduler was down) fires them one per round, oldest
first, until it is caught up: every fire time creates its job, late rather than never.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.errors import SteadfastError, Unavailable
from shared.jobs.events import JobEvents, NoEvents
from shared.jobs.models import JobSpec, utcnow
from shared.jobs.queue import MAX_DELAY_SECONDS, JobQueue, Send
from shared.jobs.record import JobRecord
from shared.schedules import cron
from shared.schedules.fires import Fire
from shared.schedules.models import Overlap
from shared.schedules.record import ScheduleRecord, fire_job_id, rfc3339
from shared.schedules.service import fired_spec, job_spec_to_run
from shared.schedules.store import ScheduleStore

if TYPE_CHECKING:
    from shared.jobs.service import JobService

logger = Logger(child=True)
metrics = Metrics()
SEND_GROUP = 50  # jobs per thread of the sends: five SendMessageBatch calls of ten
_SENDS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fire-send")


@dataclass
class TickResult:
    fired: int = 0
    skipped: int = 0
    lost: int = 0
    max_lag_s: float = 0.0
    job_ids: list[str] = field(default_factory=list)


@dataclass
class Scheduler:
    store: ScheduleStore
    queue: JobQueue
    events: JobEvents = field(default_factory=NoEvents)
    # Schedules read per due-index shard and round; rounds go on while a backlog remains, up to the budget.
    batch: int = 1000
    round_budget_s: float = 20.0
    clock: Callable[[], datetime] = utcnow
    # Accepts the fires whose job spec relates to other jobs (None: one on the scheduler's own store and queue).
    jobs: JobService | None = None

    @property
    def job_service(self) -> JobService:
        """The job service, built at the first fire that needs it: a tick whose fires relate to no other job
        (most) does not import it, nor its continuations, links and target checks."""
        if self.jobs is None:
            from shared.jobs.service import JobService
            from shared.jobs.store import JobStore

            self.jobs = JobService(JobStore(self.store.jobs_table, self.store.db), self.queue, self.events,
                                   allow_private_targets=True)  # targets were checked when the schedule was saved
        return self.jobs

    def tick(self, now: datetime | None = None) -> TickResult:
        now = now or self.clock()
        result = TickResult()
        started = time.monotonic()
        while time.monotonic() - started < self.round_budget_s:
            due = self.store.due(now, self.batch)
            if not due:
                break
            fires = self._plan(due, now)
            won = self.store.fire(fires)
            result.lost += len(fires) - len(won)
            self._after(won, now, result)
            if not won:
                break  # everything due was taken by someone else or changed meanwhile
        if result.fired or result.skipped:
            metrics.add_metric(name="ScheduleFires", unit=MetricUnit.Count, value=result.fired)
            metrics.add_metric(name="ScheduleSkips", unit=MetricUnit.Count, value=result.skipped)
            metrics.add_metric(name="ScheduleFireLagMax", unit=MetricUnit.Seconds, value=result.max_lag_s)
        if result.lost:
            metrics.add_metric(name="ScheduleFiresLost", unit=MetricUnit.Count, value=result.lost)
        return result

    def _plan(self, due: list[ScheduleRecord], now: datetime) -> list[Fire]:
        watched = [s.last_job_id for s in due if s.overlap is Overlap.skip and s.last_job_id]
        done = self.store.last_jobs_terminal(watched) if watched else {}
        fires = []
        for s in due:
            assert s.next_fire_at is not None  # the due index lists only schedules with a fire time
            fire_time = s.next_fire_at
            nxt = cron.next_fire(s.cron, s.timezone, fire_time)
            if s.overlap is Overlap.skip and s.last_job_id and not done.get(s.last_job_id, True):
                fires.append(Fire(s, fire_time, nxt, None))
                continue
            spec = fired_spec(job_spec_to_run(s), s.id, fire_time)
            if spec.depends_on or spec.ordering_key:
                fires.append(self._submitted(s, fire_time, nxt, spec, now))
                continue
            job = JobRecord.submitted(fire_job_id(s.id, fire_time), s.tenant, spec, now)
            fires.append(Fire(s, fire_time, nxt, job))
        return fires

    def _submitted(self, s: ScheduleRecord, fire_time: datetime, nxt: datetime | None, spec: JobSpec,
                   now: datetime) -> Fire:
        """The fire of a job related to others, accepted through the job service (which registers it with its
        parents or its ordering key, enqueues and publishes it) under the fire time's id: a second try gets
        that job back as replayed."""
        try:
            created = self.job_service.submit(s.tenant, spec, now=now, job_id=fire_job_id(s.id, fire_time))
        except Unavailable:
            raise  # the schedule stays due; the next tick tries this fire time again
        except SteadfastError as exc:
            logger.error("schedule fire refused by the job service", extra={
                "schedule_id": s.id, "tenant": s.tenant, "scheduled_for": rfc3339(fire_time), "error": exc.detail})
            return Fire(s, fire_time, nxt, None)
        return Fire(s, fire_time, nxt, created.job, existed=created.replayed, submitted=True)

    def _after(self, won: list[Fire], now: datetime, result: TickResult) -> None:
        sends: list[Send] = []
        for f in won:
            lag = (now - f.fire_time).total_seconds()
            log = {"schedule_id": f.schedule.id, "tenant": f.schedule.tenant,
                   "scheduled_for": rfc3339(f.fire_time), "lag_s": round(lag, 3)}
            if f.existed:
                result.lost += 1  # its job was written by an earlier try or another scheduler
                logger.info("schedule fire found its job already written", extra=log)
                continue
            if f.job is None:
                result.skipped += 1
                logger.info("schedule fire skipped: the previous run is not finished",
                            extra=log | {"last_job_id": f.schedule.last_job_id})
                continue
            result.fired += 1
            result.max_lag_s = max(result.max_lag_s, lag)
            result.job_ids.append(f.job.id)
            logger.info("schedule fired", extra=log | {"job_id": f.job.id})
            if f.submitted:
                continue  # the job service enqueued it
            delay = (f.job.next_attempt_at - now).total_seconds() if f.job.next_attempt_at else 0.0
            if delay <= MAX_DELAY_SECONDS:
                sends.append((f.job.id, f.job.tenant, delay, f.job.spec.priority))
        groups = [sends[i:i + SEND_GROUP] for i in range(0, len(sends), SEND_GROUP)]
        unsent = sum(_SENDS.map(self._send, groups))
        if unsent:
            logger.warning("fired jobs written but not all enqueued; the sweeper will send them",
                           extra={"count": unsent})
        for f in won:
            if f.job is not None and not f.submitted:
                self.events.publish(f.job.tenant, f.job.public())

    def _send(self, sends: list[Send]) -> int:
        """Enqueue these jobs; how many may not have been (a partial failure counts the whole group)."""
        try:
            self.queue.send_many(sends)
        except Unavailable:
            return len(sends)
        return 0


def run_ticks(scheduler: Scheduler, window_s: float, sleep: Callable[[float], None] = time.sleep) -> TickResult:
    """Tick now, then at every whole second until `window_s` has passed (0: one tick). In AWS the
    one-minute rule starts this with a window of most of the minute, so that a fire waits seconds for
    its tick instead of up to a minute; two overlapping invocations are harmless (see the store)."""
    total = TickResult()
    started = time.monotonic()
    while True:
        r = scheduler.tick()
        total.fired += r.fired
        total.skipped += r.skipped
        total.lost += r.lost
        total.max_lag_s = max(total.max_lag_s, r.max_lag_s)
        total.job_ids += r.job_ids
        left = window_s - (time.monotonic() - started)
        if left <= 0:
            return total
        sleep(min(left, 1.0 - time.time() % 1.0 + 0.05))
