"""The submit function's collaborators, built once per execution environment from its environment."""

from __future__ import annotations

from functools import cache

from shared.config import env
from shared.jobs.events import JobEvents, job_events
from shared.jobs.queue import JobQueue
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.schedules.service import ScheduleService
from shared.schedules.store import ScheduleStore
from shared.tenants import TenantStore


@cache
def tenants() -> TenantStore:
    return TenantStore(env().tenants_table)


@cache
def job_store() -> JobStore:
    return JobStore(env().jobs_table)


@cache
def events() -> JobEvents:
    return job_events(env().redis_url)


@cache
def jobs() -> JobService:
    e = env()
    return JobService(job_store(), JobQueue(e.jobs_queue_url, e.jobs_dlq_url), events(),
                      allow_private_targets=e.allow_private_targets)


@cache
def schedule_store() -> ScheduleStore:
    e = env()
    return ScheduleStore(e.schedules_table, e.jobs_table)


@cache
def schedules() -> ScheduleService:
    return ScheduleService(schedule_store(), jobs())
