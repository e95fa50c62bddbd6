"""The submit function's composition root: its collaborators, built once per execution environment
from its settings (read once). Only the handler's modules import it."""

from __future__ import annotations

import os
from functools import cache

import redis

from shared import aws, redis_client
from shared.alerts.store import AlertStore
from shared.config import Env, env
from shared.envelope import sealer
from shared.jobs.batch import BatchService
from shared.jobs.events import JobEvents, job_events
from shared.jobs.ordering import Sequences
from shared.jobs.queue import jobs_queue
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.jobs.workflows import WorkflowService
from shared.schedules.service import ScheduleService
from shared.schedules.store import ScheduleStore
from shared.sources.service import SourceService
from shared.sources.store import SourceStore
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.credentials import Credentials
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.onboarding import Onboarding
from shared.telemetry.reading_store import ReadingStore
from shared.telemetry.rollup_store import RollupStore
from shared.telemetry.settings import telemetry_env
from shared.telemetry.vault import Vault
from shared.tenant_limits import TenantRateLimit, parse_rate
from shared.tenants import TenantStore


def settings() -> Env:
    return env()


@cache
def redis_conn() -> redis.Redis | None:
    url = settings().redis_url
    return redis_client.client(url) if url else None


@cache
def tenants() -> TenantStore:
    return TenantStore(settings().tenants_table)


@cache
def job_store() -> JobStore:
    return JobStore(settings().jobs_table)


def sequences() -> Sequences:
    return Sequences(job_store())


@cache
def events() -> JobEvents:
    return job_events(redis_conn(), settings().redis_keys())


@cache
def rate_limit() -> TenantRateLimit:
    e = settings()
    return TenantRateLimit(aws.dynamodb(), e.jobs_table, parse_rate(e.tenant_rate), e.tenant_burst)


@cache
def jobs() -> JobService:
    e = settings()
    return JobService(job_store(), jobs_queue(e), events(),
                      allow_private_targets=e.allow_private_targets)


@cache
def batch() -> BatchService:
    return BatchService(jobs())


@cache
def workflows() -> WorkflowService:
    return WorkflowService(jobs().terminals, allow_private_targets=settings().allow_private_targets)


@cache
def schedule_store() -> ScheduleStore:
    e = settings()
    return ScheduleStore(e.schedules_table, e.jobs_table)


@cache
def schedules() -> ScheduleService:
    return ScheduleService(schedule_store(), jobs())


@cache
def inverter_store() -> InverterStore:
    return InverterStore(settings().inverters_table)


@cache
def reading_store() -> ReadingStore:
    return ReadingStore(settings().readings_table)


@cache
def rollup_store() -> RollupStore:
    return RollupStore(settings().rollups_table)


@cache
def alert_store() -> AlertStore:
    return AlertStore(settings().alerts_table)


@cache
def connection_store() -> ConnectionStore:
    return ConnectionStore(settings().inverters_table)


@cache
def onboarding() -> Onboarding:
    tenv = telemetry_env()
    return Onboarding(connections=connection_store(), inverters=inverter_store(), vault=Vault(sealer(settings())),
                      tenv=tenv, stage_credentials=Credentials(os.environ, tenv.secret_arn))


@cache
def source_store() -> SourceStore:
    e = settings()
    return SourceStore(e.sources_table, e.jobs_table)


@cache
def source_service() -> SourceService:
    e = settings()
    return SourceService(source_store(), jobs(), sealer(e), allow_private_targets=e.allow_private_targets)


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    for factory in (redis_conn, tenants, job_store, events, jobs, schedule_store, schedules, inverter_store,
                    reading_store, rate_limit, rollup_store, alert_store, connection_store, onboarding,
                    source_store, source_service):
        factory.cache_clear()
