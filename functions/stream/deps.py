"""The stream function's composition root: its collaborators, built once per process (per Lambda
execution environment) from its settings (read once), when the app starts. Only the app imports it."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared import redis_client, stage_secret
from shared.channels import UNPREFIXED, Keys
from shared.config import Env, env
from shared.jobs.models import Attempt, Status
from shared.jobs.reads import OrderedPages
from shared.jobs.record import JobRecord
from shared.streaming.directory import CachedDirectory, InverterDirectory
from shared.streaming.hub import Hub
from shared.streaming.replay import ReplayLog
from shared.streaming.slots import StreamSlots
from shared.telemetry.history import SeriesReader

if TYPE_CHECKING:
    from shared.jobs.links import Links
    from shared.schedules.service import ScheduleService
    from shared.sources.store import SourceStore


class TenantLookup(Protocol):
    def tenant_for(self, api_key: str) -> str: ...


class JobReader(Protocol):
    def get(self, tenant: str, job_id: str) -> JobRecord: ...

    def attempts(self, tenant: str, job_id: str) -> list[Attempt]: ...

    def page(self, tenant: str, status: Status | None, limit: int, cursor: str | None,
             group: tuple[str, str] | None = None) -> tuple[list[JobRecord], str | None]: ...


@dataclass
class Services:
    hub: Hub
    replay: ReplayLog
    tenants: TenantLookup
    jobs: JobReader
    inverters: InverterDirectory
    # The stream-token key, or (in AWS) what reads it from the stage secret, cached for minutes, so that
    # a rotated key is picked up without a cold start.
    token_secret: str | Callable[[], str]
    max_stream_s: float
    base_path: str = ""
    # Names this stack's channels and replay logs (shared.channels).
    keys: Keys = UNPREFIXED
    # Pre-filled into the dashboard in the local stage only; None in every deployed stage.
    dev_api_key: str | None = None
    # The per-tenant cap on open streams (None: no cap, as in tests that host the app in-process).
    slots: StreamSlots | None = None
    # Process-wide, so only for a process that is the stream app (not a test runner hosting it).
    tune_gc: bool = False
    # The dashboard's schedules panel (list, pause, resume); None: the panel stays empty.
    schedules: ScheduleService | None = None
    # The dashboard's history views (24 h / 7 d / 30 d); None: they stay empty.
    series: SeriesReader | None = None
    # The dashboard's sources panel (sources and their live event log); None: the panel stays empty.
    sources: SourceStore | None = None
    # An ordering key's jobs (the `ordering_key` filter of the job list); None: the filter is refused.
    ordered: OrderedPages | None = None
    # A job's parents and children and a workflow's graph (the job detail, the workflow view); None: 404.
    links: Links | None = None

    async def start(self) -> None:
        if self.tune_gc:
            # A fan-out to 1,000 clients allocates a few thousand short-lived objects (futures,
            # coroutines, ASGI messages), each of which CPython's default threshold (700) turns into
            # collections that also walk every open connection's objects: p99 41 → 29 ms in
            # bench/sse.py. Reference counting frees these objects anyway; cycles are rare here.
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.replay.close()
        if self.slots is not None:
            await self.slots.redis.aclose()


def _inverter_directory(e: Env) -> InverterDirectory:
    from shared.streaming.dynamo_directory import DynamoDirectory

    return CachedDirectory(DynamoDirectory(e.inverters_table))


def _token_key(e: Env) -> str | Callable[[], str]:
    if e.secret_arn:
        arn = e.secret_arn
        return lambda: stage_secret.secret_value(arn, stage_secret.STREAM_TOKEN_KEY)
    return stage_secret.stream_token_key(e)  # the local stack's key, or an error in a deployed stage


def from_env(e: Env) -> Services:
    from shared.jobs.links import Links
    from shared.jobs.ordering import Sequences
    from shared.jobs.store import JobStore
    from shared.schedules.service import ScheduleService
    from shared.schedules.store import ScheduleStore
    from shared.sources.store import SourceStore
    from shared.telemetry.inverter_store import InverterStore
    from shared.telemetry.rollup_store import RollupStore
    from shared.tenants import TenantStore

    if not e.redis_url:
        raise RuntimeError("the stream app needs REDIS_URL")
    jobs = JobStore(e.jobs_table)
    return Services(
        hub=Hub(e.redis_url, queue_size=e.stream_queue_size, heartbeat_s=e.stream_heartbeat_s),
        replay=ReplayLog(e.redis_url), tenants=TenantStore(e.tenants_table), jobs=jobs, ordered=Sequences(jobs),
        links=Links(jobs),
        inverters=_inverter_directory(e), token_secret=_token_key(e), max_stream_s=e.stream_max_s,
        base_path=e.stream_base_path.rstrip("/"), keys=e.redis_keys(), tune_gc=True,
        schedules=ScheduleService(ScheduleStore(e.schedules_table, e.jobs_table), jobs=None),
        series=SeriesReader(InverterStore(e.inverters_table), RollupStore(e.rollups_table)),
        dev_api_key=e.dev_api_key if e.stage == stage_secret.LOCAL_STAGE and not e.secret_arn else None,
        slots=StreamSlots(redis_client.async_client(e.redis_url),
                          e.tenant_max_streams, e.stream_max_s + 60, f"{e.redis_keys().prefix}streams:tenant:"),
        sources=SourceStore(e.sources_table, e.jobs_table))


def settings() -> Env:
    return env()


def services() -> Services:
    """What the app's lifespan starts (once per process)."""
    return from_env(settings())


def public_job(record: JobRecord) -> dict[str, Any]:
    return record.public().model_dump(mode="json")
