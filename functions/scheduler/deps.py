"""The scheduler function's composition root: its settings (read once) and collaborators, built once per
execution environment. Only the handler module imports it."""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared import redis_client
from shared.config import env
from shared.jobs.events import job_events
from shared.jobs.queue import jobs_queue
from shared.schedules.scheduler import Scheduler
from shared.schedules.store import ScheduleStore

if TYPE_CHECKING:
    import redis


class SchedulerEnv(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # The cadence it is invoked at: 60 in AWS (the rule), 1 in the local cloud.
    rate_s: float = Field(60, alias="STEADFAST_SCHEDULER_RATE_S", gt=0, le=3600)


@cache
def settings() -> SchedulerEnv:
    return SchedulerEnv.model_validate(dict(os.environ))


@cache
def redis_conn() -> redis.Redis | None:
    url = env().redis_url
    return redis_client.client(url) if url else None


@cache
def scheduler() -> Scheduler:
    e = env()
    return Scheduler(ScheduleStore(e.schedules_table, e.jobs_table), jobs_queue(e),
                     job_events(redis_conn(), e.redis_keys()))


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    for factory in (settings, redis_conn, scheduler):
        factory.cache_clear()
