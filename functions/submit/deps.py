"""The submit function's composition root: its collaborators, built once per execution environment
from its settings (read once). Only the handler's modules import it.

Each factory imports what it builds, so that a cold start imports the routes and their models, not
every collaborator behind them: a status read never loads the vendor adapters that onboarding calls,
nor redis-py when the function has no Redis (AWS). The first request that needs a collaborator pays for
its import, once per execution environment.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from shared.config import Env, env

if TYPE_CHECKING:
    import redis

    from shared.alerts.store import AlertStore
    from shared.jobs.batch import BatchService
    from shared.jobs.events import JobEvents
    from shared.jobs.ordering import Sequences
    from shared.jobs.service import JobService
    from shared.jobs.store import JobStore
    from shared.jobs.workflows import WorkflowService
    from shared.schedules.service import ScheduleService
    from shared.schedules.store import ScheduleStore
    from shared.sources.service import SourceService
    from shared.sources.store import SourceStore
    from shared.telemetry.connection_store import ConnectionStore
    from shared.telemetry.inverter_store import InverterStore
    from shared.telemetry.onboarding import Onboarding
    from shared.telemetry.reading_store import ReadingStore
    from shared.telemetry.rollup_store import RollupStore
    from shared.tenant_limits import TenantRateLimit
    from shared.tenants import TenantStore


def settings() -> Env:
    return env()


@cache
def redis_conn() -> redis.Redis | None:
    from shared import redis_client

    url = settings().redis_url
    return redis_client.client(url) if url else None


@cache
def tenants() -> TenantStore:
    from shared.tenants import TenantStore

    return TenantStore(settings().tenants_table)


@cache
def job_store() -> JobStore:
    from shared.jobs.store import JobStore

    return JobStore(settings().jobs_table)


def sequences() -> Sequences:
    from shared.jobs.ordering import Sequences

    return Sequences(job_store())


@cache
def events() -> JobEvents:
    from shared.jobs.events import job_events

    return job_events(redis_conn(), settings().redis_keys())


@cache
def rate_limit() -> TenantRateLimit:
    from shared import aws
    from shared.tenant_limits import TenantRateLimit, parse_rate

    e = settings()
    return TenantRateLimit(aws.dynamodb(), e.jobs_table, parse_rate(e.tenant_rate), e.tenant_burst)


@cache
def jobs() -> JobService:
    from shared.jobs.queue import jobs_queue
    from shared.jobs.service import JobService

    e = settings()
    return JobService(job_store(), jobs_queue(e), events(),
                      allow_private_targets=e.allow_private_targets)


@cache
def batch() -> BatchService:
    from shared.jobs.batch import BatchService

    return BatchService(jobs())


@cache
def workflows() -> WorkflowService:
    from shared.jobs.workflows import WorkflowService

    return WorkflowService(jobs().terminals, allow_private_targets=settings().allow_private_targets)


@cache
def schedule_store() -> ScheduleStore:
    from shared.schedules.store import ScheduleStore

    e = settings()
    return ScheduleStore(e.schedules_table, e.jobs_table)


@cache
def schedules() -> ScheduleService:
    from shared.schedules.service import ScheduleService

    return ScheduleService(schedule_store(), jobs())


@cache
def inverter_store() -> InverterStore:
    from shared.telemetry.inverter_store import InverterStore

    return InverterStore(settings().inverters_table)


@cache
def reading_store() -> ReadingStore:
    from shared.telemetry.reading_store import ReadingStore

    return ReadingStore(settings().readings_table)


@cache
def rollup_store() -> RollupStore:
    from shared.telemetry.rollup_store import RollupStore

    return RollupStore(settings().rollups_table)


@cache
def alert_store() -> AlertStore:
    from shared.alerts.store import AlertStore

    return AlertStore(settings().alerts_table)


@cache
def connection_store() -> ConnectionStore:
    from shared.telemetry.connection_store import ConnectionStore

    return ConnectionStore(settings().inverters_table)


@cache
def onboarding() -> Onboarding:
    from shared.envelope import sealer
    from shared.telemetry.credentials import Credentials
    from shared.telemetry.onboarding import Onboarding
    from shared.telemetry.settings import telemetry_env
    from shared.telemetry.vault import Vault

    tenv = telemetry_env()
    return Onboarding(connections=connection_store(), inverters=inverter_store(), vault=Vault(sealer(settings())),
                      tenv=tenv, stage_credentials=Credentials(os.environ, tenv.secret_arn))


@cache
def source_store() -> SourceStore:
    from shared.sources.store import SourceStore

    e = settings()
    return SourceStore(e.sources_table, e.jobs_table)


@cache
def source_service() -> SourceService:
    from shared.envelope import sealer
    from shared.sources.service import SourceService

    e = settings()
    return SourceService(source_store(), jobs(), sealer(e), allow_private_targets=e.allow_private_targets)


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    for factory in (redis_conn, tenants, job_store, events, jobs, schedule_store, schedules, inverter_store,
                    reading_store, rate_limit, rollup_store, alert_store, connection_store, onboarding,
                    source_store, source_service):
        factory.cache_clear()
