"""Wiring: a Poller built from plain settings, run for one cycle or for a loop of cycles.

Cycles never overlap: each takes a lease in Redis (`SET NX PX`), so that an invocation still running
when the next schedule fires makes the newcomer skip instead of polling the same devices twice. Redis
unavailable: the cycle runs without the lease (a possible duplicate poll beats no poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from shared import redis_client
from shared.alerts.evaluator import AlertEvaluator
from shared.alerts.notify import JobNotifier
from shared.alerts.store import AlertStore
from shared.channels import UNPREFIXED, Keys
from shared.config import Env
from shared.errors import SteadfastError
from shared.jobs.events import job_events
from shared.jobs.queue import JobQueue
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.budget import BudgetLedger, LocalLedger, RedisLedger
from shared.telemetry.credentials import Credentials
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand
from shared.telemetry.poller import ConnectionAdapters, CycleReport, Poller
from shared.telemetry.publish import NoPublisher, ReadingPublisher, RedisPublisher
from shared.telemetry.ratelimit import LocalTokenBucket, RateLimiter, RedisTokenBucket
from shared.telemetry.reading_store import ReadingStore
from shared.telemetry.rollup_store import RollupStore
from shared.telemetry.settings import TelemetryEnv
from shared.telemetry.vendors import shared_adapters

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = Logger(child=True)
LEASE_TTL_S = 120
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True)
class PollSettings:
    inverters_table: str
    readings_table: str
    redis_url: str | None
    adapters: Mapping[Brand, Adapter]
    rate_s: float = 60.0
    loop_s: float = 0.0
    max_devices: int = 20_000
    # Names the limiter's, the lease's and the published readings' Redis keys (the stack's prefix).
    keys: Keys = UNPREFIXED
    rollups_table: str = "rollups"
    # Alerts: evaluated after each cycle, notifications submitted as jobs. No jobs queue, no alerts
    # (a benchmark of the poll alone).
    alerts_table: str = "alerts"
    jobs_table: str = "jobs"
    jobs_queue_url: str = ""
    jobs_dlq_url: str = ""
    allow_private_targets: bool = False
    # Adapters for tenants' own connections; None polls only inverters of the shared connections.
    connections: ConnectionAdapters | None = None

    @classmethod
    def from_env(cls, env: Env, tenv: TelemetryEnv, credentials: Credentials,
                 connections: ConnectionAdapters | None = None) -> PollSettings:
        return cls(inverters_table=env.inverters_table, readings_table=env.readings_table, redis_url=env.redis_url,
                   adapters=build_adapters(tenv, credentials), rate_s=tenv.poll_rate_s, loop_s=tenv.poll_loop_s,
                   max_devices=tenv.poll_max_devices, keys=env.redis_keys(), rollups_table=env.rollups_table,
                   alerts_table=env.alerts_table, jobs_table=env.jobs_table, jobs_queue_url=env.jobs_queue_url,
                   jobs_dlq_url=env.jobs_dlq_url, allow_private_targets=env.allow_private_targets,
                   connections=connections)


def build_adapters(tenv: TelemetryEnv, credentials: Credentials) -> dict[Brand, Adapter]:
    """The stage's shared connection per vendor whose credentials resolve (the sandbox always)."""
    return shared_adapters(tenv, credentials)


def alert_evaluator(settings: PollSettings) -> AlertEvaluator | None:
    if not settings.jobs_queue_url:
        return None
    # Job events go out on a blocking client: the evaluator runs in a worker thread.
    events = job_events(redis_client.client(settings.redis_url) if settings.redis_url else None, settings.keys)
    jobs = JobService(JobStore(settings.jobs_table), JobQueue(settings.jobs_queue_url, settings.jobs_dlq_url),
                      events, allow_private_targets=settings.allow_private_targets)
    return AlertEvaluator(AlertStore(settings.alerts_table), InverterStore(settings.inverters_table),
                          JobNotifier(jobs))


class CycleLease:
    def __init__(self, client: aioredis.Redis | None, key: str) -> None:
        self.redis, self.key, self.token = client, key, secrets.token_hex(8)

    async def acquire(self, wait_s: float = 0.0) -> bool:
        """Take the lease; with `wait_s`, wait that long for another cycle to release it (a cycle takes
        well under a second: an on-demand poll waits for the scheduled one instead of skipping)."""
        if self.redis is None:
            return True
        import redis

        give_up = time.monotonic() + wait_s
        try:
            while not await self.redis.set(self.key, self.token, nx=True, ex=LEASE_TTL_S):
                if time.monotonic() >= give_up:
                    return False
                await asyncio.sleep(0.1)
            return True
        except redis.RedisError as exc:
            logger.error("poll lease unavailable; polling without it", extra={"error": type(exc).__name__})
            return True

    async def release(self) -> None:
        if self.redis is not None:
            import redis

            with contextlib.suppress(redis.RedisError):  # the lease expires on its own
                await self.redis.eval(_RELEASE, 1, self.key, self.token)


@asynccontextmanager
async def open_poller(settings: PollSettings) -> AsyncIterator[tuple[Poller, CycleLease]]:
    import httpx

    client = redis_client.async_client(settings.redis_url) if settings.redis_url else None
    publisher: ReadingPublisher = RedisPublisher(client, settings.keys) if client else NoPublisher()
    limiter: RateLimiter = (RedisTokenBucket(client, prefix=settings.keys.vendor_buckets())
                            if client else LocalTokenBucket())
    ledger: BudgetLedger = RedisLedger(client, prefix=settings.keys.daily_budgets()) if client else LocalLedger()
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0),
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    try:
        poller = Poller(inverters=InverterStore(settings.inverters_table),
                        readings=ReadingStore(settings.readings_table), publisher=publisher, limiter=limiter,
                        adapters=settings.adapters, http=http, max_devices=settings.max_devices,
                        rollups=RollupStore(settings.rollups_table), observer=alert_evaluator(settings),
                        connections=settings.connections, ledger=ledger)
        yield poller, CycleLease(client, settings.keys.poller_lease())
    finally:
        await http.aclose()
        if client is not None:
            await client.aclose()


async def run_polls(settings: PollSettings, budget_s: float | None = None,
                    lease_wait_s: float = 0.0) -> list[CycleReport]:
    """One cycle, or with `loop_s` > 0 a cycle every `rate_s` for `loop_s` seconds, stopping early so
    that the last cycle ends within `budget_s` (the invocation's remaining time). A scheduled cycle that
    finds the lease held skips; with `lease_wait_s` (an on-demand poll) it waits that long for it first."""
    started = time.monotonic()
    deadline = started + budget_s if budget_s else float("inf")
    reports: list[CycleReport] = []
    async with open_poller(settings) as (poller, lease):
        while True:
            tick = time.monotonic()
            if await lease.acquire(lease_wait_s):
                try:
                    reports.append(await poller.cycle())
                except SteadfastError:
                    logger.exception("poll cycle failed; its devices stay due for the next one")
                finally:
                    await lease.release()
            else:
                logger.info("another poll cycle holds the lease; this one is skipped")
            slowest = max((r.duration_s for r in reports), default=0.0)
            next_tick = tick + settings.rate_s
            if next_tick - started >= settings.loop_s or next_tick + slowest > deadline:
                return reports
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
