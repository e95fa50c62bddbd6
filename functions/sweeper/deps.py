"""The sweeper function's composition root: its collaborators, built once per execution environment
from its settings (read once). Only the handler module imports it."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from shared import redis_client
from shared.config import Env, env
from shared.jobs.events import job_events
from shared.jobs.queue import jobs_queue
from shared.jobs.settings import jobs_env
from shared.jobs.store import JobStore
from shared.jobs.sweeper import Sweeper

if TYPE_CHECKING:
    import redis


def settings() -> Env:
    return env()


@cache
def redis_conn() -> redis.Redis | None:
    url = settings().redis_url
    return redis_client.client(url) if url else None


@cache
def sweeper() -> Sweeper:
    e = settings()
    return Sweeper(JobStore(e.jobs_table), jobs_queue(e),
                   job_events(redis_conn(), e.redis_keys()), grace=timedelta(seconds=e.sweep_grace_s),
                   aging_s=jobs_env().priority_aging_s)


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    for factory in (redis_conn, sweeper):
        factory.cache_clear()
