"""The worker function's composition root: its collaborators, built once per execution environment
from its settings (read once). Only the handler module imports it."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from shared import redis_client
from shared.config import Env, env
from shared.faults import Faults
from shared.jobs.engine import Worker
from shared.jobs.events import job_events
from shared.jobs.heartbeat import Heartbeat
from shared.jobs.protection import Protection
from shared.jobs.queue import jobs_queue
from shared.jobs.settings import JobsEnv, jobs_env
from shared.jobs.store import JobStore
from shared.tenants import TenantStore

if TYPE_CHECKING:
    import redis


def settings() -> Env:
    return env()


def jobs_settings() -> JobsEnv:
    return jobs_env()


@cache
def redis_conn() -> redis.Redis | None:
    url = settings().redis_url
    return redis_client.client(url) if url else None


@cache
def protection() -> Protection:
    client, j = redis_conn(), jobs_settings()
    if client is None or not j.protection:
        return Protection()
    return Protection.on_redis(client, settings().redis_keys().prefix, j.breaker(), j.budget(),
                               aging_s=j.priority_aging_s)


@cache
def worker() -> Worker:
    e = settings()
    store, queue = JobStore(e.jobs_table), jobs_queue(e)
    return Worker(store, queue, TenantStore(e.tenants_table),
                  job_events(redis_conn(), e.redis_keys()), lease=timedelta(seconds=e.lease_s),
                  max_receive_count=e.jobs_max_receive_count, faults=Faults(e.fault_points),
                  protection=protection(), hooks=(Heartbeat(store, queue),))


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    for factory in (redis_conn, protection, worker):
        factory.cache_clear()
